/** Every runbook's workflow function: the worker's `workflowsPath`. */
export { corruptedStoreRecovery } from '../runbooks/corruptedStoreRecovery';
