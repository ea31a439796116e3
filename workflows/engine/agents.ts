/**
 * Where a step's activity runs: on the agent that holds the run's target (its own task queue, with a
 * schedule-to-start timeout), or on the control plane for its own targets and for the ledger, the
 * registry and notifications. An agent that is not polling, or that lacks the activity (an older
 * build), makes the step fail with a reason that names it, so the run waits and `retry` works once
 * the agent is back.
 */
import * as wf from '@temporalio/workflow';
import { ActivityFailure, ApplicationFailure, TimeoutFailure } from '@temporalio/workflow';
import type { Activities } from '../../activities';
import { CONTROL_PLANE_ACTIVITIES } from '../../common/agents';
import type { TargetView } from '../../common/types';

export type Route = NonNullable<TargetView['agent']>;

/** The agent an activity of this target runs on; undefined: the control plane (the run's own queue). */
export function routeOf(target: TargetView | undefined, activity: string): Route | undefined {
  if (!target?.agent || CONTROL_PLANE_ACTIVITIES.has(activity)) return undefined;
  return target.agent;
}

/** Activity options that send it to the agent's queue. */
export function routeOptions(route: Route | undefined): {
  taskQueue?: string;
  scheduleToStartTimeout?: number;
} {
  return route ? { taskQueue: route.taskQueue, scheduleToStartTimeout: route.timeoutSeconds * 1000 } : {};
}

/** Refuses, before scheduling it, an activity the agent's build does not have. */
export function checkAgentHas(route: Route | undefined, activity: string): void {
  if (route && !route.activities.includes(activity))
    throw ApplicationFailure.nonRetryable(
      `agent '${route.name}' (${route.build}) has no activity '${activity}', which this step needs: upgrade the agent to this Lifeboat version, then retry`,
      'AgentLacksActivity',
    );
}

const lookup = wf.proxyActivities<Activities>({
  startToCloseTimeout: '30 seconds',
  retry: { maximumAttempts: 3 },
});

/** The failure in words when the agent did not pick the task up; undefined for any other failure. */
export async function agentNotPolling(
  route: Route | undefined,
  err: unknown,
): Promise<{ type: string; message: string } | undefined> {
  if (!route || !(err instanceof ActivityFailure) || !(err.cause instanceof TimeoutFailure)) return undefined;
  if (err.cause.timeoutType !== 'SCHEDULE_TO_START') return undefined;
  const seen = await lookup.agentLastSeen
    .executeWithOptions({ summary: `when agent ${route.name} was last seen` }, [route.name, route.taskQueue])
    .catch(() => undefined);
  return {
    type: 'AgentNotPolling',
    message: `agent '${route.name}' is not polling its task queue ${route.taskQueue} (last seen ${seen ?? 'never'}): start it again (npm run agent on its host), then retry`,
  };
}
