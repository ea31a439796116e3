/** fullBackup — procedure 003 §3.1, §5: the whole storage root, encrypted, verified, retained. */
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

export const meta: RunbookMeta = {
  name: 'fullBackup',
  title: 'Full backup of a storage root',
  summary:
    'Locks the target, quiesces it, snapshots SQLite databases with the Online Backup API, archives every file with its SHA-256 into one OpenPGP-encrypted archive written atomically, reads it back to verify it, copies it offsite and applies retention.',
  source: '003_8b72c7da6d2bed8c.txt — §3.1 full backup, §4 manifest, §5 creation protocol, §9 storage rules',
  objectives: { rpoMinutes: 1440 },
  input: { onBusy: ON_BUSY_FIELD },
  gates: { breakLock: BREAK_LOCK_GATE },
  requires: ['root', 'repository', 'encryption'],
  stops: [
    "the target is locked by another run (retry later; with onBusy 'skip' the run ends as skipped instead) or by a dead one (approve breakLock)",
    'the root holds a symbolic link or special file (named)',
    'not enough disk space in the repository (figures given)',
    'the quiesce or resume command fails',
    'the backup does not verify when read back',
  ],
  flow: [
    { id: 'resolveTarget', label: 'find the target in the worker config', next: ['acquireLock'] },
    {
      id: 'acquireLock',
      label: "take the target's lock",
      next: [
        { to: 'quiesce', when: 'acquired' },
        { to: 'gate:breakLock', when: 'left by a run that is gone' },
        { to: 'end:skipped', when: "held by a live run, onBusy 'skip'" },
      ],
    },
    { id: 'gate:breakLock', label: 'approve breaking the stale lock', next: ['breakLock'] },
    { id: 'breakLock', label: 'break the stale lock', next: ['acquireLock'] },
    { id: 'quiesce', label: 'run the quiesce command (if configured)', next: ['writeBackup'] },
    {
      id: 'writeBackup',
      label: 'snapshot databases, hash, archive, encrypt, write atomically',
      next: [
        { to: 'resume', when: 'quiesced' },
        { to: 'releaseLock', when: 'no quiesce command' },
      ],
    },
    { id: 'resume', label: 'run the resume command', next: ['releaseLock'] },
    { id: 'releaseLock', label: "release the target's lock", next: ['verifyBackup'] },
    { id: 'verifyBackup', label: 'read the backup back and verify it', next: ['offsiteReplicate'] },
    { id: 'offsiteReplicate', label: 'copy it offsite (if configured)', next: ['retention'] },
    { id: 'retention', label: 'apply retention', next: ['end:completed'] },
    { id: 'end:completed', label: 'backed up and verified' },
    { id: 'end:skipped', label: 'nothing done: the target was busy' },
  ],
};

export async function fullBackup(input: {
  target: string;
  onBusy?: OnBusy;
}): Promise<RunOutcome<BackupResult | BusySkipped>> {
  return runRunbook(meta, input, (run) => backupFlow(run, 'full', false, input.onBusy));
}

/** What the registry (runbooks/registry.ts), the CLI and the docs know of this runbook. */
fullBackup.meta = meta;
