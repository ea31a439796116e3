/**
 * What a run says about itself on its own page in the Temporal UI, as short markdown: the static
 * summary and details a run is started with (runbook → target; the runbook's summary and flow), and
 * the current details the engine keeps up to date (state, the step it is on; when waiting: why, what
 * approving will do, who may answer and the exact payload to paste; decisions, the last refusal, and
 * how the run ended). Also the `summary` Query's compact answer. Pure: the engine, the CLI and tests
 * call these.
 */
import { signedCliLine } from './statements';
import { humanBytes } from './bytes';
import type { RunSummary } from './messages';
import type { RunbookMeta } from './runbook';
import type { DecisionAction, DecisionRecord, GatePlan, RunStatus, WaitingFor } from './types';

/** The placeholder the payloads carry where the responder puts their own name. */
export const YOUR_NAME = '<your name>';

/** A run's one-line static summary: runbook → target. */
export function staticSummaryOf(meta: RunbookMeta, target: string): string {
  return `${meta.name} → ${target}: ${meta.title}`;
}

/** A run's static details: what the runbook does and its flow, as a list. */
export function staticDetailsOf(meta: RunbookMeta): string {
  const lines = [`**${meta.title}**`, '', meta.summary, '', '**Flow**', ''];
  for (const node of meta.flow) {
    const kind = node.id.startsWith('gate:') ? ' (approval)' : node.hold ? ' (a person does this)' : '';
    lines.push(`- \`${node.id}\`${kind}: ${node.label ?? node.id}`);
  }
  lines.push('', `Source: ${meta.source}`);
  return lines.join('\n');
}

/** `2026-11-30T15:01:02.345Z` → `2026-11-30 15:01:02 UTC`. */
function when(iso: string): string {
  return `${iso.slice(0, 10)} ${iso.slice(11, 19)} UTC`;
}

/** How the run ended, in a few words (completed runs: their result's outcome). */
export function outcomeOf(status: RunStatus): string | undefined {
  if (status.state === 'completed') {
    const outcome = (status.result as { outcome?: unknown } | undefined)?.outcome;
    return typeof outcome === 'string' ? outcome : 'completed';
  }
  if (status.state === 'stopped') {
    const stop = [...status.decisions].reverse().find((d) => d.action === 'stop' && !d.refused);
    return stop ? `stopped by ${stop.actor}: ${stop.comment ?? ''}`.trim() : 'stopped';
  }
  if (status.state === 'failed') return `failed: ${status.error ?? 'unknown error'}`;
  return undefined;
}

/** The `summary` Query: the waiting block, decisions and outcome first; no step results. */
export function runSummary(status: RunStatus): RunSummary {
  return {
    state: status.state,
    runbook: status.runbook,
    target: status.target,
    waiting: status.waiting,
    decisions: status.decisions,
    outcome: outcomeOf(status),
    currentStep: status.currentStep,
    steps: status.steps.map(({ name, state, attempts, error }) => ({ name, state, attempts, error })),
    startedAt: status.startedAt,
    endedAt: status.endedAt,
  };
}

/** The input a decision takes, with the responder's name left to fill in. */
export function payloadOf(action: DecisionAction): string {
  if (action === 'stop') return `{"actor": "${YOUR_NAME}", "reason": "<why>"}`;
  return `{"actor": "${YOUR_NAME}", "comment": "<optional>"}`;
}

/** The CLI line for a decision. */
export function cliLineOf(action: DecisionAction, workflowId: string): string {
  const extra = action === 'stop' ? ' --reason "<why>"' : '';
  return `npx lifeboat ${action} ${workflowId} --as "${YOUR_NAME}"${extra}`;
}

/** The plan of a gate, as markdown lines. */
export function planLines(plan: GatePlan): string[] {
  const lines = [`**Approving will:** ${plan.summary}`, ''];
  for (const effect of plan.effects) lines.push(`- ${effect}`);
  if (plan.newest?.length) {
    lines.push('- changed after the backup, newest first:');
    for (const f of plan.newest)
      lines.push(`  - \`${f.path}\` at ${when(f.modifiedAt)} (${humanBytes(f.bytes)})`);
  }
  return lines;
}

function describeDecision(d: DecisionRecord): string {
  const what = d.gate
    ? `${d.action} gate \`${d.gate}\``
    : d.step
      ? `${d.action} step \`${d.step}\``
      : d.action;
  return `${when(d.at)}: **${d.actor}** ${what}${d.comment ? ` — ${d.comment}` : ''}`;
}

function waitingLines(w: WaitingFor, workflowId: string, meta: RunbookMeta): string[] {
  const hold = meta.flow.some((node) => node.id === w.step && node.hold);
  const heading =
    w.kind === 'gate'
      ? `approve gate \`${w.gate}\`?`
      : hold
        ? `step \`${w.step}\` is work only a person can do`
        : `step \`${w.step}\` failed`;
  // The gate's reason ends with the plan's summary, which the plan's own lines show below.
  const reason = w.plan ? w.reason.replace(`. Approving: ${w.plan.summary}`, '') : w.reason;
  const lines = [
    `### A person is needed: ${heading}`,
    '',
    `${reason}${w.errorType ? ` (${w.errorType})` : ''}`,
    '',
  ];
  if (w.plan) lines.push(...planLines(w.plan), '');
  if (w.kind === 'gate') {
    const got = (w.approvals ?? []).map((a) => a.actor);
    const who = (w.approvers ?? []).includes('*') ? 'anyone' : (w.approvers ?? []).join(', ');
    lines.push(
      `Approvals: **${got.length} of ${w.quorum ?? 1}**${got.length ? ` (${got.join(', ')})` : ''}; may approve: ${who}${w.timeoutAt ? `; times out at ${when(w.timeoutAt)}` : ''}`,
      '',
    );
  }
  lines.push(
    `Waiting since ${when(w.since)}. Decisions allowed now: ${w.allowed.map((a) => `**${a}**`).join(', ')}.`,
  );
  const signedActions = w.signing?.actions ?? [];
  if (w.signing) {
    lines.push(
      '',
      `**This decision must be signed** (${signedActions.join(', ')}): the Temporal UI cannot sign, and an unsigned approval is refused. Run, with your key:`,
      '',
      ...signedActions.map((a) => `\`${signedCliLine(a, workflowId)}\``),
      '',
      `What you sign: SHA-256 \`${w.signing.subjectSha256}\` of the run id, ${w.gate ? 'gate' : 'step'}, reason${w.plan ? ' and plan' : ''} shown here.`,
    );
    if (w.requester) lines.push('', `Requested by **${w.requester}**, who may not approve this gate.`);
  }
  lines.push('', '**How to answer** (Update preferred: it says at once whether the run accepted)');
  for (const action of w.allowed.filter((a) => !signedActions.includes(a as never))) {
    lines.push(
      '',
      `\`${action}\` — Update or Signal named \`${action}\`, input (put your name in):`,
      '```json',
      payloadOf(action),
      '```',
      `CLI: \`${cliLineOf(action, workflowId)}\``,
    );
  }
  return lines;
}

function endLines(status: RunStatus): string[] {
  const lines = [
    `**Outcome:** ${outcomeOf(status) ?? ''}${status.endedAt ? ` at ${when(status.endedAt)}` : ''}`,
  ];
  const approvals = status.decisions.filter((d) => d.action === 'approve' && !d.refused);
  lines.push(
    approvals.length
      ? `Approved by: ${approvals.map((d) => `**${d.actor}** (gate \`${d.gate}\`, ${when(d.at)})`).join(', ')}`
      : 'No person approved anything in this run.',
  );
  if (status.state === 'stopped')
    lines.push(
      status.error
        ? `NOT everything was put back: ${status.error}`
        : 'What earlier steps changed was put back by their compensations.',
    );
  return lines;
}

/** The run's current details: what the Temporal UI shows on the run's page. */
export function currentDetails(status: RunStatus, workflowId: string, meta: RunbookMeta): string {
  const label = meta.flow.find((node) => node.id === status.currentStep)?.label;
  const state = status.state === 'waiting' ? 'WAITING FOR A PERSON' : status.state.toUpperCase();
  const lines = [`**${status.runbook}** → target **${status.target || '?'}** — **${state}**`, ''];
  // A refused decision first: whoever just sent it looks for why.
  const refused = [...status.decisions].reverse().find((d) => d.refused);
  if (refused)
    lines.push(
      `**Last refused decision** — ${refused.action} from **${refused.actor}** at ${when(refused.at)}: ${refused.refusal}`,
      '',
    );
  if (status.state === 'waiting' && status.waiting)
    lines.push(...waitingLines(status.waiting, workflowId, meta));
  else if (status.state === 'running' && status.currentStep)
    lines.push(`On step \`${status.currentStep}\`${label ? `: ${label}` : ''}`);
  else if (status.endedAt) lines.push(...endLines(status));
  const accepted = status.decisions.filter((d) => !d.refused);
  if (accepted.length) {
    lines.push('', '**Decisions**', '');
    for (const d of accepted.slice(-8)) lines.push(`- ${describeDecision(d)}`);
  }
  const done = status.steps.map((s) => `${s.name} ${STEP_MARK[s.state]}`);
  if (done.length) lines.push('', `Steps: ${done.join(' · ')}`);
  return lines.join('\n');
}

const STEP_MARK: Record<RunStatus['steps'][number]['state'], string> = {
  running: '(running)',
  succeeded: '✓',
  failed: '✗',
  skipped: '(skipped)',
  waiting: '(waiting)',
};
