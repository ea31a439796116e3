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
export { corruptedDriverStore } from './corruptedDriverStore';
export { corruptedStoreRecovery } from './corruptedStoreRecovery';
export { drDrill } from './drDrill';
export { driverBackup } from './driverBackup';
export { driverSetRestore } from './driverSetRestore';
export { driverUpdate } from './driverUpdate';
export { exportScope } from './exportScope';
export { failedDriverUpdate } from './failedDriverUpdate';
export { fleet } from './fleet';
export { fullBackup } from './fullBackup';
export { fullSystemRestore } from './fullSystemRestore';
export { healthCheck } from './healthCheck';
export { importScope } from './importScope';
export { incrementalBackup } from './incrementalBackup';
export { lostAuthTokens } from './lostAuthTokens';
export { mergeRestore } from './mergeRestore';
export { migration } from './migration';
export { offsiteReplicate } from './offsiteReplicate';
export { panicRecovery } from './panicRecovery';
export { proofRestore } from './proofRestore';
export { restore } from './restore';
export { verifyBackup } from './verifyBackup';
