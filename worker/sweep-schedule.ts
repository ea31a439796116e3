/**
 * The Schedule that runs the control plane's stuck-run sweep (`sweepStuckRuns`, activities/stuck.ts)
 * every few minutes on a worker's task queue. The worker makes sure it exists when it starts; one per
 * task queue, so that workers of other queues (tests, other deployments) keep their own.
 */
import { ScheduleAlreadyRunning, ScheduleOverlapPolicy, type Client } from '@temporalio/client';

export const SWEEP_EVERY = '5 minutes';

export function sweepScheduleId(taskQueue: string): string {
  return `lifeboat-stuck-runs-${taskQueue}`;
}

/** Creates the sweep's Schedule unless it exists; returns its id. */
export async function ensureStuckRunSweep(client: Client, taskQueue: string): Promise<string> {
  const scheduleId = sweepScheduleId(taskQueue);
  try {
    await client.schedule.create({
      scheduleId,
      spec: { intervals: [{ every: SWEEP_EVERY }] },
      action: { type: 'startWorkflow', workflowType: 'sweepStuckRuns', taskQueue, args: [] },
      // Why SKIP: one sweep at a time; a sweep that overruns its interval is not doubled.
      policies: { overlap: ScheduleOverlapPolicy.SKIP },
      state: { note: 'lifeboat: finds runs whose workflow task keeps failing and tells their webhooks once' },
    });
  } catch (err) {
    if (!(err instanceof ScheduleAlreadyRunning)) throw err;
  }
  return scheduleId;
}
