/** Every runbook's workflow function: the worker's `workflowsPath`. */
import { ApplicationFailure, workflowInfo } from '@temporalio/workflow';
import { INVALID_INPUT } from '../common/errors';
import { RUNBOOKS } from '../runbooks';

export { applyRetention } from '../runbooks/applyRetention';
export { corruptedStoreRecovery } from '../runbooks/corruptedStoreRecovery';
export { fullBackup } from '../runbooks/fullBackup';
export { incrementalBackup } from '../runbooks/incrementalBackup';
export { offsiteReplicate } from '../runbooks/offsiteReplicate';
export { restore } from '../runbooks/restore';
export { verifyBackup } from '../runbooks/verifyBackup';

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
