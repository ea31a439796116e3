/** The runbook catalogue: metadata for the CLI and docs, workflow functions for the worker. */
import type { RunbookMeta } from '../common/runbook';
import * as corruptedStore from './corruptedStoreRecovery';

export const RUNBOOKS: RunbookMeta[] = [corruptedStore.meta];

export function findRunbook(name: string): RunbookMeta | undefined {
  return RUNBOOKS.find((r) => r.name === name);
}
