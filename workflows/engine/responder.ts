/**
 * What responders send a run: approve, retry, skip and stop, as Updates (the caller learns at once
 * whether the run accepted) and as Signals (the Temporal UI's form; a refused signal is recorded as
 * refused). The checks themselves are pure (decisions.ts); this applies what they accept to the
 * run's status and audit, and keeps the decision a waiting step or a stop is waiting for.
 */
import * as wf from '@temporalio/workflow';
import { ApplicationFailure, CancelledFailure } from '@temporalio/workflow';
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
import type { SignedDecision } from '../../common/statements';
import { YOUR_NAME, runSummary } from '../../common/runDetails';
import type { DecisionAction, RunStatus } from '../../common/types';
import { checkApprove, checkRetry, checkSkip, checkStop } from './decisions';
import { nowIso } from './failure';
import type { Journal } from './journal';
import type { SignatureRules, SignedRecord } from './signatures';

type Signed = { actor: string; signed?: SignedDecision };

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

type Via = 'update' | 'signal';

/** An Update's handler: a refused signed decision throws there, so it never returns undefined. */
function viaUpdate(
  r: DecisionReceipt | Promise<DecisionReceipt | undefined>,
): DecisionReceipt | Promise<DecisionReceipt> {
  return r as DecisionReceipt | Promise<DecisionReceipt>;
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
    private readonly signatures: SignatureRules,
  ) {}

  install(): void {
    wf.setHandler(statusQuery, () => this.status, { description: D.status });
    wf.setHandler(summaryQuery, () => runSummary(this.status), { description: D.summary });
    const sig = this.signatures;
    const approveCheck = (a: ApproveArgs) =>
      checkApprove(this.status, this.gateNames, a) ?? sig.precheck('approve', a);
    const retryCheck = (a: RetryArgs) => checkRetry(this.status, a) ?? sig.precheck('retry', a);
    const skipCheck = (a: RetryArgs) => checkSkip(this.status, a) ?? sig.precheck('skip', a);
    const stopCheck = (a: StopArgs) =>
      checkStop(this.status, this.stopRequest !== undefined, a) ?? sig.precheck('stop', a);
    const approve = (a: ApproveArgs, via: Via) =>
      this.decide(
        'approve',
        a,
        via,
        () => approveCheck(a),
        (s) => this.applyApprove(a, s),
      );
    const retry = (a: RetryArgs, via: Via) =>
      this.decide(
        'retry',
        a,
        via,
        () => retryCheck(a),
        (s) => this.applyDecision('retry', a, s),
      );
    const skip = (a: RetryArgs, via: Via) =>
      this.decide(
        'skip',
        a,
        via,
        () => skipCheck(a),
        (s) => this.applyDecision('skip', a, s),
      );
    const stop = (a: StopArgs, via: Via) =>
      this.decide(
        'stop',
        a,
        via,
        () => stopCheck(a),
        (s) => this.applyStop(a, s),
      );

    wf.setHandler(approveUpdate, (a) => viaUpdate(approve(a, 'update')), {
      validator: (a) => refuse(placeholder(a) ?? approveCheck(a)),
      description: D.approve,
    });
    wf.setHandler(retryUpdate, (a) => viaUpdate(retry(a, 'update')), {
      validator: (a) => refuse(placeholder(a) ?? retryCheck(a)),
      description: D.retry,
    });
    wf.setHandler(skipUpdate, (a) => viaUpdate(skip(a, 'update')), {
      validator: (a) => refuse(placeholder(a) ?? skipCheck(a)),
      description: D.skip,
    });
    wf.setHandler(stopUpdate, (a) => viaUpdate(stop(a, 'update')), {
      validator: (a) => refuse(placeholder(a) ?? stopCheck(a)),
      description: D.stop,
    });

    wf.setHandler(
      approveSignal,
      (a) => this.viaSignal('approve', a, approveCheck(a), () => approve(a, 'signal')),
      {
        description: D.approve,
      },
    );
    wf.setHandler(retrySignal, (a) => this.viaSignal('retry', a, retryCheck(a), () => retry(a, 'signal')), {
      description: D.retry,
    });
    wf.setHandler(skipSignal, (a) => this.viaSignal('skip', a, skipCheck(a), () => skip(a, 'signal')), {
      description: D.skip,
    });
    wf.setHandler(stopSignal, (a) => this.viaSignal('stop', a, stopCheck(a), () => stop(a, 'signal')), {
      description: D.stop,
    });
  }

  /**
   * Applies a decision that passed the checks: at once when it needs no signature (synchronously,
   * as runs recorded before signatures existed did), else once the signature is verified and the
   * checks still pass on the run's state as it is then.
   */
  private decide<T extends Signed>(
    action: DecisionAction,
    args: T,
    via: Via,
    check: () => string | undefined,
    apply: (signed?: SignedRecord) => DecisionReceipt,
  ): DecisionReceipt | Promise<DecisionReceipt | undefined> {
    if (!this.signatures.required(action)) return apply();
    return this.verifyThenApply(action, args, via, check, apply);
  }

  private async verifyThenApply<T extends Signed>(
    action: DecisionAction,
    args: T,
    via: Via,
    check: () => string | undefined,
    apply: (signed?: SignedRecord) => DecisionReceipt,
  ): Promise<DecisionReceipt | undefined> {
    const actor = args.actor.trim();
    const signed = args.signed!;
    let problem: string | undefined;
    let key = '';
    try {
      const verdict = await this.signatures.verify(action, actor, signed);
      if (verdict.ok) {
        key = verdict.key;
        problem = check() ?? this.keyProblem(action, key);
      } else problem = verdict.refusal;
    } catch (err) {
      problem = `the signature could not be verified now (${err instanceof Error ? err.message : String(err)}); send it again`;
    }
    if (problem === undefined)
      return apply({ statement: signed.statement, signature: signed.signature, key, verdict: 'valid' });
    this.recordRefusal(action, actor, problem, signed);
    if (via === 'update') throw ApplicationFailure.nonRetryable(problem, 'DecisionRefused');
    return undefined;
  }

  /** One key counts once toward a quorum, whatever name it is sent under. */
  private keyProblem(action: DecisionAction, key: string): string | undefined {
    if (action !== 'approve') return undefined;
    const waiting = this.status.waiting;
    const earlier = waiting?.approvals?.find((a) => a.key === key);
    return earlier
      ? `key ${key} already approved gate '${waiting?.gate}' as '${earlier.actor}': one key counts once toward the quorum`
      : undefined;
  }

  private recordRefusal(
    action: DecisionAction,
    actor: string,
    refusal: string,
    signed?: SignedDecision,
  ): void {
    this.status.decisions.push({ action, actor, at: nowIso(), refused: true, refusal });
    this.journal.record(
      'decision.refused',
      {
        action,
        refusal,
        ...(signed ? { signed: { statement: signed.statement, signature: signed.signature } } : {}),
      },
      actor,
    );
  }

  /** Ends the run as stopped: recorded with who and why, and the body cancelled. */
  requestStop(actor: string, reason: string, signed?: SignedRecord): void {
    this.stopRequest = { actor, reason };
    this.status.decisions.push({
      action: 'stop',
      actor,
      at: nowIso(),
      comment: reason,
      step: this.status.currentStep,
      ...(signed ? { key: signed.key } : {}),
    });
    this.journal.record('decision.stop', { reason, ...(signed ? { signed } : {}) }, actor);
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
  ): void | Promise<void> {
    // Why patched: a signal of a run started before this check existed was applied with the
    // placeholder as its actor; its replay must apply it again.
    const pasted = placeholder(args);
    const problem = pasted !== undefined && wf.patched('refuse-placeholder-actor') ? pasted : checked;
    // A signed decision is verified first: the handler returns its promise, so the run awaits it.
    if (problem === undefined) {
      const applied = apply();
      return applied instanceof Promise ? applied.then(() => undefined) : undefined;
    }
    const rawActor = (args as { actor?: unknown } | null)?.actor;
    const actor = typeof rawActor === 'string' && rawActor.trim() ? rawActor.trim() : 'unknown';
    this.recordRefusal(action, actor, problem);
  }

  private applyApprove(args: ApproveArgs, signed?: SignedRecord): DecisionReceipt {
    const waiting = this.status.waiting!;
    const actor = args.actor.trim();
    const at = nowIso();
    const key = signed ? { key: signed.key } : {};
    waiting.approvals!.push({ actor, at, comment: args.comment, ...key });
    this.status.decisions.push({
      action: 'approve',
      actor,
      at,
      comment: args.comment,
      gate: waiting.gate,
      step: waiting.step,
      ...key,
    });
    const count = waiting.approvals!.length;
    const quorum = waiting.quorum ?? 1;
    this.journal.record(
      'decision.approve',
      { gate: waiting.gate, comment: args.comment, approvals: count, quorum, ...(signed ? { signed } : {}) },
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

  private applyDecision(action: 'retry' | 'skip', args: RetryArgs, signed?: SignedRecord): DecisionReceipt {
    const waiting = this.status.waiting!;
    const actor = args.actor.trim();
    const key = signed ? { key: signed.key } : {};
    this.status.decisions.push({
      action,
      actor,
      at: nowIso(),
      comment: args.comment,
      step: waiting.step,
      ...key,
    });
    this.journal.record(
      `decision.${action}`,
      { comment: args.comment, reason: waiting.reason, ...(signed ? { signed } : {}) },
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

  private applyStop(args: StopArgs, signed?: SignedRecord): DecisionReceipt {
    this.requestStop(args.actor.trim(), args.reason.trim(), signed);
    return {
      accepted: true,
      action: 'stop',
      message: 'stopping: compensations run, then the run ends as stopped',
    };
  }
}
