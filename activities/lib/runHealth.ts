/**
 * A run as Temporal sees it, beside what the run says of itself: whether Temporal ended it (a run
 * terminated or timed out from outside cannot update its own status), and whether it is stuck — its
 * workflow task keeps failing (a runbook changed under it without `patched()`, or a bug), so it can
 * neither answer a query nor take a decision. Read from Temporal's describe call and the history.
 */
import type { WorkflowHandle } from '@temporalio/client';
import { temporal } from '@temporalio/proto';

/** A run counts as stuck once its workflow task has failed this many times in a row. */
export const STUCK_AFTER = 3;

const EventType = temporal.api.enums.v1.EventType;

export interface Stuck {
  /** How many times in a row its workflow task has failed. */
  failures: number;
  /** When the failing streak began (its first failed workflow task). */
  since?: string;
  /** The first line of that failure (later attempts of a streak are not written to the history). */
  failure: string;
}

export interface RunHealth {
  /** Temporal's execution status: RUNNING, COMPLETED, FAILED, TERMINATED, TIMED_OUT, CANCELLED, … */
  execution: string;
  closedAt?: string;
  /** How Temporal ended a run from outside (terminated): the reason and who did it. */
  endedBy?: { reason?: string; identity?: string };
  /** Its workflow task has failed STUCK_AFTER times in a row. */
  stuck?: Stuck;
  /** Its workflow task has failed at least once in a row: a decision or query will not get through. */
  failing?: Stuck;
}

function iso(t: temporal.api.history.v1.IHistoryEvent['eventTime']): string | undefined {
  if (!t?.seconds) return undefined;
  return new Date(Number(t.seconds) * 1000 + Math.floor((t.nanos ?? 0) / 1e6)).toISOString();
}

/** The last event of `type` in the run's history. */
export async function lastEvent(
  handle: WorkflowHandle,
  type: number,
): Promise<temporal.api.history.v1.IHistoryEvent | undefined> {
  const history = await handle.fetchHistory();
  return [...(history.events ?? [])].reverse().find((e) => e.eventType === type);
}

export async function runHealth(
  handle: WorkflowHandle,
  describe?: Awaited<ReturnType<WorkflowHandle['describe']>>,
): Promise<RunHealth> {
  const d = describe ?? (await handle.describe());
  const health: RunHealth = { execution: d.status.name, closedAt: d.closeTime?.toISOString() };
  if (d.status.name === 'TERMINATED') {
    const e = await lastEvent(handle, EventType.EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED);
    const a = e?.workflowExecutionTerminatedEventAttributes;
    health.endedBy = { reason: a?.reason || undefined, identity: a?.identity || undefined };
  }
  // The pending task's attempt counts itself: attempt n follows n - 1 failures in a row.
  const failures = Math.max(0, (d.raw.pendingWorkflowTask?.attempt ?? 1) - 1);
  if (d.status.name === 'RUNNING' && failures >= 1) {
    const e = await lastEvent(handle, EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED);
    const message = e?.workflowTaskFailedEventAttributes?.failure?.message ?? 'no failure recorded';
    health.failing = { failures, since: iso(e?.eventTime), failure: message.split('\n')[0] };
    if (failures >= STUCK_AFTER) health.stuck = health.failing;
  }
  return health;
}

/** What a responder can do about a stuck run, with the commands to type. */
export function stuckAdvice(workflowId: string, stuck: Stuck): string[] {
  return [
    `STUCK: its workflow task has failed ${stuck.failures} time(s) in a row${stuck.since ? ` since ${stuck.since}` : ''}: ${stuck.failure}`,
    'No query or decision reaches it until it runs again. Either:',
    '  - roll the worker back to the version that started the run: it then goes on where it waits; or',
    `  - start it over on the new code: temporal workflow reset --workflow-id ${workflowId} --type FirstWorkflowTask --reason "replaced by a new Lifeboat version"`,
    '    (its steps run again and it waits again at its gates; the audit ledger keeps what the old run did).',
  ];
}

/** The state to show for a run: Temporal's word when Temporal ended it, `stuck`, or the run's own. */
export function shownState(own: string | undefined, health: Pick<RunHealth, 'execution' | 'stuck'>): string {
  if (health.stuck) return 'stuck';
  const open = own === undefined || own === 'running' || own === 'waiting';
  if (health.execution !== 'RUNNING' && health.execution !== 'COMPLETED' && open)
    return health.execution.toLowerCase().replaceAll('_', ' ');
  return own ?? health.execution.toLowerCase();
}
