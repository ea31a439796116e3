/**
 * What only a run's history says about it, for the run itself: who asked Temporal to cancel it (the
 * identity on the cancel-request event — the UI's user, or the `temporal` CLI's), so that the audit
 * records a person and not just "temporal".
 */
import type { Client } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { lastEvent } from './lib/runHealth';

export function createHistoryActivities(client?: () => Client) {
  return {
    /** `temporal (<identity>)` for the newest cancel request of the run, or `temporal` when unknown. */
    async cancelRequester(workflowId: string, runId: string): Promise<string> {
      if (!client) return 'temporal';
      const requested = await lastEvent(
        client().workflow.getHandle(workflowId, runId),
        temporal.api.enums.v1.EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CANCEL_REQUESTED,
      );
      const identity = requested?.workflowExecutionCancelRequestedEventAttributes?.identity?.trim();
      return identity ? `temporal (${identity})` : 'temporal';
    },
  };
}
