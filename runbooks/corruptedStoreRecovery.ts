/**
 * corruptedStoreRecovery — procedure 002 (§Scenario 1 and 3): verify the primary against its
 * `.meta` SHA-256; if it is corrupt, verify backups newest first, wait for approval at gate
 * `restore`, keep the corrupt primary in quarantine, restore the first valid backup atomically with
 * a fresh `.meta`, and verify the result. An intact primary completes the run with nothing changed.
 */
import { workflowInfo } from '@temporalio/workflow';
import type { RunbookMeta } from '../common/runbook';
import { runTagOf } from '../common/tags';
import type { RunOutcome } from '../common/types';
import { runRunbook } from '../workflows/engine';
import { humanBytes } from '../common/bytes';
import { quarantinePlan } from './plans';

export const meta: RunbookMeta = {
  name: 'corruptedStoreRecovery',
  title: 'Corrupted data store recovery',
  summary:
    'Verifies a primary file against its .meta SHA-256; when corrupt, restores the newest valid timestamped backup after approval, keeping the corrupt file in quarantine.',
  source: '002_83a28ac7808853e0.txt — Scenario 1 (corrupted main file), Scenario 3 (automatic recovery)',
  objectives: { rtoMinutes: 15 },
  input: {},
  gates: {
    restore: {
      description: 'before the corrupt primary is replaced by a backup',
      defaults: { approvers: ['*'], quorum: 1 },
    },
  },
  requires: ['store'],
  stops: [
    'no backup verifies against its .meta (place a valid backup and retry, or stop)',
    'the backup changed between verification and restore (checksum mismatch)',
    'the restored primary does not verify',
  ],
  flow: [
    { id: 'resolveTarget', label: 'find the target in the worker config', next: ['verifyPrimary'] },
    {
      id: 'verifyPrimary',
      label: 'verify the primary against its .meta SHA-256',
      next: [
        { to: 'end:intact', when: 'intact' },
        { to: 'findValidBackup', when: 'corrupt' },
      ],
    },
    { id: 'findValidBackup', label: 'verify backups newest first', next: ['gate:restore'] },
    { id: 'gate:restore', label: 'approve restoring the first valid backup', next: ['quarantinePrimary'] },
    {
      id: 'quarantinePrimary',
      label: 'move the corrupt primary and its .meta to quarantine',
      next: ['restoreBackup'],
    },
    {
      id: 'restoreBackup',
      label: 'restore the backup atomically with a fresh .meta',
      next: ['verifyRestored'],
    },
    { id: 'verifyRestored', label: 'verify the restored primary', next: ['end:restored'] },
    { id: 'end:intact', label: 'nothing changed' },
    { id: 'end:restored' },
  ],
};

export interface CorruptedStoreRecoveryInput {
  target: string;
}

export interface CorruptedStoreRecoveryResult {
  outcome: 'intact' | 'restored';
  primary: string;
  /** Why the primary was judged corrupt. */
  corruption?: string;
  backupUsed?: string;
  quarantined?: string[];
  sha256: string;
}

export async function corruptedStoreRecovery(
  input: CorruptedStoreRecoveryInput,
): Promise<RunOutcome<CorruptedStoreRecoveryResult>> {
  return runRunbook(meta, input, async (run) => {
    const target = run.target.name;
    const primary = await run.step('verifyPrimary', 'verifyPrimary', [target, {}]);
    if (primary.valid) {
      return { outcome: 'intact', primary: primary.file, sha256: primary.sha256! };
    }
    run.fact('corruption', primary.problem);

    const choice = await run.step('findValidBackup', 'findValidBackup', [target], {
      startToCloseTimeout: '10 minutes',
      heartbeatTimeout: '30 seconds',
    });
    run.fact('backupUsed', choice.backup);
    run.fact('backupsChecked', choice.checked);

    const info = workflowInfo();
    const incident = runTagOf(info.startTime, info.runId);
    await run.gate(
      'restore',
      `primary ${primary.file} is corrupt (${primary.problem}); restore backup ${choice.backup}`,
      quarantinePlan({
        file: `the corrupt primary ${primary.file}${primary.size !== undefined ? ` (${humanBytes(primary.size)})` : ''} and its sidecar ${primary.file}.meta`,
        keptIn: `the target's quarantine folder ${incident}`,
        replacement: `backup ${choice.backup} (taken ${choice.takenAt}, ${humanBytes(choice.size)}, sha256 ${choice.sha256.slice(0, 16)}…; ${choice.checked.length} backups checked newest first)`,
        lost: `whatever the primary took in after ${choice.takenAt} (it stays readable in quarantine)`,
        wayBack: 'a stop after the restore puts the quarantined primary back',
      }),
    );
    const quarantine = await run.step('quarantinePrimary', 'quarantinePrimary', [target, incident]);
    run.fact('quarantined', quarantine.files);

    await run.step(
      'restoreBackup',
      'restoreBackup',
      [target, choice.backup, choice.sha256, info.workflowId],
      {
        startToCloseTimeout: '10 minutes',
        heartbeatTimeout: '30 seconds',
        // A stop after this point puts the quarantined primary back: the run leaves things as it found them.
        compensation: {
          name: 'putQuarantinedPrimaryBack',
          activity: 'undoRestore',
          args: [target, quarantine.folder],
        },
      },
    );
    const restored = await run.step('verifyRestored', 'verifyPrimary', [target, { require: true }]);
    return {
      outcome: 'restored',
      primary: restored.file,
      corruption: primary.problem,
      backupUsed: choice.backup,
      quarantined: quarantine.files,
      sha256: restored.sha256!,
    };
  });
}

/** What the registry (runbooks/registry.ts), the CLI and the docs know of this runbook. */
corruptedStoreRecovery.meta = meta;
