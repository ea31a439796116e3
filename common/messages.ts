/**
 * The run's message contract, defined once and used by the workflow, the CLI and the tests.
 *
 * Every decision exists twice: as an Update (validated synchronously, the caller learns at once
 * whether it was accepted and why not) and as a Signal of the same name for the Temporal UI and
 * `temporal workflow signal`. A signal goes through the same checks; a refused one changes nothing
 * and is recorded in the status and the audit ledger as refused.
 */
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type { SignedDecision } from './statements';
import type { DecisionRecord, RunStatus, StepRecord, WaitingFor } from './types';

export interface ApproveArgs {
  /** Who approves, in the operator's words (a person's name or handle). */
  actor: string;
  /** The gate to approve; defaults to the gate the run waits at. */
  gate?: string;
  comment?: string;
  /** At a signed gate: the statement and its signature (`lifeboat approve --key` makes them). */
  signed?: SignedDecision;
}
export interface RetryArgs {
  actor: string;
  comment?: string;
  /** In a run whose target has a signed gate. */
  signed?: SignedDecision;
}
export type SkipArgs = RetryArgs;
export interface StopArgs {
  actor: string;
  /** Why the run is stopped; required. */
  reason: string;
  /** Where the target says `signedStop`. */
  signed?: SignedDecision;
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

/** The `summary` Query's answer: what a responder needs first, with no step results. */
export interface RunSummary {
  state: RunStatus['state'];
  runbook: string;
  target: string;
  waiting?: WaitingFor;
  decisions: DecisionRecord[];
  /** How the run ended: its result's outcome, `stopped by …`, or the error. */
  outcome?: string;
  currentStep?: string;
  steps: Pick<StepRecord, 'name' | 'state' | 'attempts' | 'error'>[];
  startedAt: string;
  endedAt?: string;
}
export const summaryQuery = defineQuery<RunSummary>('summary');

const AS_UPDATE =
  ' As an Update the run answers at once whether it accepted and why not; a refused Signal changes nothing and shows on the run page (current details) and in the status.';

/** What the Temporal UI shows beside each handler's name: what it does and the input it takes. */
export const HANDLER_DESCRIPTIONS = {
  status:
    'The full status: state, the waiting block (gate or failed step, reason, plan, approvals, decisions allowed), every step with its result, decisions and facts. No input. For a short answer use `summary`.',
  summary:
    'The status without step results: state, the waiting block, decisions and the outcome first. No input.',
  approve: `Approve the gate the run waits at. Input: {"actor": "<your name>", "comment": "<why, optional>"} (optionally "gate": "<name>", checked against the gate waiting). Only while the run waits at a gate, from an allowed approver, once per person. At a signed gate this form cannot sign: run the \`lifeboat approve … --key\` line the run's page shows.${AS_UPDATE}`,
  retry: `Run the failed step again (or go on after a hold, once its work is done). Input: {"actor": "<your name>", "comment": "<optional>"}. Only while a failed step or a hold waits, never at a gate.${AS_UPDATE}`,
  skip: `Go on without the failed step, where the runbook allows it. Input: {"actor": "<your name>", "comment": "<optional>"}. Only while a skippable step waits.${AS_UPDATE}`,
  stop: `Stop the run: the running step is cancelled, compensations put back what earlier steps changed, and the run ends as stopped. Input: {"actor": "<your name>", "reason": "<why, required>"}. Any time before the run ends.${AS_UPDATE}`,
} as const;
