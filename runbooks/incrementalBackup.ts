/** incrementalBackup — procedure 003 §3.2: only what changed since the newest backup. */
import type { RunbookMeta } from '../common/runbook';
import type { RunOutcome } from '../common/types';
import { runRunbook } from '../workflows/engine';
import {
  BREAK_LOCK_GATE,
  ON_BUSY_FIELD,
  backupFlow,
  type BackupResult,
  type BusySkipped,
  type OnBusy,
} from './backupSteps';
import { meta as fullBackupMeta } from './fullBackup';

export const meta: RunbookMeta = {
  name: 'incrementalBackup',
  title: 'Incremental backup of a storage root',
  summary:
    "Like fullBackup, but stores only files changed since the target's newest backup (changed databases as full snapshots), records deleted files, and names its parent; restoring it replays the chain.",
  source: '003_8b72c7da6d2bed8c.txt — §3.2 incremental backup (per-file sha256 diff model)',
  objectives: { rpoMinutes: 15 },
  input: {
    rehash: {
      type: 'boolean',
      description:
        'hash every file instead of trusting unchanged size and mtime (slower, catches silent edits)',
    },
    onBusy: ON_BUSY_FIELD,
  },
  gates: { breakLock: BREAK_LOCK_GATE },
  requires: ['root', 'repository', 'encryption'],
  stops: ['the target has no backup to be the parent (run fullBackup first)', ...fullBackupMeta.stops],
  // The same procedure as fullBackup, storing only what changed.
  flow: fullBackupMeta.flow,
};

export async function incrementalBackup(input: {
  target: string;
  rehash?: boolean;
  onBusy?: OnBusy;
}): Promise<RunOutcome<BackupResult | BusySkipped>> {
  return runRunbook(meta, input, (run) =>
    backupFlow(run, 'incremental', input.rehash ?? false, input.onBusy),
  );
}

/** What the registry (runbooks/registry.ts), the CLI and the docs know of this runbook. */
incrementalBackup.meta = meta;
