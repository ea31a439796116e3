/**
 * Finding and listing schedules: one by id (an unknown id is bad input naming it), or all of them as
 * `schedule list` shows them, each with its last run and that run's outcome.
 */
import {
  ScheduleNotFoundError,
  WorkflowNotFoundError,
  type Client,
  type ScheduleDescription,
  type ScheduleHandle,
} from '@temporalio/client';
import { SA_RUNBOOK_STATE } from '../../common/constants';
import { badInput } from '../runs';
import type { ScheduleMemo } from './create';

/** Maps an unknown schedule to bad input naming it; anything else is rethrown. */
export async function onSchedule<T>(
  client: Client,
  scheduleId: string,
  action: (handle: ScheduleHandle) => Promise<T>,
): Promise<T> {
  try {
    return await action(client.schedule.getHandle(scheduleId));
  } catch (err) {
    if (err instanceof ScheduleNotFoundError)
      throw badInput(
        `no schedule '${scheduleId}' in namespace '${client.options.namespace}' (lifeboat schedule list shows them)`,
      );
    throw err;
  }
}

/** Describes a schedule; an unknown id is bad input naming it. */
export async function describeSchedule(
  client: Client,
  scheduleId: string,
): Promise<{ handle: ScheduleHandle; description: ScheduleDescription }> {
  return onSchedule(client, scheduleId, async (handle) => ({ handle, description: await handle.describe() }));
}

function memoOf(description: { memo?: Record<string, unknown> }): Partial<ScheduleMemo> {
  const memo = description.memo?.lifeboat;
  return typeof memo === 'object' && memo !== null ? (memo as Partial<ScheduleMemo>) : {};
}

/** The last run a schedule started: its state, and a completed run's outcome if it names one. */
export interface LastRun {
  workflowId: string;
  startedAt: string;
  state: string;
  outcome?: string;
  reason?: string;
}

export interface ScheduleRow {
  scheduleId: string;
  runbook: string;
  target?: string;
  spec: string;
  paused: boolean;
  note?: string;
  nextRun: string | null;
  lastRun: LastRun | null;
}

function describeSpec(description: ScheduleDescription): string {
  const memo = memoOf(description);
  if (memo.spec) return memo.spec;
  const intervals = description.spec.intervals?.map((i) => `every ${i.every / 1000}s`) ?? [];
  const calendars = description.spec.calendars?.length
    ? [`${description.spec.calendars.length} calendar(s)`]
    : [];
  return [...intervals, ...calendars].join(', ') || '?';
}

async function lastRunOf(client: Client, description: ScheduleDescription): Promise<LastRun | undefined> {
  const last = description.info.recentActions.at(-1);
  if (!last) return undefined;
  const { workflowId, firstExecutionRunId } = last.action.workflow;
  const run: LastRun = { workflowId, startedAt: last.takenAt.toISOString(), state: 'unknown' };
  try {
    const handle = client.workflow.getHandle(workflowId, firstExecutionRunId);
    const wf = await handle.describe();
    run.state = wf.typedSearchAttributes.get(SA_RUNBOOK_STATE) ?? wf.status.name.toLowerCase();
    if (wf.status.name === 'COMPLETED') {
      const outcome = ((await handle.result()) as { result?: { outcome?: unknown; reason?: unknown } })
        .result;
      if (typeof outcome?.outcome === 'string') run.outcome = outcome.outcome;
      if (typeof outcome?.reason === 'string') run.reason = outcome.reason;
    }
  } catch (err) {
    // A run removed by the namespace's retention: say so rather than fail the list.
    if (!(err instanceof WorkflowNotFoundError)) throw err;
  }
  return run;
}

/** A schedule as `schedule list` shows it. */
export async function scheduleRow(client: Client, description: ScheduleDescription): Promise<ScheduleRow> {
  const memo = memoOf(description);
  return {
    scheduleId: description.scheduleId,
    runbook: memo.runbook ?? description.action.workflowType,
    target: memo.target,
    spec: describeSpec(description),
    paused: description.state.paused,
    note: description.state.note,
    nextRun: description.state.paused ? null : (description.info.nextActionTimes[0]?.toISOString() ?? null),
    lastRun: (await lastRunOf(client, description)) ?? null,
  };
}

/**
 * Every schedule of the namespace (optionally of one target), described one by one so that paused
 * state and recent runs are current even where the visibility store lags.
 */
export async function listSchedules(
  client: Client,
  filter: { target?: string } = {},
): Promise<ScheduleRow[]> {
  const rows: ScheduleRow[] = [];
  for await (const summary of client.schedule.list()) {
    let description: ScheduleDescription;
    try {
      description = await client.schedule.getHandle(summary.scheduleId).describe();
    } catch (err) {
      if (err instanceof ScheduleNotFoundError) continue; // deleted since the list was read
      throw err;
    }
    const row = await scheduleRow(client, description);
    if (filter.target === undefined || row.target === filter.target) rows.push(row);
  }
  return rows.sort((a, b) => a.scheduleId.localeCompare(b.scheduleId));
}

export function formatLastRun(run: LastRun | null): string {
  if (!run) return 'no run yet';
  const outcome = run.outcome ? ` (${run.outcome}${run.reason ? `: ${run.reason}` : ''})` : '';
  return `${run.state}${outcome} ${run.workflowId}`;
}
