/** verifyBackup — procedure 003 §14: read backups back completely and check everything. */
import type { RunbookMeta } from '../common/runbook';
import type { RunOutcome } from '../common/types';
import { runRunbook } from '../workflows/engine';
import { LONG } from './backupSteps';

export const meta: RunbookMeta = {
  name: 'verifyBackup',
  title: 'Verify backups',
  summary:
    "Decrypts one backup (default: the newest) or all of a target's, checks the manifest, every file's SHA-256 and every database's PRAGMA integrity_check (a database the last verification found sound in the same bytes under the same SQLite keeps that result unless recheckDatabases), and reports per backup; any failure stops the run naming it.",
  source: '003_8b72c7da6d2bed8c.txt — §14 integrity and verification',
  input: {
    backupId: { type: 'string', description: "a backup id, 'latest' (default) or 'all'" },
    recheckDatabases: {
      type: 'boolean',
      description:
        'run integrity_check on every database again, also those the last verification found sound in the same bytes',
    },
  },
  gates: {},
  requires: ['repository', 'encryption'],
  stops: ['a backup fails verification (each failure named: checksum, manifest, integrity, key)'],
  flow: [
    { id: 'resolveTarget', label: 'find the target in the worker config', next: ['verifyBackups'] },
    {
      id: 'verifyBackups',
      label: "decrypt and check the manifest, every file's SHA-256, every database",
      next: ['end:completed'],
    },
    { id: 'end:completed', label: 'every backup verified' },
  ],
};

export async function verifyBackup(input: { target: string; backupId?: string; recheckDatabases?: boolean }) {
  return runRunbook(meta, input, async (run) => {
    // The third argument only when asked for: a run started before it existed schedules what it did.
    const reports = await run.step(
      'verifyBackups',
      'verifyBackups',
      input.recheckDatabases
        ? [run.target.name, input.backupId ?? 'latest', { recheckDatabases: true }]
        : [run.target.name, input.backupId ?? 'latest'],
      LONG,
    );
    return { verified: reports.length, reports };
  }) as Promise<RunOutcome<{ verified: number }>>;
}

/** What the registry (runbooks/registry.ts), the CLI and the docs know of this runbook. */
verifyBackup.meta = meta;
