/**
 * Putting a verified backup back over the live root, the way `restore` does, for runbooks that
 * restore as one part of a larger procedure (migration's rollback, the full system restore): staged
 * beside the root, swapped in by rename with the current root kept beside it, verified against the
 * manifest, caches rebuilt. The caller holds the target's lock. A stop puts the previous root back.
 * Each step's name must be in the caller's `meta.flow`: stageRestore, swapIn, verifyRestored,
 * rebuildCaches.
 */
import type { RunbookRun } from '../workflows/engine';
import { LONG, runTag } from './backupSteps';

export async function restoreRoot(
  run: RunbookRun,
  backupId: string,
  /** What the compensation that puts the previous root back is called in the audit. */
  undoName = 'putPreviousRootBack',
): Promise<{ previous?: string }> {
  const target = run.target.name;
  const tag = runTag();
  await run.step('stageRestore', 'stageRestore', [target, backupId, tag, {}], {
    ...LONG,
    compensation: { name: 'removeStaging', activity: 'removeStaging', args: [target, tag] },
  });
  const swapped = await run.step('swapIn', 'swapInRestore', [target, tag], {
    compensation: { name: undoName, activity: 'undoRestoreSwap', args: [target, tag] },
  });
  await run.step('verifyRestored', 'verifyRestoredRoot', [target, backupId, {}], LONG);
  await run.step('rebuildCaches', 'runTargetCommand', [target, 'rebuildCaches'], {
    startToCloseTimeout: '1 hour',
  });
  return { previous: swapped.previous };
}
