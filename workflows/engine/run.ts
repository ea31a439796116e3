/**
 * The runbook kit: every runbook is `runRunbook(meta, input, body)` where `body` calls
 * `run.step(...)` for each activity and `run.gate(...)` before each destructive step.
 *
 * - `step()` runs one activity with its own retry policy and timeouts. An InvalidInput failure ends
 *   the run at once; any other failure that retries could not fix (a STOP class, or retries
 *   exhausted) puts the run into `waiting` until a responder sends `retry`, `skip` (where the step
 *   allows it) or `stop`.
 * - `gate()` waits for approvals by distinct allowed approvers (a quorum; a timeout if the policy says).
 * - `stop` may arrive at any moment: the running step is cancelled (and awaited), compensations
 *   registered by earlier steps run in reverse order, and the run ends as `stopped`.
 * - The `status` Query, the search attributes and the audit ledger follow every transition.
 * - `child()` runs another runbook as a child workflow, listed among the steps like any step.
 * State, flow check and stop: core.ts; decisions: responder.ts; audit and notifications: journal.ts;
 * which agent a step runs on: agents.ts.
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
  ApplicationFailure,
  CancellationScope,
  ChildWorkflowFailure,
  isCancellation,
  type RetryPolicy,
} from '@temporalio/workflow';
import type { Duration } from '@temporalio/common';
import type { Activities } from '../../activities';
import { INVALID_INPUT, NON_RETRYABLE_TYPES } from '../../common/errors';
import { DEFAULT_GATE_POLICY, type RunbookMeta } from '../../common/runbook';
import { TARGET_FIELD, validateInput } from '../../common/schema';
import type { Approval, ChildReport, GatePlan, GatePolicy, RunOutcome, StepRecord } from '../../common/types';
import {
  RUNBOOK_BUG,
  SYSTEM_ACTOR,
  childFailureText,
  describeFailure,
  fieldOf,
  nowIso,
  oneLine,
  summaryOf,
} from './failure';
import { agentNotPolling, checkAgentHas, routeOf, routeOptions, type Route } from './agents';
import { RunCore, runbookInputOf, type Compensation } from './core';
import type { Journal } from './journal';

export type { Compensation };

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
  /** Runs on this agent instead of the target's (a drill's sandbox on another host). */
  on?: Route;
}

export class RunbookRun<I extends { target: string } = { target: string }> extends RunCore {
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
    const route = opts.on ?? routeOf(this.target, activity);
    const proxy = wf.proxyActivities<Activities>({
      ...routeOptions(route),
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
    const call = proxy[activity] as unknown as {
      executeWithOptions: (o: { summary: string }, a: unknown[]) => Promise<ActivityResult<K>>;
    };
    // The timeline names the step and what it does, not just the activity.
    const summary = oneLine(`${name}: ${this.labelOf(name)}`);
    if (opts.compensation) this.compensations.push(opts.compensation);

    const record: StepRecord = { name, state: 'running', attempts: 0, startedAt: nowIso() };
    this.status.steps.push(record);
    this.status.currentStep = name;
    for (;;) {
      this.responder.throwIfStopping();
      record.attempts += 1;
      record.state = 'running';
      record.error = undefined;
      this.record('step.started', { attempt: record.attempts }, SYSTEM_ACTOR, name);
      const started = Date.now();
      try {
        checkAgentHas(route, activity);
        const result = await call.executeWithOptions({ summary }, args);
        this.responder.throwIfStopping();
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
        // Only a routed step asks (an extra await would reorder the commands of recorded runs).
        const failure = (route && (await agentNotPolling(route, err))) || describeFailure(err);
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

  /**
   * Waits for a responder without running anything first: for work only a human can do (run System
   * Restore, put a backup in place). `retry` returns, so the runbook can check the outcome with a
   * step; `stop` ends the run. The hold is listed among the steps under `name`.
   */
  async hold(name: string, reason: string, errorType: string): Promise<void> {
    this.checkFlow(name, 'hold');
    this.responder.throwIfStopping();
    const record = this.startRecord(name, 'waiting', reason);
    this.record('step.held', { reason, type: errorType }, SYSTEM_ACTOR, name);
    await this.awaitDecision({ kind: 'failure', step: name, reason, errorType, allowed: ['retry', 'stop'] });
    RunCore.endRecord(record, { state: 'succeeded', error: undefined });
  }

  /**
   * An approval point before a destructive step. The policy is the runbook's default for the gate,
   * overridden by the target's config. `plan` says what approving will do (computed by the steps
   * before the gate); it is added to the reason and shown with the waiting status.
   */
  async gate(name: string, baseReason: string, plan?: GatePlan): Promise<void> {
    const reason = plan ? `${baseReason}. Approving: ${plan.summary}` : baseReason;
    const spec = this.meta.gates[name];
    if (!spec)
      throw ApplicationFailure.nonRetryable(`runbook ${this.meta.name} has no gate '${name}'`, RUNBOOK_BUG);
    this.checkFlow(`gate:${name}`, 'gate');
    const policy: GatePolicy = { ...DEFAULT_GATE_POLICY, ...spec.defaults, ...this.target.gates[name] };
    const step = `gate:${name}`;
    this.responder.throwIfStopping();
    // The gate is listed among the run's steps, so `status` and `watch` show it like any step.
    const record = this.startRecord(step, 'waiting');
    const open = (by: string, actors: string[], comment?: string) => {
      RunCore.endRecord(record, { state: 'succeeded', result: { approvedBy: actors } });
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
      ...(plan ? { plan } : {}),
    };
    // A signed gate publishes what to sign; a notRequester gate names who may not approve.
    const signing = this.signatures.forGate(name, reason, plan, policy.signed === true);
    if (signing) this.status.waiting.signing = signing;
    if (policy.notRequester && this.status.requester) this.status.waiting.requester = this.status.requester;
    this.setState('waiting');
    this.record(
      'gate.waiting',
      { gate: name, reason, approvers: policy.approvers, quorum: policy.quorum, ...(plan ? { plan } : {}) },
      SYSTEM_ACTOR,
      step,
    );
    this.notify('waiting', reason, {
      gate: name,
      step,
      details: {
        kind: 'gate',
        approvers: policy.approvers,
        quorum: policy.quorum,
        ...(plan ? { plan } : {}),
      },
    });
    const waited = await this.waitUntil(
      () => approvals.length >= policy.quorum,
      oneLine(`waiting for a person — gate ${name}: approve (quorum ${policy.quorum}) or stop`),
      timeoutMs,
    );
    if (waited !== false) {
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
    this.responder.requestStop('timeout', `gate '${name}' was not approved within ${policy.timeoutSeconds}s`);
    this.responder.throwIfStopping();
  }

  /**
   * Runs another runbook as a child workflow and waits for its end, listed among the steps under
   * `name` (which `meta.flow` must list, like any step) with `<name>.started` and `<name>.ended` in
   * the audit and a fact `name` that follows it (plus `fact`, e.g. how to answer the child's gates).
   * How the child ended is returned, never thrown: the parent decides what a stopped child means.
   * A stop of the parent cancels the child. Children at once: distinct names, one `flowNode` (fleet.ts).
   */
  async child(
    name: string,
    runbook: string,
    input: Record<string, unknown>,
    opts: { workflowId: string; fact?: Record<string, unknown>; flowNode?: string },
  ): Promise<ChildReport> {
    this.checkFlow(opts.flowNode ?? name, 'step');
    const { workflowId } = opts;
    const record = this.startRecord(name, 'running');
    const fact = { runbook, workflowId, target: input.target, ...opts.fact };
    this.fact(name, { ...fact, state: 'running' });
    this.record(`${name}.started`, fact, SYSTEM_ACTOR, name);
    let report: ChildReport;
    try {
      const outcome = await wf.executeChild<(i: unknown) => Promise<RunOutcome>>(runbook, {
        workflowId,
        args: [this.forChild(input)],
        staticSummary: oneLine(
          `${runbook} → ${String(input.target)}: ${name} of ${this.meta.name} ${this.info.workflowId}`,
        ),
      });
      report =
        outcome.state === 'completed'
          ? {
              runbook,
              workflowId,
              state: 'completed',
              outcome: (outcome.result as { outcome?: string } | undefined)?.outcome,
              result: outcome.result,
            }
          : {
              runbook,
              workflowId,
              state: 'stopped',
              error: `stopped by ${outcome.stoppedBy}: ${outcome.stopReason}`,
            };
    } catch (err) {
      if (!(err instanceof ChildWorkflowFailure)) throw err;
      report = { runbook, workflowId, state: 'failed', error: childFailureText(err) };
    }
    const { result: _result, ...summary } = report;
    RunCore.endRecord(record, {
      state: report.state === 'completed' ? 'succeeded' : 'failed',
      result: summary,
      error: report.error,
    });
    this.fact(name, { ...fact, state: report.state, outcome: report.outcome, error: report.error });
    this.record(`${name}.ended`, summary, SYSTEM_ACTOR, name);
    return report;
  }

  /** Installs the decision handlers; returns the journal whose loops run beside the body. */
  start(): Journal {
    this.responder.install();
    return this.journal;
  }

  /** Runs the body; a stop (or a cancellation from Temporal) ends it through the compensations. */
  async execute<R>(input: I, body: (run: this, input: I) => Promise<R>): Promise<RunOutcome<R>> {
    this.upsertIdentity();
    this.setState('running');
    this.record('run.started', { input });
    this.bodyScope = new CancellationScope();
    try {
      const result = await this.bodyScope.run(async () => {
        this.target = this.meta.targetless
          ? await this.step('resolveTarget', 'resolveTargetless', [this.status.target])
          : await this.step('resolveTarget', 'resolveTarget', [
              this.meta.name,
              input.target,
              this.meta.requires,
            ]);
        await this.establishRequester(input as unknown as Record<string, unknown>);
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
      if (!this.responder.stopRequest) {
        let actor = 'temporal';
        // Why patched: runs cancelled before this existed replay without the lookup.
        if (wf.patched('cancel-names-requester')) {
          const history = wf.proxyActivities<Activities>({
            startToCloseTimeout: '1 minute',
            // Why: who asked is worth a few tries, never a stop that hangs.
            retry: { maximumAttempts: 3 },
          });
          actor = await CancellationScope.nonCancellable(() =>
            history.cancelRequester
              .executeWithOptions({ summary: 'who cancelled the run' }, [
                this.info.workflowId,
                this.info.runId,
              ])
              .catch(() => 'temporal'),
          );
        }
        // A responder's stop may have come in while the requester was looked up: it stands.
        if (!this.responder.stopRequest)
          this.responder.requestStop(actor, 'the workflow was cancelled from Temporal');
      }
      return await CancellationScope.nonCancellable(() => this.endStopped<R>());
    }
  }
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
  const journal = run.start();
  const audit = CancellationScope.nonCancellable(() => journal.auditLoop());
  const notifications = CancellationScope.nonCancellable(() => journal.notifyLoop());
  try {
    const problems = validateInput(
      meta.name,
      meta.targetless ? meta.input : { target: TARGET_FIELD, ...meta.input },
      runbookInputOf(rawInput),
    );
    if (problems.length > 0) {
      run.upsertIdentity();
      throw ApplicationFailure.nonRetryable(problems.join('; '), INVALID_INPUT);
    }
    return await run.execute(rawInput as I, body);
  } catch (err) {
    run.markFailed(err);
    throw err;
  } finally {
    journal.closeNotify();
    await notifications;
    journal.closeAudit();
    await audit;
  }
}
