/** fullBackup — procedure 003 §3.1, §5: the whole storage root, encrypted, verified, retained. */
import type { RunbookMeta } from '../common/runbook';
import type { RunOutcome } from '../common/types';
import { runRunbook } from '../workflows/engine';
import { BREAK_LOCK_GATE, backupFlow, type BackupResult } from './backupSteps';

export const meta: RunbookMeta = {
  name: 'fullBackup',
  title: 'Full backup of a storage root',
  summary:
    'Locks the target, quiesces it, snapshots SQLite databases with the Online Backup API, archives every file with its SHA-256 into one OpenPGP-encrypted archive written atomically, reads it back to verify it, copies it offsite and applies retention.',
  source: '003_8b72c7da6d2bed8c.txt — §3.1 full backup, §4 manifest, §5 creation protocol, §9 storage rules',
  objectives: { rpoMinutes: 1440 },
  input: {},
  gates: { breakLock: BREAK_LOCK_GATE },
  requires: ['root', 'repository', 'encryption'],
  stops: [
    'the target is locked by another run (retry later) or by a dead one (approve breakLock)',
    'the root holds a symbolic link or special file (named)',
    'not enough disk space in the repository (figures given)',
    'the quiesce or resume command fails',
    'the backup does not verify when read back',
  ],
};

export async function fullBackup(input: { target: string }): Promise<RunOutcome<BackupResult>> {
  return runRunbook(meta, input, (run) => backupFlow(run, 'full', false));
}
