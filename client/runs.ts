/**
 * Typed helpers over the Temporal client that the CLI and the tests share: start a runbook, read
 * its status, send decisions, list runs. Errors come back as `CliError`s with the exit code the
 * CLI uses (2: bad input or a refused decision; 1: the operation failed).
 */
import * as fs from 'node:fs';
import {
  WorkflowExecutionAlreadyStartedError,
  WorkflowFailedError,
  WorkflowNotFoundError,
  WorkflowUpdateFailedError,
  WorkflowUpdateRPCTimeoutOrCancelledError,
  type Client,
  type WorkflowHandle,
} from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import {
  RUN_STATES,
  SA_AWAITING_HUMAN,
  SA_RUNBOOK_NAME,
  SA_RUNBOOK_STATE,
  SA_RUNBOOK_TARGET,
} from '../common/constants';
import { INVALID_INPUT } from '../common/errors';
import {
  approveUpdate,
  retryUpdate,
  skipUpdate,
  statusQuery,
  stopUpdate,
  type ApproveArgs,
  type DecisionReceipt,
  type RetryArgs,
  type StopArgs,
} from '../common/messages';
import type { RunbookMeta } from '../common/runbook';
import { runSubject, sha256Hex, startSubject, type Binding, type SignedDecision } from '../common/statements';
import { TARGET_FIELD, validateInput } from '../common/schema';
import type { RunStatus } from '../common/types';
import { staticDetailsOf, staticSummaryOf } from '../common/runDetails';
import { RUNBOOKS, findRunbook } from '../runbooks/registry';
import { runHealth, shownState, stuckAdvice, type Stuck } from '../activities/lib/runHealth';

export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: 1 | 2,
  ) {
    super(message);
    this.name = 'CliError';
  }
}

export const badInput = (message: string) => new CliError(message, 2);

export function requireRunbook(name: string): RunbookMeta {
  const runbook = findRunbook(name);
  if (!runbook)
    throw badInput(`unknown runbook '${name}'; known runbooks: ${RUNBOOKS.map((r) => r.name).join(', ')}`);
  return runbook;
}

function newWorkflowId(runbook: string, target: string): string {
  const stamp = new Date()
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z');
  return `${runbook}-${target}-${stamp}-${Math.random().toString(36).slice(2, 6)}`;
}

export interface StartOptions {
  runbook: string;
  input: Record<string, unknown>;
  workflowId?: string;
  taskQueue: string;
  /** A signed start: the requester's signature over the runbook, target and input. */
  sign?: (binding: Binding) => Promise<SignedDecision>;
}

/** Validates the input locally (same check as the workflow) and starts the run. */
export async function startRunbook(client: Client, options: StartOptions): Promise<WorkflowHandle> {
  const meta = requireRunbook(options.runbook);
  const schema = meta.targetless ? meta.input : { target: TARGET_FIELD, ...meta.input };
  const problems = validateInput(meta.name, schema, options.input);
  if (problems.length > 0) throw badInput(problems.join('\n'));
  // A run over many targets is named as its workflow will name it (`fleet:role=db`).
  const target = meta.targetless ? meta.targetless(options.input) : (options.input.target as string);
  const idPart = meta.targetless
    ? target.replace(`${meta.name}:`, '').replace(/[^A-Za-z0-9._-]+/g, '_')
    : target;
  const workflowId = options.workflowId ?? newWorkflowId(meta.name, idPart);
  const namespace = client.options.namespace;
  const requester = options.sign
    ? await options.sign({
        action: 'start',
        namespace,
        workflowId,
        subjectSha256: sha256Hex(
          startSubject({ namespace, workflowId, runbook: meta.name, target, input: options.input }),
        ),
      })
    : undefined;
  try {
    return await client.workflow.start(meta.name, {
      taskQueue: options.taskQueue,
      workflowId,
      args: [requester ? { ...options.input, requester } : options.input],
      // What the run's page in the Temporal UI says it is, before the run has said anything.
      staticSummary: staticSummaryOf(meta, target),
      staticDetails: staticDetailsOf(meta),
      typedSearchAttributes: [
        { key: SA_RUNBOOK_NAME, value: meta.name },
        { key: SA_RUNBOOK_TARGET, value: target },
        { key: SA_RUNBOOK_STATE, value: 'running' },
        { key: SA_AWAITING_HUMAN, value: false },
      ],
    });
  } catch (err) {
    if (err instanceof WorkflowExecutionAlreadyStartedError) {
      throw badInput(`a workflow with id '${workflowId}' already exists; choose another --id`);
    }
    throw err;
  }
}

/** The failure message of a failed run, and whether it was bad input. */
export async function failureOf(handle: WorkflowHandle): Promise<{ message: string; invalidInput: boolean }> {
  try {
    await handle.result();
    return { message: 'the run did not fail', invalidInput: false };
  } catch (err) {
    const cause = err instanceof WorkflowFailedError ? err.cause : err;
    if (cause instanceof ApplicationFailure)
      return { message: cause.message, invalidInput: cause.type === INVALID_INPUT };
    return { message: (cause as Error).message, invalidInput: false };
  }
}

/**
 * Waits until the worker has accepted the run's input and target (or rejected them). Returns
 * `accepted`, `rejected` with the reason, or `unknown` when no worker answered in time.
 */
export async function awaitAcceptance(
  client: Client,
  handle: WorkflowHandle,
  timeoutMs: number,
): Promise<{ verdict: 'accepted' | 'unknown' } | { verdict: 'rejected'; reason: string }> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const description = await handle.describe();
    if (description.status.name === 'FAILED') {
      const failure = await failureOf(handle);
      return failure.invalidInput
        ? { verdict: 'rejected', reason: failure.message }
        : { verdict: 'accepted' };
    }
    if (description.status.name !== 'RUNNING') return { verdict: 'accepted' };
    const status = await queryStatus(client, handle, 2000).catch(() => undefined);
    // A run whose state is `failed` is still writing its audit: the next describe() says FAILED.
    if (
      status &&
      status.state !== 'failed' &&
      (status.inputAccepted === true ||
        // Runs started before inputAccepted existed: the resolved target was the whole check.
        (status.inputAccepted === undefined &&
          status.steps.some((s) => s.name === 'resolveTarget' && s.state === 'succeeded')) ||
        status.state !== 'running')
    ) {
      return { verdict: 'accepted' };
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  return { verdict: 'unknown' };
}

export async function queryStatus(
  client: Client,
  handle: WorkflowHandle,
  timeoutMs = 10000,
): Promise<RunStatus> {
  return client.connection.withDeadline(Date.now() + timeoutMs, () => handle.query(statusQuery));
}

/** A handle to an existing run; a missing one is bad input (exit 2). */
export async function existingRun(client: Client, workflowId: string): Promise<WorkflowHandle> {
  const handle = client.workflow.getHandle(workflowId);
  try {
    await handle.describe();
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) {
      throw badInput(`no workflow with id '${workflowId}' in namespace '${client.options.namespace}'`);
    }
    throw err;
  }
  return handle;
}

type Decision =
  | { action: 'approve'; args: ApproveArgs }
  | { action: 'retry'; args: RetryArgs }
  | { action: 'skip'; args: RetryArgs }
  | { action: 'stop'; args: StopArgs };

/** What a signed decision must bind, from what the run publishes now. */
function bindingFor(
  action: Decision['action'],
  status: RunStatus,
  ids: { namespace: string; workflowId: string; runId: string },
): Binding {
  if (action === 'stop') return { action, ...ids, subjectSha256: sha256Hex(runSubject(ids)) };
  const waiting = status.waiting;
  if (!waiting?.signing)
    throw badInput(
      waiting
        ? `the run waits at ${waiting.gate ? `gate '${waiting.gate}'` : `step '${waiting.step}'`}, which asks for no signature: send ${action} without --key`
        : `the run is not waiting for a decision (state: ${status.state})`,
    );
  if (!waiting.signing.actions.includes(action))
    throw badInput(
      `no signed ${action} is possible here; the run accepts: ${waiting.signing.actions.join(', ')}`,
    );
  // What is signed is the digest: it must be the digest of the subject shown.
  if (sha256Hex(waiting.signing.subject) !== waiting.signing.subjectSha256)
    throw badInput("the run's published subject does not match its SHA-256; do not sign it");
  return {
    action,
    ...ids,
    ...(action === 'approve' ? { gate: waiting.gate } : { step: waiting.step }),
    subjectSha256: waiting.signing.subjectSha256,
  };
}

/**
 * Sends a decision as an Update; a refusal by the run's checks is a CliError with exit code 2.
 * With `sign`, the decision is signed over what the run publishes now (its waiting status).
 */
export async function decide(
  client: Client,
  workflowId: string,
  decision: Decision,
  sign?: (binding: Binding) => Promise<SignedDecision>,
): Promise<DecisionReceipt> {
  const handle = await existingRun(client, workflowId);
  const description = await handle.describe();
  const health = await runHealth(handle, description);
  if (description.status.name !== 'RUNNING') {
    const state = shownState(description.typedSearchAttributes.get(SA_RUNBOOK_STATE), health);
    throw badInput(`the run has ended (${state}); no decision can change it`);
  }
  if (health.stuck) throw new CliError(cannotDeliver(decision.action, workflowId, health.stuck), 1);
  if (sign) {
    const status = await handle.query(statusQuery);
    const ids = { namespace: client.options.namespace, workflowId, runId: description.runId };
    decision.args.signed = await sign(bindingFor(decision.action, status, ids));
  }
  try {
    // Why a deadline: an Update waits for a workflow task, which never comes if the run's keep failing.
    return await client.connection.withDeadline(Date.now() + DECISION_TIMEOUT_MS, async () => {
      switch (decision.action) {
        case 'approve':
          return handle.executeUpdate(approveUpdate, { args: [decision.args] });
        case 'retry':
          return handle.executeUpdate(retryUpdate, { args: [decision.args] });
        case 'skip':
          return handle.executeUpdate(skipUpdate, { args: [decision.args] });
        case 'stop':
          return handle.executeUpdate(stopUpdate, { args: [decision.args] });
      }
    });
  } catch (err) {
    if (err instanceof WorkflowUpdateFailedError) {
      const cause = err.cause instanceof Error ? err.cause.message : err.message;
      throw badInput(`${decision.action} refused: ${cause}`);
    }
    // The decision may have made the run replay, and fail: say so rather than "Workflow Update failed".
    const now = await runHealth(handle).catch(() => undefined);
    if (now?.failing) throw new CliError(cannotDeliver(decision.action, workflowId, now.failing), 1);
    if (err instanceof WorkflowUpdateRPCTimeoutOrCancelledError)
      throw new CliError(
        `${decision.action} was not confirmed within ${DECISION_TIMEOUT_MS / 1000} s: no worker may be polling the run's task queue (lifeboat version lists them). The decision may still apply when one does: check lifeboat status ${workflowId} before sending it again.`,
        1,
      );
    throw err;
  }
}

const DECISION_TIMEOUT_MS = 60_000;

function cannotDeliver(action: string, workflowId: string, stuck: Stuck): string {
  return [`${action} cannot be delivered: the run is stuck.`, ...stuckAdvice(workflowId, stuck)].join('\n');
}

export interface RunSummary {
  workflowId: string;
  runbook?: string;
  target?: string;
  /** The run's state as shown: its own, `stuck`, or how Temporal ended it (`terminated`, `timed out`, …). */
  state?: string;
  /** The run's own last state (its RunbookState search attribute), when it differs from `state`. */
  ownState?: string;
  stuck?: Stuck;
  awaitingHuman?: boolean;
  startTime: string;
  status: string;
}

function quote(value: string): string {
  return `'${value.replace(/'/g, "\\'")}'`;
}

/** Lists runs through the visibility store, filtered by the search attributes. */
export async function listRuns(
  client: Client,
  filter: { state?: string; runbook?: string },
): Promise<RunSummary[]> {
  const conditions = ['RunbookName IS NOT NULL'];
  // Temporal's words for runs it ended from outside, as `list` shows them.
  const ended: Record<string, string> = {
    terminated: 'Terminated',
    'timed-out': 'TimedOut',
    cancelled: 'Canceled',
  };
  const states = [...RUN_STATES, 'stuck', ...Object.keys(ended)];
  if (filter.state !== undefined) {
    if (!states.includes(filter.state)) {
      throw badInput(`--state must be one of ${states.join(', ')} (got '${filter.state}')`);
    }
    // A run Temporal ended from outside still says running or waiting: only running executions count.
    if (filter.state === 'running' || filter.state === 'waiting' || filter.state === 'stuck')
      conditions.push(`ExecutionStatus = 'Running'`);
    if (ended[filter.state]) conditions.push(`ExecutionStatus = '${ended[filter.state]}'`);
    else if (filter.state !== 'stuck') conditions.push(`RunbookState = ${quote(filter.state)}`);
  }
  if (filter.runbook !== undefined)
    conditions.push(`RunbookName = ${quote(requireRunbook(filter.runbook).name)}`);
  const runs: RunSummary[] = [];
  for await (const wf of client.workflow.list({ query: conditions.join(' AND ') })) {
    const sa = wf.typedSearchAttributes;
    const own = sa.get(SA_RUNBOOK_STATE);
    // A running run may be stuck: only Temporal's describe call says (its pending workflow task).
    // One run that cannot be looked at does not spoil the list: it shows as the run says.
    const health =
      wf.status.name === 'RUNNING'
        ? await runHealth(client.workflow.getHandle(wf.workflowId, wf.runId)).catch(() => ({
            execution: wf.status.name,
          }))
        : { execution: wf.status.name };
    const state = shownState(own, health);
    runs.push({
      workflowId: wf.workflowId,
      runbook: sa.get(SA_RUNBOOK_NAME),
      target: sa.get(SA_RUNBOOK_TARGET),
      state,
      ...(state !== own ? { ownState: own } : {}),
      ...('stuck' in health && health.stuck ? { stuck: health.stuck } : {}),
      awaitingHuman: sa.get(SA_AWAITING_HUMAN),
      startTime: wf.startTime.toISOString(),
      status: wf.status.name,
    });
  }
  return filter.state === 'stuck' ? runs.filter((r) => r.state === 'stuck') : runs;
}

/** A JSON object from `--input` (text, or `@file`). */
export function parseInputFlag(raw: string | undefined): Record<string, unknown> {
  if (raw === undefined) return {};
  let text = raw;
  let where = '--input';
  if (raw.startsWith('@')) {
    where = `--input file ${raw.slice(1)}`;
    try {
      text = fs.readFileSync(raw.slice(1), 'utf8');
    } catch (err) {
      throw badInput(`cannot read ${where}: ${(err as Error).message}`);
    }
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw badInput(`${where} is not valid JSON: ${(err as Error).message}`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
    throw badInput(`${where} must be a JSON object, e.g. '{"field": "value"}'`);
  return parsed as Record<string, unknown>;
}
