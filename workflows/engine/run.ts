/**
 * The runbook kit: every runbook is `runRunbook(meta, input, body)` where `body` calls
 * `run.step(...)` for each activity and `run.gate(...)` before each destructive step.
 *
 * - `step()` runs one activity with its own retry policy and timeouts. An InvalidInput failure ends
 *   the run at once; any other failure that retries could not fix (a STOP class, or retries
 *   exhausted) puts the run into `waiting` until a responder sends `retry`, `skip` (where the step
 *   allows it) or `stop`.
 * - `gate()` waits for approvals by distinct allowed approvers, up to the quorum, with an optional
 *   timeout whose outcome the policy names.
 * - `stop` may arrive at any moment: the running step is cancelled (and awaited), compensations
 *   registered by earlier steps run in reverse order, and the run ends as `stopped`.
 * - The `status` Query, the search attributes and the audit ledger follow every transition.
 *
 * @example
 * export async function myRunbook(input: MyInput) {
 *   return runRunbook(meta, input, async (run) => {
 *     const verdict = await run.step('verifyPrimary', 'verifyPrimary', [run.target.name]);
 *     await run.gate('restore', `restore ${verdict.backup}`);
 *   });
 * }
 */
import * as wf from '@temporalio/workflow';
import {
  ActivityCancellationType,
  ActivityFailure,
  ApplicationFailure,
  CancellationScope,
  CancelledFailure,
  TimeoutFailure,
  isCancellation,
  type RetryPolicy,
} from '@temporalio/workflow';
import type { Duration } from '@temporalio/common';
import type { Activities } from '../../activities';
import {
  SA_AWAITING_HUMAN,
  SA_RUNBOOK_NAME,
  SA_RUNBOOK_STATE,
  SA_RUNBOOK_TARGET,
} from '../../common/constants';
import type { RunState } from '../../common/constants';
import { INVALID_INPUT, NON_RETRYABLE_TYPES } from '../../common/errors';
import {
  approveSignal,
  approveUpdate,
  retrySignal,
  retryUpdate,
  skipSignal,
  skipUpdate,
  statusQuery,
  stopSignal,
  stopUpdate,
  type ApproveArgs,
  type DecisionReceipt,
  type RetryArgs,
  type StopArgs,
} from '../../common/messages';
import { DEFAULT_GATE_POLICY, type FlowNode, type RunbookMeta } from '../../common/runbook';
import { TARGET_FIELD, validateInput } from '../../common/schema';
import type {
  Approval,
  AuditEventInput,
  DecisionAction,
  GatePolicy,
  NotifyMessage,
  RunOutcome,
  RunStatus,
  StepRecord,
  TargetView,
  WaitingFor,
} from '../../common/types';
import { checkApprove, checkRetry, checkSkip, checkStop } from './decisions';

export type ActivityName = keyof Activities;
type ActivityResult<K extends ActivityName> = Awaited<ReturnType<Activities[K]>>;

export interface StepOptions<T = unknown> {
  startToCloseTimeout?: Duration;
  /** Set for long activities that heartbeat progress, so a dead worker is noticed quickly. */
  heartbeatTimeout?: Duration;
  retry?: RetryPolicy;
  /** A responder may skip this step after it failed; the step then returns `skipValue`. */
  skippable?: boolean;
  skipValue?: T;
  /**
   * Registered before the activity starts, run in reverse order when the run is stopped.
   * Must be idempotent and harmless when the step did nothing.
   */
  compensation?: Compensation;
}

export interface Compensation {
  name: string;
  activity: ActivityName;
  args: unknown[];
}

const SYSTEM_ACTOR = 'lifeboat';
/** A runbook that contradicts its own metadata: a bug in the runbook, never retried. */
const RUNBOOK_BUG = 'RunbookBug';

function nowIso(): string {
  // Workflow time: deterministic across replays.
  return new Date().toISOString();
}

function describeFailure(err: unknown): { type: string; message: string } {
  let cause: unknown = err;
  if (err instanceof ActivityFailure && err.cause) cause = err.cause;
  if (cause instanceof ApplicationFailure) return { type: cause.type ?? 'Error', message: cause.message };
  if (cause instanceof TimeoutFailure) {
    return { type: 'Timeout', message: `the activity timed out (${cause.timeoutType ?? 'timeout'})` };
  }
  if (cause instanceof Error) return { type: cause.name, message: cause.message };
  return { type: 'Error', message: String(cause) };
}

export class RunbookRun<I extends { target: string } = { target: string }> {
  readonly status: RunStatus;
  /** The target as the worker's config describes it (resolved by the first step). */
  target!: TargetView;
  private readonly info = wf.workflowInfo();
  private readonly gateNames: string[];
  private readonly flowNodes: Map<string, FlowNode>;
  private pendingDecision?: 'retry' | 'skip';
  private stopRequest?: { actor: string; reason: string };
  private bodyScope?: CancellationScope;
  private readonly compensations: Compensation[] = [];
  private readonly auditQueue: AuditEventInput[] = [];
  private auditSeq = 0;
  private auditClosed = false;
  private readonly notifyQueue: NotifyMessage[] = [];
  private notifyClosed = false;

  constructor(
    readonly meta: RunbookMeta,
    rawInput: unknown,
  ) {
    const target = (rawInput as { target?: unknown } | null)?.target;
    this.gateNames = Object.keys(meta.gates);
    this.flowNodes = new Map(meta.flow.map((node) => [node.id, node]));
    this.status = {
      runbook: meta.name,
      target: typeof target === 'string' ? target : '',
      state: 'running',
      startedAt: nowIso(),
      steps: [],
      decisions: [],
      inputAccepted: false,
      facts: {},
    };
  }

  /** Records a runbook-specific fact in the status (and so in the Query and the result). */
  fact(key: string, value: unknown): void {
    this.status.facts[key] = value;
  }

  /** Says the worker has checked the input: `lifeboat start` stops waiting for a refusal. */
  acceptInput(): void {
    this.status.inputAccepted = true;
  }

  /** Forgets a registered compensation once the runbook has done its work itself (e.g. resumed). */
  dropCompensation(name: string): void {
    const i = this.compensations.findIndex((c) => c.name === name);
    if (i >= 0) this.compensations.splice(i, 1);
  }

  /** Appends an audit event; written to the ledger in order by the audit loop. */
  record(event: string, details: Record<string, unknown> = {}, actor = SYSTEM_ACTOR, step?: string): void {
    this.auditQueue.push({
      eventKey: `${this.info.workflowId}/${this.info.runId}/${++this.auditSeq}`,
      at: nowIso(),
      workflowId: this.info.workflowId,
      runId: this.info.runId,
      runbook: this.meta.name,
      target: this.status.target,
      step: step ?? this.status.currentStep,
      event,
      actor,
      details,
    });
  }

  /**
   * Tells the configured webhooks about the run (sent in the background by the `notify` activity;
   * a webhook that is down is retried, then recorded in the audit, and never fails the run).
   * The engine calls it when the run starts waiting and when it ends; runbooks call it with
   * `alert` for findings a human must hear about.
   */
  notify(
    event: NotifyMessage['event'],
    reason?: string,
    extra: { gate?: string; step?: string; details?: Record<string, unknown> } = {},
  ): void {
    if (this.target && !this.target.notify) return;
    this.notifyQueue.push({
      event,
      at: nowIso(),
      runbook: this.meta.name,
      target: this.status.target,
      state: this.status.state,
      reason,
      gate: extra.gate,
      step: extra.step ?? this.status.currentStep,
      workflowId: this.info.workflowId,
      runId: this.info.runId,
      namespace: this.info.namespace,
      details: extra.details,
    });
  }

  /** Sends queued notifications in order; runs until the run has ended and the queue is empty. */
  async notifyLoop(): Promise<void> {
    const sender = wf.proxyActivities<Activities>({
      startToCloseTimeout: '1 minute',
      // Why: a webhook that is down gets three tries a few seconds apart, then the run moves on.
      retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumAttempts: 3 },
    });
    for (;;) {
      await wf.condition(() => this.notifyQueue.length > 0 || this.notifyClosed);
      const message = this.notifyQueue.shift();
      if (!message) return;
      try {
        const receipt = await sender.notify(message);
        if (receipt.webhooks > 0) {
          this.record(
            'notify.sent',
            { event: message.event, delivered: receipt.delivered },
            SYSTEM_ACTOR,
            message.step,
          );
        }
      } catch (err) {
        this.record(
          'notify.failed',
          { event: message.event, error: describeFailure(err).message },
          SYSTEM_ACTOR,
          message.step,
        );
      }
    }
  }

  closeNotify(): void {
    this.notifyClosed = true;
  }

  private setState(state: RunState): void {
    this.status.state = state;
    wf.upsertSearchAttributes([
      { key: SA_RUNBOOK_STATE, value: state },
      { key: SA_AWAITING_HUMAN, value: state === 'waiting' },
    ]);
  }

  installHandlers(): void {
    wf.setHandler(statusQuery, () => this.status);
    const approveCheck = (a: ApproveArgs) => checkApprove(this.status, this.gateNames, a);
    const retryCheck = (a: RetryArgs) => checkRetry(this.status, a);
    const skipCheck = (a: RetryArgs) => checkSkip(this.status, a);
    const stopCheck = (a: StopArgs) => checkStop(this.status, this.stopRequest !== undefined, a);

    wf.setHandler(approveUpdate, (a) => this.applyApprove(a), { validator: (a) => refuse(approveCheck(a)) });
    wf.setHandler(retryUpdate, (a) => this.applyDecision('retry', a), {
      validator: (a) => refuse(retryCheck(a)),
    });
    wf.setHandler(skipUpdate, (a) => this.applyDecision('skip', a), {
      validator: (a) => refuse(skipCheck(a)),
    });
    wf.setHandler(stopUpdate, (a) => this.applyStop(a), { validator: (a) => refuse(stopCheck(a)) });

    wf.setHandler(approveSignal, (a) =>
      this.viaSignal('approve', a, approveCheck(a), () => this.applyApprove(a)),
    );
    wf.setHandler(retrySignal, (a) =>
      this.viaSignal('retry', a, retryCheck(a), () => this.applyDecision('retry', a)),
    );
    wf.setHandler(skipSignal, (a) =>
      this.viaSignal('skip', a, skipCheck(a), () => this.applyDecision('skip', a)),
    );
    wf.setHandler(stopSignal, (a) => this.viaSignal('stop', a, stopCheck(a), () => this.applyStop(a)));
  }

  private viaSignal(
    action: DecisionAction,
    args: unknown,
    problem: string | undefined,
    apply: () => unknown,
  ): void {
    if (problem === undefined) {
      apply();
      return;
    }
    const rawActor = (args as { actor?: unknown } | null)?.actor;
    const actor = typeof rawActor === 'string' && rawActor.trim() ? rawActor.trim() : 'unknown';
    this.status.decisions.push({ action, actor, at: nowIso(), refused: true, refusal: problem });
    this.record('decision.refused', { action, refusal: problem }, actor);
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
    this.record(
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
    this.record(`decision.${action}`, { comment: args.comment, reason: waiting.reason }, actor, waiting.step);
    this.pendingDecision = action;
    this.status.waiting = undefined;
    this.setState('running');
    return {
      accepted: true,
      action,
      message: `${action === 'retry' ? 'retrying' : 'skipping'} step '${waiting.step}'`,
    };
  }

  private applyStop(args: StopArgs): DecisionReceipt {
    const actor = args.actor.trim();
    this.requestStop(actor, args.reason.trim());
    return {
      accepted: true,
      action: 'stop',
      message: 'stopping: compensations run, then the run ends as stopped',
    };
  }

  private requestStop(actor: string, reason: string): void {
    this.stopRequest = { actor, reason };
    this.status.decisions.push({
      action: 'stop',
      actor,
      at: nowIso(),
      comment: reason,
      step: this.status.currentStep,
    });
    this.record('decision.stop', { reason }, actor);
    this.bodyScope?.cancel();
  }

  private throwIfStopping(): void {
    if (this.stopRequest) throw new CancelledFailure(`stopped by ${this.stopRequest.actor}`);
  }

  /** Writes queued audit events in order; runs until the run has ended and the queue is empty. */
  async auditLoop(): Promise<void> {
    const ledger = wf.proxyActivities<Activities>({
      startToCloseTimeout: '30 seconds',
      // Why: the ledger must receive every event; a locked or full disk is waited out, not skipped.
      retry: { initialInterval: '1 second', maximumInterval: '30 seconds' },
    });
    for (;;) {
      await wf.condition(() => this.auditQueue.length > 0 || this.auditClosed);
      if (this.auditQueue.length === 0) return;
      await ledger.appendAudit(this.auditQueue.splice(0));
    }
  }

  closeAudit(): void {
    this.auditClosed = true;
  }

  /**
   * The generated docs draw `meta.flow`, so a step, gate, hold or end that it does not list (or lists
   * as another kind) fails the run at once: the docs cannot drift from what runs.
   */
  private checkFlow(id: string, kind: 'step' | 'gate' | 'hold' | 'end'): void {
    const node = this.flowNodes.get(id);
    const listedAs = node?.hold ? 'hold' : 'step';
    if (node && (kind === 'gate' || kind === 'end' || listedAs === kind)) return;
    const problem = node
      ? `lists '${id}' as a ${listedAs}, but the run uses it as a ${kind}`
      : `does not list ${kind} '${id}'`;
    throw ApplicationFailure.nonRetryable(
      `runbook ${this.meta.name}: its meta.flow ${problem}; fix the flow, then run npm run docs`,
      RUNBOOK_BUG,
    );
  }

  /**
   * Runs one activity as a named step. See the module comment for what failures do.
   * @param name the step's name in the status, audit and CLI
   * @param activity the activity to call
   */
  async step<K extends ActivityName>(
    name: string,
    activity: K,
    args: Parameters<Activities[K]>,
    opts: StepOptions<ActivityResult<K>> = {},
  ): Promise<ActivityResult<K>> {
    this.checkFlow(name, 'step');
    const proxy = wf.proxyActivities<Activities>({
      startToCloseTimeout: opts.startToCloseTimeout ?? '1 minute',
      heartbeatTimeout: opts.heartbeatTimeout,
      retry: {
        initialInterval: '1 second',
        maximumInterval: '30 seconds',
        maximumAttempts: 3,
        ...opts.retry,
        nonRetryableErrorTypes: [...NON_RETRYABLE_TYPES, ...(opts.retry?.nonRetryableErrorTypes ?? [])],
      },
      // Why: on stop, compensations must not run while the step's activity still runs.
      cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
    });
    const call = proxy[activity] as unknown as (...a: unknown[]) => Promise<ActivityResult<K>>;
    if (opts.compensation) this.compensations.push(opts.compensation);

    const record: StepRecord = { name, state: 'running', attempts: 0, startedAt: nowIso() };
    this.status.steps.push(record);
    this.status.currentStep = name;
    for (;;) {
      this.throwIfStopping();
      record.attempts += 1;
      record.state = 'running';
      record.error = undefined;
      this.record('step.started', { attempt: record.attempts }, SYSTEM_ACTOR, name);
      const started = Date.now();
      try {
        const result = await call(...args);
        this.throwIfStopping();
        Object.assign(record, {
          state: 'succeeded',
          endedAt: nowIso(),
          durationMs: Date.now() - started,
          result,
        });
        this.record('step.succeeded', { result }, SYSTEM_ACTOR, name);
        return result;
      } catch (err) {
        if (isCancellation(err)) throw err;
        const failure = describeFailure(err);
        Object.assign(record, {
          endedAt: nowIso(),
          durationMs: Date.now() - started,
          error: failure.message,
        });
        if (failure.type === INVALID_INPUT) {
          record.state = 'failed';
          this.record('step.failed', { error: failure.message, type: failure.type }, SYSTEM_ACTOR, name);
          throw ApplicationFailure.nonRetryable(failure.message, INVALID_INPUT);
        }
        record.state = 'waiting';
        this.record('step.failed', { error: failure.message, type: failure.type }, SYSTEM_ACTOR, name);
        const decision = await this.awaitDecision({
          kind: 'failure',
          step: name,
          reason: failure.message,
          errorType: failure.type,
          allowed: opts.skippable ? ['retry', 'skip', 'stop'] : ['retry', 'stop'],
        });
        if (decision === 'skip') {
          record.state = 'skipped';
          this.record('step.skipped', {}, SYSTEM_ACTOR, name);
          return opts.skipValue as ActivityResult<K>;
        }
      }
    }
  }

  private async awaitDecision(waiting: Omit<WaitingFor, 'since'>): Promise<'retry' | 'skip'> {
    this.pendingDecision = undefined;
    this.status.waiting = { ...waiting, since: nowIso() };
    this.setState('waiting');
    this.record(
      'run.waiting',
      { kind: waiting.kind, reason: waiting.reason, allowed: waiting.allowed },
      SYSTEM_ACTOR,
      waiting.step,
    );
    this.notify('waiting', waiting.reason, {
      step: waiting.step,
      details: { kind: waiting.kind, errorType: waiting.errorType, allowed: waiting.allowed },
    });
    await wf.condition(() => this.pendingDecision !== undefined);
    const decision = this.pendingDecision!;
    this.pendingDecision = undefined;
    return decision;
  }

  /**
   * Waits for a responder without running anything first: for work only a human can do (run System
   * Restore, put a backup in place). `retry` returns, so the runbook can check the outcome with a
   * step; `stop` ends the run. The hold is listed among the steps under `name`.
   */
  async hold(name: string, reason: string, errorType: string): Promise<void> {
    this.checkFlow(name, 'hold');
    this.throwIfStopping();
    const record: StepRecord = { name, state: 'waiting', attempts: 1, startedAt: nowIso(), error: reason };
    this.status.steps.push(record);
    this.status.currentStep = name;
    this.record('step.held', { reason, type: errorType }, SYSTEM_ACTOR, name);
    await this.awaitDecision({ kind: 'failure', step: name, reason, errorType, allowed: ['retry', 'stop'] });
    Object.assign(record, { state: 'succeeded', endedAt: nowIso(), error: undefined });
    record.durationMs = Date.parse(record.endedAt!) - Date.parse(record.startedAt);
  }

  /**
   * An approval point before a destructive step. The policy is the runbook's default for the gate,
   * overridden by the target's config.
   */
  async gate(name: string, reason: string): Promise<void> {
    const spec = this.meta.gates[name];
    if (!spec)
      throw ApplicationFailure.nonRetryable(`runbook ${this.meta.name} has no gate '${name}'`, RUNBOOK_BUG);
    this.checkFlow(`gate:${name}`, 'gate');
    const policy: GatePolicy = { ...DEFAULT_GATE_POLICY, ...spec.defaults, ...this.target.gates[name] };
    const step = `gate:${name}`;
    this.throwIfStopping();
    // The gate is listed among the run's steps, so `status` and `watch` show it like any step.
    const record: StepRecord = { name: step, state: 'waiting', attempts: 1, startedAt: nowIso() };
    this.status.steps.push(record);
    this.status.currentStep = step;
    const open = (by: string, actors: string[], comment?: string) => {
      Object.assign(record, { state: 'succeeded', endedAt: nowIso(), result: { approvedBy: actors } });
      record.durationMs = Date.parse(record.endedAt!) - Date.parse(record.startedAt);
      if (by !== SYSTEM_ACTOR) {
        this.status.decisions.push({ action: 'approve', actor: by, at: nowIso(), gate: name, comment });
      }
      this.record('gate.opened', { gate: name, approvedBy: actors, reason }, by, step);
    };
    if (policy.automatic) {
      open('policy', ['policy'], 'automatic gate');
      return;
    }
    const approvals: Approval[] = [];
    const timeoutMs = policy.timeoutSeconds !== undefined ? policy.timeoutSeconds * 1000 : undefined;
    this.status.waiting = {
      kind: 'gate',
      step,
      gate: name,
      reason,
      since: nowIso(),
      allowed: ['approve', 'stop'],
      approvers: policy.approvers,
      quorum: policy.quorum,
      approvals,
      timeoutAt: timeoutMs !== undefined ? new Date(Date.now() + timeoutMs).toISOString() : undefined,
    };
    this.setState('waiting');
    this.record(
      'gate.waiting',
      { gate: name, reason, approvers: policy.approvers, quorum: policy.quorum },
      SYSTEM_ACTOR,
      step,
    );
    this.notify('waiting', reason, {
      gate: name,
      step,
      details: { kind: 'gate', approvers: policy.approvers, quorum: policy.quorum },
    });
    const inTime =
      timeoutMs === undefined
        ? (await wf.condition(() => approvals.length >= policy.quorum), true)
        : await wf.condition(() => approvals.length >= policy.quorum, timeoutMs);
    if (inTime) {
      open(
        SYSTEM_ACTOR,
        approvals.map((a) => a.actor),
      );
      return;
    }
    this.status.waiting = undefined;
    if (policy.onTimeout === 'proceed') {
      this.setState('running');
      open('timeout', ['timeout'], 'gate timed out; policy proceeds');
      return;
    }
    Object.assign(record, { state: 'failed', endedAt: nowIso(), error: 'not approved in time' });
    this.requestStop('timeout', `gate '${name}' was not approved within ${policy.timeoutSeconds}s`);
    this.throwIfStopping();
  }

  /** Runs the body; a stop (or a cancellation from Temporal) ends it through the compensations. */
  async execute<R>(input: I, body: (run: this, input: I) => Promise<R>): Promise<RunOutcome<R>> {
    this.upsertIdentity();
    this.setState('running');
    this.record('run.started', { input });
    this.bodyScope = new CancellationScope();
    try {
      const result = await this.bodyScope.run(async () => {
        this.target = await this.step('resolveTarget', 'resolveTarget', [
          this.meta.name,
          input.target,
          this.meta.requires,
        ]);
        if (!this.meta.checksInput) this.acceptInput();
        return body(this, input);
      });
      const outcome = fieldOf(result, 'outcome');
      this.checkFlow(`end:${typeof outcome === 'string' ? outcome : 'completed'}`, 'end');
      this.status.currentStep = undefined;
      this.status.result = result;
      this.status.endedAt = nowIso();
      this.setState('completed');
      this.record('run.completed', { result });
      this.notify('completed', summaryOf(result), { details: { outcome: fieldOf(result, 'outcome') } });
      return { state: 'completed', result, status: this.status };
    } catch (err) {
      if (!isCancellation(err)) throw err;
      if (!this.stopRequest) {
        let actor = 'temporal';
        // Why patched: runs cancelled before this existed replay without the lookup.
        if (wf.patched('cancel-names-requester')) {
          const history = wf.proxyActivities<Activities>({
            startToCloseTimeout: '1 minute',
            // Why: who asked is worth a few tries, never a stop that hangs.
            retry: { maximumAttempts: 3 },
          });
          actor = await CancellationScope.nonCancellable(() =>
            history.cancelRequester(this.info.workflowId, this.info.runId).catch(() => 'temporal'),
          );
        }
        // A responder's stop may have come in while the requester was looked up: it stands.
        if (!this.stopRequest) this.requestStop(actor, 'the workflow was cancelled from Temporal');
      }
      return await CancellationScope.nonCancellable(() => this.endStopped<R>());
    }
  }

  private async endStopped<R>(): Promise<RunOutcome<R>> {
    const stop = this.stopRequest!;
    this.status.waiting = undefined;
    const undo = wf.proxyActivities<Activities>({
      startToCloseTimeout: '5 minutes',
      retry: { initialInterval: '1 second', maximumInterval: '30 seconds', maximumAttempts: 10 },
    });
    const failed: string[] = [];
    for (const comp of [...this.compensations].reverse()) {
      this.record('compensation.started', { name: comp.name }, SYSTEM_ACTOR, comp.name);
      try {
        const call = undo[comp.activity] as unknown as (...a: unknown[]) => Promise<unknown>;
        const result = await call(...comp.args);
        this.record('compensation.succeeded', { name: comp.name, result }, SYSTEM_ACTOR, comp.name);
      } catch (err) {
        const failure = describeFailure(err);
        failed.push(`${comp.name}: ${failure.message}`);
        this.record(
          'compensation.failed',
          { name: comp.name, error: failure.message },
          SYSTEM_ACTOR,
          comp.name,
        );
      }
    }
    if (failed.length) this.status.error = `compensations failed: ${failed.join('; ')}`;
    this.status.currentStep = undefined;
    this.status.endedAt = nowIso();
    this.setState('stopped');
    this.record('run.stopped', { reason: stop.reason, compensationsFailed: failed }, stop.actor);
    this.notify('stopped', `stopped by ${stop.actor}: ${stop.reason}`, {
      details: { stoppedBy: stop.actor, compensationsFailed: failed },
    });
    return { state: 'stopped', stoppedBy: stop.actor, stopReason: stop.reason, status: this.status };
  }

  upsertIdentity(): void {
    wf.upsertSearchAttributes([
      { key: SA_RUNBOOK_NAME, value: this.meta.name },
      { key: SA_RUNBOOK_TARGET, value: this.status.target },
    ]);
  }

  markFailed(err: unknown): void {
    this.status.state = 'failed';
    this.status.error = describeFailure(err).message;
    this.status.endedAt = nowIso();
    this.setState('failed');
    this.record('run.failed', { error: this.status.error });
    this.notify('failed', this.status.error);
  }
}

function fieldOf(result: unknown, key: string): unknown {
  return typeof result === 'object' && result !== null ? (result as Record<string, unknown>)[key] : undefined;
}

/** One line for a completed run's notification: the runbook's warning if it has one, else its outcome. */
function summaryOf(result: unknown): string | undefined {
  const warning = fieldOf(result, 'warning');
  if (typeof warning === 'string') return warning;
  const outcome = fieldOf(result, 'outcome');
  return typeof outcome === 'string' ? `outcome: ${outcome}` : undefined;
}

function refuse(problem: string | undefined): void {
  if (problem !== undefined) throw new Error(problem);
}

/**
 * Runs a runbook: validates the input (bad input fails the run at once, non-retryably, with every
 * problem named), installs the decision handlers, resolves the target and runs `body`.
 */
export async function runRunbook<I extends { target: string }, R>(
  meta: RunbookMeta,
  rawInput: unknown,
  body: (run: RunbookRun<I>, input: I) => Promise<R>,
): Promise<RunOutcome<R>> {
  const run = new RunbookRun<I>(meta, rawInput);
  run.installHandlers();
  const audit = CancellationScope.nonCancellable(() => run.auditLoop());
  const notifications = CancellationScope.nonCancellable(() => run.notifyLoop());
  try {
    const problems = validateInput(meta.name, { target: TARGET_FIELD, ...meta.input }, rawInput);
    if (problems.length > 0) {
      run.upsertIdentity();
      throw ApplicationFailure.nonRetryable(problems.join('; '), INVALID_INPUT);
    }
    return await run.execute(rawInput as I, body);
  } catch (err) {
    run.markFailed(err);
    throw err;
  } finally {
    run.closeNotify();
    await notifications;
    run.closeAudit();
    await audit;
  }
}
