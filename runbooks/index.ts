/**
 * The runbook registry: one line per runbook. Adding a runbook is its file (which sets
 * `<name>.meta = meta`) plus one line here; the worker's workflows (runbooks/workflows.ts), the
 * CLI's list, the docs and the tests all derive from this list (runbooks/registry.ts), and a test
 * fails when a runbook file is not registered here.
 */
export { adoptRepository } from './adoptRepository';
export { applyRetention } from './applyRetention';
export { auditChainRecovery } from './auditChainRecovery';
export { corruptedConfigRecovery } from './corruptedConfigRecovery';
export { corruptedStoreRecovery } from './corruptedStoreRecovery';
export { drDrill } from './drDrill';
export { driverBackup } from './driverBackup';
export { driverUpdate } from './driverUpdate';
export { failedDriverUpdate } from './failedDriverUpdate';
export { fullBackup } from './fullBackup';
export { healthCheck } from './healthCheck';
export { incrementalBackup } from './incrementalBackup';
export { lostAuthTokens } from './lostAuthTokens';
export { mergeRestore } from './mergeRestore';
export { migration } from './migration';
export { offsiteReplicate } from './offsiteReplicate';
export { panicRecovery } from './panicRecovery';
export { restore } from './restore';
export { verifyBackup } from './verifyBackup';
