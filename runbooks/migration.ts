/**
 * migration — procedure 003 §11: "backups required before schema or storage migration; rollback
 * procedure uses previous validated backup". A full backup first (a `fullBackup` child run, which
 * reads its backup back and verifies it); then, under the target's lock, the target's `migrate`
 * command and its `verify` command. When either fails or times out, the run computes what restoring
 * the backup would change and waits at gate `rollback`; approved, it restores that backup the way
 * `restore` does (staged beside the root, swapped in by rename, the migrated root kept beside it,
 * verified). Only commands named in the target's config run, never one from the input.
 */
import { workflowInfo } from '@temporalio/workflow';
import type { RunbookMeta } from '../common/runbook';
import { runRunbook } from '../workflows/engine';
import { BREAK_LOCK_GATE, lockFlow, LONG, releaseLock, takeLock } from './backupSteps';
import { restoreRoot } from './restoreSteps';

export const meta: RunbookMeta = {
  name: 'migration',
  title: 'Migration with a safety net',
  summary:
    "Takes a verified full backup first, runs the target's migrate command under the target's lock, then its verify command; when either fails or times out, shows what restoring the backup would change and, once approved at gate rollback, restores the backup taken before the migration (the migrated root kept beside it).",
  source: '003_8b72c7da6d2bed8c.txt — §11 migration interaction, §7 restore protocol',
  objectives: { rtoMinutes: 60 },
  input: {},
  gates: {
    rollback: {
      description:
        'before the live root is replaced by the backup taken before the migration (the migrated root is kept beside it)',
      defaults: { approvers: ['*'], quorum: 1 },
    },
    breakLock: BREAK_LOCK_GATE,
  },
  requires: ['root', 'repository', 'encryption', 'commands.migrate', 'commands.verify'],
  stops: [
    'the backup before the migration fails or is stopped: the migration does not run (the run ends as notMigrated)',
    'the migrate or verify command fails or times out: the run waits at gate rollback; a stop there leaves the root as the migration left it, and names the backup to restore later',
    'the target is locked',
    'the restored root does not match the backup (the migrated root can be put back with stop)',
  ],
  flow: [
    { id: 'resolveTarget', label: 'find the target in the worker config', next: ['backupFirst'] },
    {
      id: 'backupFirst',
      label: 'a full backup, read back and verified (a fullBackup child run)',
      next: [
        { to: 'acquireLock', when: 'verified' },
        { to: 'end:notMigrated', when: 'the backup failed or was stopped' },
      ],
    },
    ...lockFlow('migrate'),
    {
      id: 'migrate',
      label: "run the target's migrate command",
      next: [
        { to: 'verifyMigration', when: 'exit 0' },
        { to: 'planRollback', when: 'fails or times out' },
      ],
    },
    {
      id: 'verifyMigration',
      label: "run the target's verify command",
      next: [
        { to: 'releaseLock', when: 'passes' },
        { to: 'planRollback', when: 'fails' },
      ],
    },
    {
      id: 'planRollback',
      label: 'compare the backup with the live root: what restoring it changes',
      next: ['gate:rollback'],
    },
    { id: 'gate:rollback', label: 'approve the rollback', next: ['stageRestore'] },
    {
      id: 'stageRestore',
      label: 'unpack the backup into a staging folder beside the root',
      next: ['swapIn'],
    },
    {
      id: 'swapIn',
      label: 'swap the staged root in by rename, keeping the migrated root beside it',
      next: ['verifyRestored'],
    },
    {
      id: 'verifyRestored',
      label: 'verify the restored files against the manifest',
      next: ['rebuildCaches'],
    },
    { id: 'rebuildCaches', label: 'run the rebuildCaches command (if configured)', next: ['releaseLock'] },
    {
      id: 'releaseLock',
      label: "release the target's lock",
      next: [
        { to: 'end:migrated', when: 'the migration verified' },
        { to: 'end:rolledBack', when: 'rolled back' },
      ],
    },
    { id: 'end:migrated', label: 'migrated and verified' },
    { id: 'end:rolledBack', label: 'the backup from before the migration is back' },
    { id: 'end:notMigrated', label: 'nothing changed' },
  ],
};

export interface MigrationInput {
  target: string;
}

export async function migration(input: MigrationInput) {
  return runRunbook(meta, input, async (run) => {
    const target = run.target.name;
    const backup = await run.child(
      'backupFirst',
      'fullBackup',
      { target },
      {
        workflowId: `${workflowInfo().workflowId}-backup`,
      },
    );
    const backupId = (backup.result as { backupId?: string } | undefined)?.backupId;
    if (backup.state !== 'completed' || !backupId)
      return {
        outcome: 'notMigrated' as const,
        reason: `no verified backup before the migration (${backup.error ?? backup.outcome ?? backup.state}); the migration did not run`,
      };
    run.fact('backupId', backupId);

    await takeLock(run, 'migration');
    // Why no retries: a migration half-applied and run again may do harm; the run decides.
    const once = {
      startToCloseTimeout: '12 hours',
      heartbeatTimeout: '1 minute',
      retry: { maximumAttempts: 1 },
    } as const;
    const migrated = await run.step('migrate', 'tryTargetCommand', [target, 'migrate'], once);
    const verified = migrated.ok
      ? await run.step('verifyMigration', 'tryTargetCommand', [target, 'verify'], once)
      : undefined;
    if (migrated.ok && verified?.ok) {
      await releaseLock(run);
      return { outcome: 'migrated' as const, backupId };
    }
    const failure = (verified ?? migrated).problem ?? 'failed';
    run.fact('failure', failure);
    const plan = await run.step('planRollback', 'planRestore', [target, backupId, {}], LONG);
    await run.gate(
      'rollback',
      `the ${verified ? 'verification of the migration' : 'migration'} failed: ${failure}; roll back to backup ${backupId}, taken just before it`,
      plan,
    );
    const swapped = await restoreRoot(run, backupId, 'putMigratedRootBack');
    run.fact('migratedRoot', swapped.previous);
    await releaseLock(run);
    return { outcome: 'rolledBack' as const, backupId, failure, migratedRoot: swapped.previous };
  });
}

/** What the registry (runbooks/registry.ts), the CLI and the docs know of this runbook. */
migration.meta = meta;
