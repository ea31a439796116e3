/**
 * The run's message contract, defined once and used by the workflow, the CLI and the tests.
 *
 * Every decision exists twice: as an Update (validated synchronously, the caller learns at once
 * whether it was accepted and why not) and as a Signal of the same name for the Temporal UI and
 * `temporal workflow signal`. A signal goes through the same checks; a refused one changes nothing
 * and is recorded in the status and the audit ledger as refused.
 */
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type { RunStatus } from './types';

export interface ApproveArgs {
  /** Who approves, in the operator's words (a person's name or handle). */
  actor: string;
  /** The gate to approve; defaults to the gate the run waits at. */
  gate?: string;
  comment?: string;
}
export interface RetryArgs {
  actor: string;
  comment?: string;
}
export type SkipArgs = RetryArgs;
export interface StopArgs {
  actor: string;
  /** Why the run is stopped; required. */
  reason: string;
}

/** What an accepted decision did. */
export interface DecisionReceipt {
  accepted: true;
  action: 'approve' | 'retry' | 'skip' | 'stop';
  message: string;
}

export const approveUpdate = defineUpdate<DecisionReceipt, [ApproveArgs]>('approve');
export const retryUpdate = defineUpdate<DecisionReceipt, [RetryArgs]>('retry');
export const skipUpdate = defineUpdate<DecisionReceipt, [SkipArgs]>('skip');
export const stopUpdate = defineUpdate<DecisionReceipt, [StopArgs]>('stop');

export const approveSignal = defineSignal<[ApproveArgs]>('approve');
export const retrySignal = defineSignal<[RetryArgs]>('retry');
export const skipSignal = defineSignal<[SkipArgs]>('skip');
export const stopSignal = defineSignal<[StopArgs]>('stop');

export const statusQuery = defineQuery<RunStatus>('status');
