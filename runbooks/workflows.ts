/**
 * The worker's `workflowsPath`: every registered runbook (runbooks/index.ts), the control plane's
 * own workflows, and a default for workflow types that are neither.
 */
import { ApplicationFailure, workflowInfo } from '@temporalio/workflow';
import { INVALID_INPUT } from '../common/errors';
import { RUNBOOKS } from './registry';

export * from './index';
export { sweepStuckRuns } from '../workflows/sweep';
export { agentSession, forgetAgent } from '../workflows/agents';

/**
 * The dynamic workflow: any workflow type that is not a runbook (a typo in the Temporal UI's start
 * form, say) fails at once, non-retryably, naming the runbooks there are.
 */
export default async function unknownRunbook(): Promise<never> {
  throw ApplicationFailure.nonRetryable(
    `unknown runbook '${workflowInfo().workflowType}'; known runbooks: ${RUNBOOKS.map((r) => r.name).join(', ')}`,
    INVALID_INPUT,
  );
}
