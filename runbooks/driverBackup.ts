/**
 * driverBackup — procedure 000 §2.1, §2.3 and §5: checks free space, exports every third-party
 * driver (`pnputil /export-driver *`) into a new set under `<backups>/sets/`, validates it (an .inf
 * in every package folder, no empty file, as many packages as the store lists) and keeps the newest
 * driverStore.keepSets valid sets.
 */
import { workflowInfo } from '@temporalio/workflow';
import type { RunbookMeta } from '../common/runbook';
import { runTagOf } from '../common/tags';
import type { RunOutcome } from '../common/types';
import { runRunbook } from '../workflows/engine';

export const meta: RunbookMeta = {
  name: 'driverBackup',
  title: 'Full driver backup',
  summary:
    'Exports every third-party driver package into a new validated backup set and keeps the last driverStore.keepSets valid sets (never removing the newest valid one).',
  source: '000_be3e8dfd50981456.txt — §2.1 driver backup, §2.3 backup validation, §5 retention',
  input: {},
  gates: {},
  requires: ['driverStore'],
  stops: [
    'less free space in the backups folder than driverStore.minFreeBytes (the figures are shown)',
    'the export fails or runs past driverStore.timeoutSeconds (nothing of it is kept)',
    'the new set does not validate: a package folder without .inf, an empty file, or fewer packages than the store lists',
  ],
  flow: [
    { id: 'resolveTarget', label: 'find the target in the worker config', next: ['checkDiskSpace'] },
    { id: 'checkDiskSpace', label: 'check free space in the backups folder', next: ['exportDriverSet'] },
    {
      id: 'exportDriverSet',
      label: 'export every third-party driver into a new set and validate it',
      next: ['pruneDriverSets'],
    },
    { id: 'pruneDriverSets', label: 'keep the newest keepSets valid sets', next: ['end:completed'] },
    { id: 'end:completed' },
  ],
};

export interface DriverBackupResult {
  set: string;
  drivers: number;
  files: number;
  bytes: number;
  kept: string[];
  removed: string[];
  /** Sets that do not validate; left in place and named so a human can look at them. */
  invalid: { folder: string; problem?: string }[];
}

// The export heartbeats per file; a silent pnputil is bounded by driverStore.timeoutSeconds.
const STORE_CALL = { startToCloseTimeout: '2 hours', heartbeatTimeout: '30 seconds' } as const;

export async function driverBackup(input: { target: string }): Promise<RunOutcome<DriverBackupResult>> {
  return runRunbook(meta, input, async (run) => {
    const target = run.target.name;
    const info = workflowInfo();
    const tag = runTagOf(info.startTime, info.runId);
    const space = await run.step('checkDiskSpace', 'checkDriverDiskSpace', [target]);
    run.fact('freeBytes', space.freeBytes);
    const set = await run.step(
      'exportDriverSet',
      'exportDriverSet',
      [target, tag, info.workflowId],
      STORE_CALL,
    );
    run.fact('set', set.set);
    const pruned = await run.step('pruneDriverSets', 'pruneDriverSets', [target]);
    return {
      ...set,
      kept: pruned.kept,
      removed: pruned.removed,
      invalid: pruned.invalid.map((c) => ({ folder: c.folder, problem: c.problem })),
    };
  });
}

/** What the registry (runbooks/registry.ts), the CLI and the docs know of this runbook. */
driverBackup.meta = meta;
