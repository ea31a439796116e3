/** The runbook catalogue: metadata for the CLI and docs, workflow functions for the worker. */
import type { RunbookMeta } from '../common/runbook';
import * as retention from './applyRetention';
import * as corruptedStore from './corruptedStoreRecovery';
import * as full from './fullBackup';
import * as incremental from './incrementalBackup';
import * as offsite from './offsiteReplicate';
import * as restore from './restore';
import * as verify from './verifyBackup';

export const RUNBOOKS: RunbookMeta[] = [
  corruptedStore.meta,
  full.meta,
  incremental.meta,
  verify.meta,
  restore.meta,
  offsite.meta,
  retention.meta,
];

export function findRunbook(name: string): RunbookMeta | undefined {
  return RUNBOOKS.find((r) => r.name === name);
}
