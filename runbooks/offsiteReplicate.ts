/** offsiteReplicate — procedure 003 §8–9: copy a backup offsite and check the copy by hash. */
import type { RunbookMeta } from '../common/runbook';
import { runRunbook } from '../workflows/engine';
import { LONG } from './backupSteps';

export const meta: RunbookMeta = {
  name: 'offsiteReplicate',
  title: 'Replicate a backup offsite',
  summary:
    "Copies a backup (default: the newest) to the target's offsite repository and verifies the copy by its SHA-256.",
  source: '003_8b72c7da6d2bed8c.txt — §8 offsite replication required, §9 storage rules',
  input: { backupId: { type: 'string', description: 'the backup to copy (default: the newest)' } },
  gates: {},
  requires: ['repository', 'offsite'],
  stops: ['the copy does not match the original'],
  flow: [
    {
      id: 'resolveTarget',
      label: 'find the target in the worker config',
      next: [
        { to: 'findLatest', when: 'no backupId given' },
        { to: 'offsiteReplicate', when: 'backupId given' },
      ],
    },
    { id: 'findLatest', label: 'find the newest backup', next: ['offsiteReplicate'] },
    {
      id: 'offsiteReplicate',
      label: 'copy the backup offsite and check the copy by its SHA-256',
      next: ['end:completed'],
    },
    { id: 'end:completed', label: 'copied' },
  ],
};

export async function offsiteReplicate(input: { target: string; backupId?: string }) {
  return runRunbook(meta, input, async (run) => {
    const backupId = input.backupId ?? (await run.step('findLatest', 'latestBackupId', [run.target.name]));
    return run.step('offsiteReplicate', 'replicateOffsite', [run.target.name, backupId], LONG);
  });
}

/** What the registry (runbooks/registry.ts), the CLI and the docs know of this runbook. */
offsiteReplicate.meta = meta;
