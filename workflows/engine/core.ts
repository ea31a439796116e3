/**
 * The state every run keeps, beneath the runbook kit (run.ts): its status (what the `status` Query
 * answers), search attributes, flow check, audit and notifications (journal.ts), the responder's
 * decisions (responder.ts), the compensations a stop runs, and how a run ends stopped or failed.
 */
import * as wf from '@temporalio/workflow';
import { CancellationScope } from '@temporalio/workflow';
import type { Activities } from '../../activities';
import {
  SA_AWAITING_HUMAN,
  SA_RUNBOOK_NAME,
  SA_RUNBOOK_STATE,
  SA_RUNBOOK_TARGET,
  SA_SCHEDULED_BY,
} from '../../common/constants';
import { INVALID_INPUT } from '../../common/errors';
import { DEFAULT_GATE_POLICY } from '../../common/runbook';
import type { SignedDecision } from '../../common/statements';
import type { RunState } from '../../common/constants';
import { currentDetails } from '../../common/runDetails';
import type { FlowNode, RunbookMeta } from '../../common/runbook';
import type {
  NotifyMessage,
  RunOutcome,
  RunStatus,
  StepRecord,
  TargetView,
  WaitingFor,
} from '../../common/types';
import { ApplicationFailure } from '@temporalio/workflow';
import { RUNBOOK_BUG, SYSTEM_ACTOR, describeFailure, nowIso } from './failure';
import { routeOf, routeOptions, type Route } from './agents';
import { Journal } from './journal';
import { Responder } from './responder';
import { SignatureRules } from './signatures';

export interface Compensation {
  name: string;
  activity: keyof Activities;
  args: unknown[];
  /** The agent its step ran on, when not the target's (StepOptions.on). */
  on?: Route;
}

/**
 * The input a runbook's schema checks: without `requester` (a signed start) and `parentRequester`
 * (from a parent run), which are the engine's (establishRequester checks them).
 */
export function runbookInputOf(rawInput: unknown): unknown {
  if (typeof rawInput !== 'object' || rawInput === null || Array.isArray(rawInput)) return rawInput;
  const { requester: _r, parentRequester: _p, ...runbookInput } = rawInput as Record<string, unknown>;
  return runbookInput;
}

export class RunCore {
  readonly status: RunStatus;
  /** The target as the worker's config describes it (resolved by the first step). */
  target!: TargetView;
  protected readonly info = wf.workflowInfo();
  private readonly flowNodes: Map<string, FlowNode>;
  protected readonly journal: Journal;
  protected readonly responder: Responder;
  protected readonly signatures: SignatureRules;
  protected bodyScope?: CancellationScope;
  protected readonly compensations: Compensation[] = [];

  constructor(
    readonly meta: RunbookMeta,
    rawInput: unknown,
  ) {
    const record =
      typeof rawInput === 'object' && rawInput !== null ? (rawInput as Record<string, unknown>) : {};
    const target = meta.targetless ? meta.targetless(record) : record.target;
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
    this.signatures = new SignatureRules(this.status, () => this.target);
    this.journal = new Journal(
      meta,
      this.status,
      () => !this.target || !!this.target.notify,
      () => this.refreshDetails(),
    );
    this.responder = new Responder(
      this.status,
      Object.keys(meta.gates),
      this.journal,
      (state) => this.setState(state),
      () => this.bodyScope?.cancel(),
      this.signatures,
    );
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
    this.journal.record(event, details, actor, step);
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
    this.journal.notify(event, reason, extra);
  }

  protected setState(state: RunState): void {
    this.status.state = state;
    wf.upsertSearchAttributes([
      { key: SA_RUNBOOK_STATE, value: state },
      { key: SA_AWAITING_HUMAN, value: state === 'waiting' },
    ]);
    this.refreshDetails();
  }

  /**
   * Keeps the run's page in the Temporal UI current (its "current details", markdown). Not a
   * workflow command: the UI reads it through a built-in Query, so it changes nothing on replay.
   */
  protected refreshDetails(): void {
    wf.setCurrentDetails(currentDetails(this.status, this.info.workflowId, this.meta));
  }

  /**
   * Waits until `done()`. The wait shows in the timeline as a timer named `summary` that runs while
   * the run waits (restarted every week); with `timeoutMs`, the timer is the timeout's. Resolves to
   * false when the timeout passed first.
   *
   * Why not async: a run recorded before the timeline entry existed must replay with its commands
   * in the same order, and they follow the order in which waiting code resumes; returning
   * `condition`'s own promise keeps the number of steps to resume exactly as it was.
   */
  protected waitUntil(done: () => boolean, summary: string, timeoutMs?: number): Promise<boolean | void> {
    if (timeoutMs !== undefined) return wf.condition(done, timeoutMs, { summary });
    // Why patched: runs already waiting when the timeline entry was added have no timer here, and
    // their replay must not add one.
    if (!wf.patched('waits-in-timeline')) return wf.condition(done);
    return RunCore.waitInTimeline(done, summary);
  }

  private static async waitInTimeline(done: () => boolean, summary: string): Promise<boolean> {
    while (!(await wf.condition(done, '7 days', { summary }))) {
      // Still waiting after a week: a new entry for the next one.
    }
    return true;
  }

  /**
   * The generated docs draw `meta.flow`, so a step, gate, hold or end that it does not list (or lists
   * as another kind) fails the run at once: the docs cannot drift from what runs.
   */
  protected checkFlow(id: string, kind: 'step' | 'gate' | 'hold' | 'end'): void {
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

  /** What a flow node does, in the runbook's words (its id when the flow gives no label). */
  protected labelOf(id: string): string {
    return this.flowNodes.get(id)?.label ?? id;
  }

  /** Lists a step that starts now among the run's steps, as the one the run is on. */
  protected startRecord(name: string, state: StepRecord['state'], error?: string): StepRecord {
    const record: StepRecord = { name, state, attempts: 1, startedAt: nowIso(), ...(error ? { error } : {}) };
    this.status.steps.push(record);
    this.status.currentStep = name;
    return record;
  }

  protected static endRecord(record: StepRecord, fields: Partial<StepRecord>): void {
    Object.assign(record, { endedAt: nowIso(), ...fields });
    record.durationMs = Date.parse(record.endedAt!) - Date.parse(record.startedAt);
  }

  protected async awaitDecision(waiting: Omit<WaitingFor, 'since'>): Promise<'retry' | 'skip'> {
    this.responder.pending = undefined;
    const signing = this.signatures.forFailure(waiting.step, waiting.reason, waiting.allowed);
    this.status.waiting = { ...waiting, since: nowIso(), ...(signing ? { signing } : {}) };
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
    const what = this.flowNodes.get(waiting.step)?.hold
      ? `hold ${waiting.step}: a person does this, then retry`
      : `step ${waiting.step} failed: ${waiting.allowed.join(' / ')}`;
    await this.waitUntil(() => this.responder.pending !== undefined, `waiting for a person — ${what}`);
    const decision = this.responder.pending!;
    this.responder.pending = undefined;
    return decision;
  }

  protected async endStopped<R>(): Promise<RunOutcome<R>> {
    const stop = this.responder.stopRequest!;
    this.status.waiting = undefined;
    const failed: string[] = [];
    for (const comp of [...this.compensations].reverse()) {
      // Compensations run where the step did: on the target's agent.
      const undo = wf.proxyActivities<Activities>({
        startToCloseTimeout: '5 minutes',
        retry: { initialInterval: '1 second', maximumInterval: '30 seconds', maximumAttempts: 10 },
        ...routeOptions(comp.on ?? routeOf(this.target, comp.activity)),
      });
      this.record('compensation.started', { name: comp.name }, SYSTEM_ACTOR, comp.name);
      try {
        const call = undo[comp.activity] as unknown as {
          executeWithOptions: (o: { summary: string }, a: unknown[]) => Promise<unknown>;
        };
        const result = await call.executeWithOptions({ summary: `undo: ${comp.name}` }, comp.args);
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

  /**
   * Who asked for the run: the schedule that started it (`schedule:<id>`, which approves nothing),
   * or the identity of a signed start (`input.requester`), verified like any signed decision. A
   * runbook whose gates say notRequester fails at once, non-retryably, when neither is known.
   */
  protected async establishRequester(input: Record<string, unknown>): Promise<void> {
    const scheduledBy = this.info.typedSearchAttributes.get(SA_SCHEDULED_BY);
    const { requester: signed, parentRequester, ...rest } = input;
    if (scheduledBy) this.status.requester = `schedule:${scheduledBy}`;
    else if (parentRequester !== undefined) {
      // Only a parent run (a fleet, a drill) names the requester of its child: one started on its own
      // has no parent, and cannot claim one.
      if (!this.info.parent || typeof parentRequester !== 'string')
        throw ApplicationFailure.nonRetryable(
          'input.parentRequester is set by a parent run for its children; a run started on its own proves its requester by a signed start',
          INVALID_INPUT,
        );
      this.status.requester = parentRequester;
    } else if (signed !== undefined) {
      const statement = (signed as { statement?: unknown } | null)?.statement;
      const identity =
        typeof statement === 'string' ? /"identity":"([^"]*)"/.exec(statement)?.[1] : undefined;
      const verdict = await this.signatures.verifyStart(identity ?? '', signed as SignedDecision, rest);
      if (!verdict.ok)
        throw ApplicationFailure.nonRetryable(
          `input.requester: the signed start was refused: ${verdict.refusal}`,
          INVALID_INPUT,
        );
      this.status.requester = verdict.identity;
      const { statement: text, signature } = signed as SignedDecision;
      this.record(
        'run.requested',
        { signed: { statement: text, signature, key: verdict.key, verdict: 'valid' } },
        verdict.identity,
      );
    }
    const guarded = Object.entries(this.meta.gates)
      .filter(
        ([g, spec]) => ({ ...DEFAULT_GATE_POLICY, ...spec.defaults, ...this.target.gates[g] }).notRequester,
      )
      .map(([g]) => g);
    if (guarded.length > 0 && !this.status.requester)
      throw ApplicationFailure.nonRetryable(
        `gate ${guarded.map((g) => `'${g}'`).join(', ')} of ${this.meta.name} on target '${this.status.target}' needs an approver other than whoever started the run (notRequester), so the start must be signed: lifeboat start ${this.meta.name} ${this.status.target} --as <you> --key <your private key file>`,
        INVALID_INPUT,
      );
  }

  /** A child's input: the parent's requester goes with it, so that notRequester holds in the child too. */
  protected forChild(input: Record<string, unknown>): Record<string, unknown> {
    return this.status.requester ? { ...input, parentRequester: this.status.requester } : input;
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
