/** The runbook catalogue: metadata for the CLI and docs, workflow functions for the worker. */
import type { RunbookMeta } from '../common/runbook';
import * as adopt from './adoptRepository';
import * as retention from './applyRetention';
import * as auditChain from './auditChainRecovery';
import * as corruptedConfig from './corruptedConfigRecovery';
import * as corruptedStore from './corruptedStoreRecovery';
import * as driverBackup from './driverBackup';
import * as drDrill from './drDrill';
import * as driverUpdate from './driverUpdate';
import * as failedDriverUpdate from './failedDriverUpdate';
import * as full from './fullBackup';
import * as health from './healthCheck';
import * as incremental from './incrementalBackup';
import * as offsite from './offsiteReplicate';
import * as panic from './panicRecovery';
import * as restore from './restore';
import * as verify from './verifyBackup';

export const RUNBOOKS: RunbookMeta[] = [
  corruptedStore.meta,
  full.meta,
  incremental.meta,
  verify.meta,
  restore.meta,
  offsite.meta,
  adopt.meta,
  retention.meta,
  corruptedConfig.meta,
  auditChain.meta,
  panic.meta,
  health.meta,
  driverUpdate.meta,
  failedDriverUpdate.meta,
  driverBackup.meta,
  drDrill.meta,
];

export function findRunbook(name: string): RunbookMeta | undefined {
  return RUNBOOKS.find((r) => r.name === name);
}
