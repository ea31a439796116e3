/**
 * Many child runs at once, for a run over many targets (runbooks/fleet.ts): `runWave()` starts one
 * child per row with `run.child()` (each listed among the steps as `<flowNode>:<target>`, all under
 * the one flow node), keeps every row of the table current — when a child ends, and while children
 * run, when one starts or stops waiting for a person (the `fleetChildStates` watch) — and returns
 * once every child of the wave has ended.
 *
 * A stop of the parent cancels every child; the wave waits until each has ended (its compensations
 * run) before the parent goes on to end stopped: a parent that closed first would terminate them.
 */
import * as wf from '@temporalio/workflow';
import { CancellationScope, isCancellation } from '@temporalio/workflow';
import type { Activities } from '../../activities';
import type { FleetChildState } from '../../activities/fleet';
import type { ChildReport } from '../../common/types';
import { describeFailure, nowIso } from './failure';
import type { RunbookRun } from './run';

/** Where a target's child run stands in the table. */
export type FleetRowState = 'not started' | 'running' | 'waiting' | 'completed' | 'failed' | 'stopped';

/** One row of a fleet's table: the target, how its child run stands or ended, and where to see it. */
export interface FleetRow {
  target: string;
  /** The wave it runs in (1 is the canary where there is one). */
  wave: number;
  workflowId: string;
  state: FleetRowState;
  /** The child's outcome when it completed; why it failed or stopped; where it waits. */
  outcome?: string;
  /** Set while it waits: for a person at a gate, or at a failure (which counts as an error). */
  waitingAt?: 'gate' | 'failure';
  startedAt?: string;
  endedAt?: string;
  durationMs?: number;
  /** The child's page in the Temporal UI, from the UI's address. */
  link: string;
}

/** Whether a row counts against the fleet's maxErrors: failed, stopped, waiting at a failure, or a failed outcome. */
export function isError(row: FleetRow): boolean {
  return (
    row.state === 'failed' ||
    row.state === 'stopped' ||
    (row.state === 'waiting' && row.waitingAt === 'failure') ||
    (row.state === 'completed' && row.outcome === 'failed')
  );
}

const watcher = wf.proxyActivities<Activities>({
  // Why long: the watch answers when a child starts or stops waiting, else after 10 minutes anyway.
  startToCloseTimeout: '15 minutes',
  // Why: a watch on a worker that died is noticed within seconds and started again elsewhere.
  heartbeatTimeout: '30 seconds',
  retry: { initialInterval: '1 second', maximumInterval: '30 seconds', maximumAttempts: 5 },
});

function ended(row: FleetRow, report: Pick<ChildReport, 'state' | 'outcome' | 'error'>): void {
  row.state = report.state;
  row.outcome = report.state === 'completed' ? (report.outcome ?? 'completed') : report.error;
  row.waitingAt = undefined;
  row.endedAt = nowIso();
  row.durationMs = Date.parse(row.endedAt) - Date.parse(row.startedAt ?? row.endedAt);
}

function observed(row: FleetRow, state: FleetChildState): void {
  if (row.endedAt || state.state === 'unknown') return;
  if (state.waiting) {
    const { kind, step, reason } = state.waiting;
    row.state = 'waiting';
    row.waitingAt = kind;
    row.outcome = kind === 'gate' ? `waits at ${step}: ${reason}` : `waits after ${step} failed: ${reason}`;
  } else {
    row.state = 'running';
    row.waitingAt = undefined;
    row.outcome = undefined;
  }
}

const keyOf = (row: FleetRow) => (row.state === 'waiting' ? `${row.waitingAt}:${row.outcome}` : '');

/**
 * Runs `runbook` on every row's target at once (input `{...input, target}`, workflow id
 * `row.workflowId`) and returns when all have ended. `changed()` is called whenever a row changed.
 * Returns what kept the watch from working, if anything did (the rows then change only as children end).
 */
export async function runWave(
  run: RunbookRun,
  rows: FleetRow[],
  spec: { runbook: string; input: Record<string, unknown>; flowNode: string },
  changed: () => void,
): Promise<{ watchProblem?: string }> {
  let endedCount = 0;
  let bug: unknown;
  const children = rows.map((row) => {
    Object.assign(row, { state: 'running', startedAt: nowIso() });
    return run
      .child(
        `${spec.flowNode}:${row.target}`,
        spec.runbook,
        { ...spec.input, target: row.target },
        { workflowId: row.workflowId, flowNode: spec.flowNode },
      )
      .then(
        (report) => ended(row, report),
        (err: unknown) => {
          if (isCancellation(err)) ended(row, { state: 'stopped', error: 'stopped with the fleet' });
          else bug ??= err;
        },
      )
      .finally(() => {
        endedCount += 1;
        changed();
      });
  });
  changed();
  // What each child waited at when last seen, so the watch answers only when that changes.
  const waitKeys = new Map<string, string>();
  let watchProblem: string | undefined;
  try {
    while (endedCount < rows.length) {
      const seen = endedCount;
      const live = rows.filter((r) => !r.endedAt);
      if (watchProblem) {
        await wf.condition(() => endedCount !== seen);
        continue;
      }
      let answer: FleetChildState[] | undefined;
      let done = false;
      const scope = new CancellationScope();
      const watching = scope
        .run(() =>
          watcher.fleetChildStates.executeWithOptions(
            {
              summary: `watch ${live.length} child run(s) for a wait: ${live.map((r) => r.target).join(', ')}`,
            },
            [
              live.map((r) => r.workflowId),
              Object.fromEntries(live.map((r) => [r.workflowId, waitKeys.get(r.workflowId) ?? ''])),
            ],
          ),
        )
        .then(
          (states) => void (answer = states),
          (err: unknown) => {
            if (!isCancellation(err)) watchProblem = describeFailure(err).message;
          },
        )
        .finally(() => (done = true));
      await wf.condition(() => endedCount !== seen || done);
      if (!done) {
        scope.cancel();
        await watching;
      }
      for (const state of answer ?? []) {
        const row = live.find((r) => r.workflowId === state.workflowId);
        if (!row || state.state === 'unknown') continue;
        waitKeys.set(state.workflowId, state.waiting ? `${state.waiting.kind}:${state.waiting.step}` : '');
        const before = keyOf(row);
        observed(row, state);
        if (keyOf(row) !== before) changed();
      }
    }
  } catch (err) {
    if (!isCancellation(err)) throw err;
    // Stopped: every child was cancelled too; it ends (compensated) before the parent may.
    await CancellationScope.nonCancellable(() => Promise.all(children));
    throw err;
  }
  if (bug) throw bug;
  return watchProblem ? { watchProblem } : {};
}
