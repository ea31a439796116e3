/**
 * restore — procedure 003 §7: validate (manifest, every checksum, database integrity, engine version,
 * module set) → gate → lock → unpack beside the root → swap in by rename → verify → rebuild caches →
 * unlock. A stop at any point puts the root back exactly as it was.
 */
import { ApplicationFailure, patched } from '@temporalio/workflow';
import { adoptSummary } from '../common/adopt';
import { INVALID_INPUT } from '../common/errors';
import { pathListProblems } from '../common/paths';
import type { RunbookMeta } from '../common/runbook';
import { runRunbook } from '../workflows/engine';
import { BREAK_LOCK_GATE, lockFlow, LONG, releaseLock, runTag, takeLock } from './backupSteps';

export const meta: RunbookMeta = {
  name: 'restore',
  title: 'Restore a storage root from a backup',
  summary:
    'Verifies the backup and its chain completely, checks engine version and module set, waits for approval, then unpacks into a staging folder beside the root and swaps it in by rename, keeping the previous root; or restores into a named inspection folder. On a host whose catalog lists no backup of the target (a new host), it first adopts the backups of the repository, or of the offsite copy.',
  source: '003_8b72c7da6d2bed8c.txt — §6 restore types, §7 restore protocol, §15 STOP conditions',
  objectives: { rtoMinutes: 60 },
  input: {
    backupId: {
      type: 'string',
      description:
        "the backup to restore: 'latest' (default), a backup id, or a day YYYY-MM-DD (the newest backup taken that day, UTC)",
    },
    into: {
      type: 'string',
      description: "a restoreInto folder name from the target's config, instead of the live root",
    },
    paths: {
      type: 'string[]',
      description:
        'restore only these files or directories (relative to the root), into the live root or into',
    },
  },
  gates: {
    restore: {
      description: 'before the live root is replaced (or the inspection folder written)',
      defaults: { approvers: ['*'], quorum: 1 },
    },
    breakLock: BREAK_LOCK_GATE,
  },
  requires: ['root', 'repository', 'encryption'],
  stops: [
    'a missing manifest, a checksum mismatch or a database integrity failure in any backup of the chain',
    'engine version or module set differs from the target (expected vs found)',
    'the restored root does not match the manifest (the previous root can be put back with stop)',
    'the target is locked',
    'the catalog lists no backup of the target and a backup in the repository or its offsite copy is refused (unsigned, signed by a key that is not trusted, damaged, …: each named with the key found); skip adopts only what verifies',
    'the catalog lists no backup of the target and none can be adopted',
  ],
  flow: [
    {
      id: 'resolveTarget',
      label: 'find the target in the worker config',
      next: [{ to: 'end:invalidInput', when: 'input.paths leave the root' }, 'adoptRepository'],
    },
    {
      id: 'adoptRepository',
      label:
        "when the catalog lists no backup of the target (a new host): adopt the repository's (or the offsite copy's); any refusal STOPs",
      next: [
        { to: 'inspectBackup', when: 'nothing to adopt, or every backup verifies' },
        { to: 'adoptVerified', when: 'a responder skips past the refused backups' },
      ],
    },
    {
      id: 'adoptVerified',
      label: 'adopt only the backups that verify',
      next: ['inspectBackup'],
    },
    {
      id: 'inspectBackup',
      label: 'verify the backup and its chain; compare engine version and module set',
      next: ['planRestore'],
    },
    {
      id: 'planRestore',
      label:
        'compare the backup with the live root: files replaced, added and removed, what changed after the backup was taken, databases that differ',
      next: ['gate:restore'],
    },
    {
      id: 'gate:restore',
      label: 'approve the restore',
      next: [
        { to: 'stageRestore', when: 'into an inspection folder' },
        { to: 'acquireLock', when: 'into the live root' },
      ],
    },
    ...lockFlow('stageRestore'),
    {
      id: 'stageRestore',
      label: 'unpack into a staging folder beside the root (or the inspection folder)',
      next: [
        { to: 'verifyRestored', when: 'into an inspection folder' },
        { to: 'swapIn', when: 'into the live root' },
      ],
    },
    {
      id: 'swapIn',
      label: 'swap the staged root (or the listed paths) in by rename, keeping the previous',
      next: ['verifyRestored'],
    },
    {
      id: 'verifyRestored',
      label: 'verify the restored files against the manifest',
      next: [
        { to: 'end:completed', when: 'into an inspection folder' },
        { to: 'rebuildCaches', when: 'into the live root' },
      ],
    },
    { id: 'rebuildCaches', label: 'run the rebuildCaches command (if configured)', next: ['releaseLock'] },
    { id: 'releaseLock', label: "release the target's lock", next: ['end:completed'] },
    { id: 'end:completed', label: 'restored' },
    { id: 'end:invalidInput', label: 'fails at once: bad input' },
  ],
};

export interface RestoreInput {
  target: string;
  backupId?: string;
  into?: string;
  paths?: string[];
}

export async function restore(input: RestoreInput) {
  return runRunbook(meta, input, async (run) => {
    const target = run.target.name;
    const pathProblems = input.paths ? pathListProblems('input.paths', input.paths) : [];
    if (pathProblems.length) throw ApplicationFailure.nonRetryable(pathProblems.join('; '), INVALID_INPUT);
    const paths = input.paths;

    // Why patched: runs that were already past this point when it was added replay without the step.
    let note = '';
    // Which copies the restore read, for its result: adopted from where, and any read from another copy.
    const read: { adoptedFrom?: string; adopted?: string[]; fromCopies?: string[] } = {};
    if (patched('restore-adopts-first')) {
      let adoption = await run.step(
        'adoptRepository',
        'adoptRepository',
        [target, { onlyWhenEmpty: true, requireOne: true, refusalStops: true }],
        { ...LONG, skippable: true, skipValue: undefined },
      );
      // Skipped by a responder after it STOPped on refused backups: what verifies is adopted.
      adoption ??= await run.step('adoptVerified', 'adoptRepository', [target, { requireOne: true }], LONG);
      if (!('skipped' in adoption)) {
        run.fact(
          'adopted',
          adoption.adopted.map((a) => a.backupId),
        );
        note = ` (the catalog listed no backup: ${adoptSummary(adoption)})`;
        read.adoptedFrom = adoption.used;
        read.adopted = adoption.adopted.map((a) => `${a.backupId} (${a.from}: ${a.archive})`);
      }
    }
    const backup = await run.step(
      'inspectBackup',
      'inspectRestore',
      [target, input.backupId ?? 'latest'],
      LONG,
    );
    run.fact('backupId', backup.backupId);
    run.fact('chain', backup.chain);
    const what = paths
      ? `${paths.join(', ')} from backup ${backup.backupId}`
      : `backup ${backup.backupId} (${backup.files} files)`;
    const where = input.into ? `inspection folder '${input.into}'` : 'the live root';
    if (backup.fromCopies) {
      read.fromCopies = backup.fromCopies;
      run.fact('fromCopies', backup.fromCopies);
      note += ` (read ${backup.fromCopies.join('; ')})`;
    }
    // Why patched: runs already waiting at the gate when the plan was added replay without its step.
    const plan = patched('restore-plan')
      ? await run.step('planRestore', 'planRestore', [target, backup.backupId, { paths, into: input.into }], {
          ...LONG,
          skippable: true,
          skipValue: undefined,
        })
      : undefined;
    if (plan) run.fact('plan', plan);
    await run.gate('restore', `restore ${what}, taken ${backup.createdAt}, into ${where}${note}`, plan);
    const tag = runTag();

    if (input.into) {
      const staged = await run.step(
        'stageRestore',
        'stageRestore',
        [target, backup.backupId, tag, { into: input.into, paths }],
        LONG,
      );
      await run.step(
        'verifyRestored',
        'verifyRestoredRoot',
        [target, backup.backupId, { dir: staged.staging, paths }],
        LONG,
      );
      return { backupId: backup.backupId, restoredInto: staged.staging, files: staged.files, ...read };
    }

    await takeLock(run, 'restore');
    await run.step('stageRestore', 'stageRestore', [target, backup.backupId, tag, { paths }], {
      ...LONG,
      compensation: { name: 'removeStaging', activity: 'removeStaging', args: [target, tag] },
    });
    let result: Record<string, unknown>;
    if (paths) {
      // A subset: swapped in path by path; what each path replaces is kept.
      const subset = await run.step('swapIn', 'swapInSubset', [target, tag, paths], {
        compensation: { name: 'putPreviousPathsBack', activity: 'undoSubsetSwap', args: [target, tag] },
      });
      run.fact('previousVersions', subset.previous);
      result = {
        root: subset.root,
        paths,
        replaced: subset.replaced,
        added: subset.added,
        previousVersions: subset.previous,
      };
    } else {
      const swapped = await run.step('swapIn', 'swapInRestore', [target, tag], {
        compensation: { name: 'putPreviousRootBack', activity: 'undoRestoreSwap', args: [target, tag] },
      });
      run.fact('previousRoot', swapped.previous);
      result = { root: swapped.root, previousRoot: swapped.previous };
    }
    await run.step('verifyRestored', 'verifyRestoredRoot', [target, backup.backupId, { paths }], LONG);
    await run.step('rebuildCaches', 'runTargetCommand', [target, 'rebuildCaches'], {
      startToCloseTimeout: '1 hour',
    });
    await releaseLock(run);
    return { backupId: backup.backupId, files: backup.files, ...result, ...read };
  });
}

/** What the registry (runbooks/registry.ts), the CLI and the docs know of this runbook. */
restore.meta = meta;
