/**
 * Who polls a task queue, and when each was last seen (Temporal's DescribeTaskQueue): how the CLI
 * lists workers and agents, and how a run names an agent that stopped polling.
 */
import type { Client } from '@temporalio/client';
import { temporal } from '@temporalio/proto';

export interface Poller {
  identity: string;
  lastAccess?: string;
}

export async function queuePollers(
  client: Client,
  taskQueue: string,
  type: 'workflow' | 'activity',
  namespace = client.options.namespace,
): Promise<Poller[]> {
  const answer = await client.workflowService.describeTaskQueue({
    namespace,
    taskQueue: { name: taskQueue, kind: temporal.api.enums.v1.TaskQueueKind.TASK_QUEUE_KIND_NORMAL },
    taskQueueType:
      type === 'workflow'
        ? temporal.api.enums.v1.TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW
        : temporal.api.enums.v1.TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY,
  });
  return (answer.pollers ?? []).map((p) => ({
    identity: p.identity ?? '?',
    lastAccess: p.lastAccessTime?.seconds
      ? new Date(Number(p.lastAccessTime.seconds) * 1000).toISOString()
      : undefined,
  }));
}

/** The newest time any poller of the queue was seen; undefined when none has been. */
export function lastSeen(pollers: Poller[]): string | undefined {
  return pollers
    .map((p) => p.lastAccess)
    .filter((t): t is string => t !== undefined)
    .sort()
    .at(-1);
}
