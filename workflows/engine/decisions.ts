/**
 * The checks every responder decision goes through, as pure functions of the run's status.
 * Each returns `undefined` when the decision may be applied, or a reason that names the problem
 * and what would be accepted instead. Update validators and signal handlers both call these.
 */
import type { ApproveArgs, RetryArgs, StopArgs } from '../../common/messages';
import type { RunStatus } from '../../common/types';

const ENDED = new Set(['completed', 'stopped', 'failed']);

function checkActor(args: { actor?: unknown } | undefined): string | undefined {
  if (!args || typeof args !== 'object') return 'the decision needs an object like {"actor": "<your name>"}';
  if (typeof args.actor !== 'string' || args.actor.trim() === '') {
    return 'actor is required: say who decides (e.g. {"actor": "alice"})';
  }
  return undefined;
}

function notWaiting(status: RunStatus): string {
  return ENDED.has(status.state)
    ? `the run has ended (state: ${status.state}); no decision can change it`
    : `the run is not waiting for a decision (state: ${status.state}${status.currentStep ? `, step: ${status.currentStep}` : ''})`;
}

export function checkApprove(
  status: RunStatus,
  runbookGates: string[],
  args: ApproveArgs,
): string | undefined {
  const actorProblem = checkActor(args);
  if (actorProblem) return actorProblem;
  if (args.gate !== undefined && (typeof args.gate !== 'string' || !runbookGates.includes(args.gate))) {
    const known = runbookGates.length ? runbookGates.join(', ') : 'none';
    return `unknown gate '${String(args.gate)}'; ${status.runbook} has gates: ${known}`;
  }
  const waiting = status.waiting;
  if (status.state !== 'waiting' || !waiting) return notWaiting(status);
  if (waiting.kind !== 'gate') {
    return `the run waits after step '${waiting.step}' failed, not at a gate: send ${waiting.allowed.join(', ')}`;
  }
  if (args.gate !== undefined && args.gate !== waiting.gate) {
    return `gate '${args.gate}' is not open for approval; the run waits at gate '${waiting.gate}'`;
  }
  const approvers = waiting.approvers ?? [];
  const actor = args.actor.trim();
  if (!approvers.includes('*') && !approvers.includes(actor)) {
    return `'${actor}' may not approve gate '${waiting.gate}'; allowed approvers: ${approvers.join(', ')}`;
  }
  const approvals = waiting.approvals ?? [];
  if (approvals.some((a) => a.actor === actor)) {
    return `'${actor}' has already approved gate '${waiting.gate}' (${approvals.length} of ${waiting.quorum}); the quorum needs a different approver`;
  }
  return undefined;
}

export function checkRetry(status: RunStatus, args: RetryArgs): string | undefined {
  const actorProblem = checkActor(args);
  if (actorProblem) return actorProblem;
  const waiting = status.waiting;
  if (status.state !== 'waiting' || !waiting) return notWaiting(status);
  if (waiting.kind !== 'failure') {
    return `the run waits at gate '${waiting.gate}', not after a failure: send approve or stop`;
  }
  return undefined;
}

export function checkSkip(status: RunStatus, args: RetryArgs): string | undefined {
  const problem = checkRetry(status, args);
  if (problem) return problem;
  const waiting = status.waiting!;
  if (!waiting.allowed.includes('skip')) {
    return `step '${waiting.step}' cannot be skipped; send ${waiting.allowed.join(' or ')}`;
  }
  return undefined;
}

export function checkStop(status: RunStatus, stopping: boolean, args: StopArgs): string | undefined {
  const actorProblem = checkActor(args);
  if (actorProblem) return actorProblem;
  if (typeof args.reason !== 'string' || args.reason.trim() === '') {
    return 'reason is required: say why the run is stopped (e.g. {"actor": "alice", "reason": "restoring by hand"})';
  }
  if (ENDED.has(status.state)) return notWaiting(status);
  if (stopping) return 'the run is already stopping';
  return undefined;
}
