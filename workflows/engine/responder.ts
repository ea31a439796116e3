/**
 * What responders send a run: approve, retry, skip and stop, as Updates (the caller learns at once
 * whether the run accepted) and as Signals (the Temporal UI's form; a refused signal is recorded as
 * refused). The checks themselves are pure (decisions.ts); this applies what they accept to the
 * run's status and audit, and keeps the decision a waiting step or a stop is waiting for.
 */
import * as wf from '@temporalio/workflow';
import { CancelledFailure } from '@temporalio/workflow';
import type { RunState } from '../../common/constants';
import {
  approveSignal,
  approveUpdate,
  retrySignal,
  retryUpdate,
  skipSignal,
  skipUpdate,
  HANDLER_DESCRIPTIONS as D,
  statusQuery,
  stopSignal,
  summaryQuery,
  stopUpdate,
  type ApproveArgs,
  type DecisionReceipt,
  type RetryArgs,
  type StopArgs,
} from '../../common/messages';
import { YOUR_NAME, runSummary } from '../../common/runDetails';
import type { DecisionAction, RunStatus } from '../../common/types';
import { checkApprove, checkRetry, checkSkip, checkStop } from './decisions';
import { nowIso } from './failure';
import type { Journal } from './journal';

/** A payload pasted from the run's page with its name placeholder still in it. */
function placeholder(args: unknown): string | undefined {
  const actor = (args as { actor?: unknown } | null)?.actor;
  if (typeof actor === 'string' && /^\s*<.*>\s*$/.test(actor))
    return `actor is still the placeholder ${YOUR_NAME}: put your own name there (e.g. {"actor": "alice"})`;
  return undefined;
}

/** Refuses an Update: the caller (the CLI, the UI's form) shows the message, with no stack of ours. */
function refuse(problem: string | undefined): void {
  if (problem === undefined) return;
  const refusal = new Error(problem);
  refusal.stack = `Error: ${problem}`;
  throw refusal;
}

export class Responder {
  /** The decision a waiting step was given, until the step takes it. */
  pending?: 'retry' | 'skip';
  /** Set once a stop was accepted (or a gate timed out, or Temporal cancelled the run). */
  stopRequest?: { actor: string; reason: string };

  constructor(
    private readonly status: RunStatus,
    private readonly gateNames: string[],
    private readonly journal: Journal,
    private readonly setState: (state: RunState) => void,
    /** Cancels the runbook's body, so that the stop takes effect at once. */
    private readonly onStop: () => void,
  ) {}

  install(): void {
    wf.setHandler(statusQuery, () => this.status, { description: D.status });
    wf.setHandler(summaryQuery, () => runSummary(this.status), { description: D.summary });
    const approveCheck = (a: ApproveArgs) => checkApprove(this.status, this.gateNames, a);
    const retryCheck = (a: RetryArgs) => checkRetry(this.status, a);
    const skipCheck = (a: RetryArgs) => checkSkip(this.status, a);
    const stopCheck = (a: StopArgs) => checkStop(this.status, this.stopRequest !== undefined, a);

    wf.setHandler(approveUpdate, (a) => this.applyApprove(a), {
      validator: (a) => refuse(placeholder(a) ?? approveCheck(a)),
      description: D.approve,
    });
    wf.setHandler(retryUpdate, (a) => this.applyDecision('retry', a), {
      validator: (a) => refuse(placeholder(a) ?? retryCheck(a)),
      description: D.retry,
    });
    wf.setHandler(skipUpdate, (a) => this.applyDecision('skip', a), {
      validator: (a) => refuse(placeholder(a) ?? skipCheck(a)),
      description: D.skip,
    });
    wf.setHandler(stopUpdate, (a) => this.applyStop(a), {
      validator: (a) => refuse(placeholder(a) ?? stopCheck(a)),
      description: D.stop,
    });

    wf.setHandler(
      approveSignal,
      (a) => this.viaSignal('approve', a, approveCheck(a), () => this.applyApprove(a)),
      {
        description: D.approve,
      },
    );
    wf.setHandler(
      retrySignal,
      (a) => this.viaSignal('retry', a, retryCheck(a), () => this.applyDecision('retry', a)),
      {
        description: D.retry,
      },
    );
    wf.setHandler(
      skipSignal,
      (a) => this.viaSignal('skip', a, skipCheck(a), () => this.applyDecision('skip', a)),
      {
        description: D.skip,
      },
    );
    wf.setHandler(stopSignal, (a) => this.viaSignal('stop', a, stopCheck(a), () => this.applyStop(a)), {
      description: D.stop,
    });
  }

  /** Ends the run as stopped: recorded with who and why, and the body cancelled. */
  requestStop(actor: string, reason: string): void {
    this.stopRequest = { actor, reason };
    this.status.decisions.push({
      action: 'stop',
      actor,
      at: nowIso(),
      comment: reason,
      step: this.status.currentStep,
    });
    this.journal.record('decision.stop', { reason }, actor);
    this.onStop();
  }

  throwIfStopping(): void {
    if (this.stopRequest) throw new CancelledFailure(`stopped by ${this.stopRequest.actor}`);
  }

  private viaSignal(
    action: DecisionAction,
    args: unknown,
    checked: string | undefined,
    apply: () => unknown,
  ): void {
    // Why patched: a signal of a run started before this check existed was applied with the
    // placeholder as its actor; its replay must apply it again.
    const pasted = placeholder(args);
    const problem = pasted !== undefined && wf.patched('refuse-placeholder-actor') ? pasted : checked;
    if (problem === undefined) {
      apply();
      return;
    }
    const rawActor = (args as { actor?: unknown } | null)?.actor;
    const actor = typeof rawActor === 'string' && rawActor.trim() ? rawActor.trim() : 'unknown';
    this.status.decisions.push({ action, actor, at: nowIso(), refused: true, refusal: problem });
    this.journal.record('decision.refused', { action, refusal: problem }, actor);
  }

  private applyApprove(args: ApproveArgs): DecisionReceipt {
    const waiting = this.status.waiting!;
    const actor = args.actor.trim();
    const at = nowIso();
    waiting.approvals!.push({ actor, at, comment: args.comment });
    this.status.decisions.push({
      action: 'approve',
      actor,
      at,
      comment: args.comment,
      gate: waiting.gate,
      step: waiting.step,
    });
    const count = waiting.approvals!.length;
    const quorum = waiting.quorum ?? 1;
    this.journal.record(
      'decision.approve',
      { gate: waiting.gate, comment: args.comment, approvals: count, quorum },
      actor,
    );
    if (count >= quorum) {
      // The gate opens now, so that a further vote is refused as "not waiting".
      this.status.waiting = undefined;
      this.setState('running');
      return {
        accepted: true,
        action: 'approve',
        message: `gate '${waiting.gate}' opened (${count} of ${quorum})`,
      };
    }
    return {
      accepted: true,
      action: 'approve',
      message: `approval recorded (${count} of ${quorum}); gate '${waiting.gate}' needs ${quorum - count} more`,
    };
  }

  private applyDecision(action: 'retry' | 'skip', args: RetryArgs): DecisionReceipt {
    const waiting = this.status.waiting!;
    const actor = args.actor.trim();
    this.status.decisions.push({ action, actor, at: nowIso(), comment: args.comment, step: waiting.step });
    this.journal.record(
      `decision.${action}`,
      { comment: args.comment, reason: waiting.reason },
      actor,
      waiting.step,
    );
    this.pending = action;
    this.status.waiting = undefined;
    this.setState('running');
    return {
      accepted: true,
      action,
      message: `${action === 'retry' ? 'retrying' : 'skipping'} step '${waiting.step}'`,
    };
  }

  private applyStop(args: StopArgs): DecisionReceipt {
    this.requestStop(args.actor.trim(), args.reason.trim());
    return {
      accepted: true,
      action: 'stop',
      message: 'stopping: compensations run, then the run ends as stopped',
    };
  }
}
