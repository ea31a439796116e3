/**
 * mergeRestore — procedure 003 §6 "merge restore (dangerous; 2-human approval)": brings a backup's
 * files into the live root without removing anything. Files the live root lacks are added; files
 * that differ are conflicts, resolved by the policy chosen at start (`keepLive`, the default, or
 * `takeBackup`); databases are never merged. The plan (every file added, every conflict with both
 * versions' size, time and SHA-256) is shown at gate `merge`, which needs two distinct approvers.
 * The files it writes go in path by path, what they replace kept beside the root; a stop puts
 * everything back.
 */
import type { RunbookMeta } from '../common/runbook';
import { runRunbook } from '../workflows/engine';
import { BREAK_LOCK_GATE, lockFlow, LONG, releaseLock, runTag, takeLock } from './backupSteps';

export const meta: RunbookMeta = {
  name: 'mergeRestore',
  title: 'Merge a backup into the live root',
  summary:
    'Verifies the backup, plans a merge (files the live root lacks are added; differing files are conflicts, resolved by the policy: keepLive by default, or takeBackup; databases never merged; nothing removed), waits for two distinct approvers at gate merge, then writes the files in path by path, keeping what they replace; a stop puts everything back.',
  source: '003_8b72c7da6d2bed8c.txt — §6 restore types (merge restore: dangerous; 2-human approval), §7, §10',
  objectives: { rtoMinutes: 60 },
  input: {
    backupId: { type: 'string', description: "the backup to merge (default 'latest')" },
    policy: {
      type: 'string',
      enum: ['keepLive', 'takeBackup'],
      description:
        "what a conflict (a file both hold, with different contents; any differing database) becomes: 'keepLive' (default) keeps the live version, 'takeBackup' takes the backup's, keeping the live one beside the root",
    },
  },
  gates: {
    merge: {
      description: 'before any file of the backup is written into the live root (two distinct approvers)',
      defaults: { approvers: ['*'], quorum: 2 },
    },
    breakLock: BREAK_LOCK_GATE,
  },
  requires: ['root', 'repository', 'encryption'],
  stops: [
    'a missing manifest, a checksum mismatch or a database integrity failure in any backup of the chain',
    'engine version or module set differs from the target (expected vs found)',
    'the merged files do not match the backup (a stop puts everything back)',
    'the target is locked',
  ],
  flow: [
    { id: 'resolveTarget', label: 'find the target in the worker config', next: ['inspectBackup'] },
    {
      id: 'inspectBackup',
      label: 'verify the backup and its chain; compare engine version and module set',
      next: ['planMerge'],
    },
    {
      id: 'planMerge',
      label:
        'compare the backup with the live root: files to add, conflicts and how the policy resolves them',
      next: [
        { to: 'gate:merge', when: 'something to write' },
        { to: 'end:nothingToMerge', when: 'nothing to add, every conflict kept live' },
      ],
    },
    { id: 'gate:merge', label: 'two distinct approvers approve the plan', next: ['acquireLock'] },
    ...lockFlow('stageRestore'),
    {
      id: 'stageRestore',
      label: 'unpack the files to write into a staging folder beside the root',
      next: ['swapIn'],
    },
    {
      id: 'swapIn',
      label: 'move them in path by path, keeping what each replaces beside the root',
      next: ['verifyMerged'],
    },
    { id: 'verifyMerged', label: 'verify the written files against the manifest', next: ['rebuildCaches'] },
    { id: 'rebuildCaches', label: 'run the rebuildCaches command (if configured)', next: ['releaseLock'] },
    { id: 'releaseLock', label: "release the target's lock", next: ['end:merged'] },
    { id: 'end:merged', label: 'merged' },
    { id: 'end:nothingToMerge', label: 'nothing changed' },
  ],
};

export interface MergeRestoreInput {
  target: string;
  backupId?: string;
  policy?: 'keepLive' | 'takeBackup';
}

export async function mergeRestore(input: MergeRestoreInput) {
  return runRunbook(meta, input, async (run) => {
    const target = run.target.name;
    const policy = input.policy ?? 'keepLive';
    const backup = await run.step(
      'inspectBackup',
      'inspectRestore',
      [target, input.backupId ?? 'latest'],
      LONG,
    );
    run.fact('backupId', backup.backupId);
    const merge = await run.step('planMerge', 'planMerge', [target, backup.backupId, policy], LONG);
    run.fact('conflicts', merge.conflicts);
    const summary = {
      backupId: backup.backupId,
      policy,
      added: merge.added,
      conflicts: merge.conflicts.length,
    };
    if (merge.write.length === 0) return { outcome: 'nothingToMerge' as const, ...summary };
    await run.gate(
      'merge',
      `merge backup ${backup.backupId} (taken ${backup.createdAt}) into the live root, policy ${policy}`,
      merge.plan,
    );

    await takeLock(run, 'mergeRestore');
    const tag = runTag();
    await run.step('stageRestore', 'stageRestore', [target, backup.backupId, tag, { paths: merge.write }], {
      ...LONG,
      compensation: { name: 'removeStaging', activity: 'removeStaging', args: [target, tag] },
    });
    const swapped = await run.step('swapIn', 'swapInSubset', [target, tag, merge.write], {
      compensation: { name: 'putEverythingBack', activity: 'undoSubsetSwap', args: [target, tag] },
    });
    run.fact('previousVersions', swapped.previous);
    await run.step(
      'verifyMerged',
      'verifyRestoredRoot',
      [target, backup.backupId, { paths: merge.write }],
      LONG,
    );
    await run.step('rebuildCaches', 'runTargetCommand', [target, 'rebuildCaches'], {
      startToCloseTimeout: '1 hour',
    });
    await releaseLock(run);
    return {
      outcome: 'merged' as const,
      ...summary,
      replaced: swapped.replaced,
      previousVersions: swapped.previous,
    };
  });
}

/** What the registry (runbooks/registry.ts), the CLI and the docs know of this runbook. */
mergeRestore.meta = meta;
