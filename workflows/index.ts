/** Every runbook's workflow function: the worker's `workflowsPath`. */
import { ApplicationFailure, workflowInfo } from '@temporalio/workflow';
import { INVALID_INPUT } from '../common/errors';
import { RUNBOOKS } from '../runbooks';

export { adoptRepository } from '../runbooks/adoptRepository';
export { applyRetention } from '../runbooks/applyRetention';
export { auditChainRecovery } from '../runbooks/auditChainRecovery';
export { corruptedConfigRecovery } from '../runbooks/corruptedConfigRecovery';
export { corruptedStoreRecovery } from '../runbooks/corruptedStoreRecovery';
export { driverBackup } from '../runbooks/driverBackup';
export { drDrill } from '../runbooks/drDrill';
export { driverUpdate } from '../runbooks/driverUpdate';
export { failedDriverUpdate } from '../runbooks/failedDriverUpdate';
export { fullBackup } from '../runbooks/fullBackup';
export { healthCheck } from '../runbooks/healthCheck';
export { incrementalBackup } from '../runbooks/incrementalBackup';
export { offsiteReplicate } from '../runbooks/offsiteReplicate';
export { panicRecovery } from '../runbooks/panicRecovery';
export { restore } from '../runbooks/restore';
export { verifyBackup } from '../runbooks/verifyBackup';
export { sweepStuckRuns } from './sweep';

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
