/** applyRetention — the rotation rules of procedures 000–004: what to keep, what may go. */
import type { RunbookMeta } from '../common/runbook';
import { runRunbook } from '../workflows/engine';
import { BREAK_LOCK_GATE, releaseLock, takeLock } from './backupSteps';

export const meta: RunbookMeta = {
  name: 'applyRetention',
  title: 'Apply backup retention',
  summary:
    "Applies the target's retention (keep-last, daily/weekly/monthly, max age) to its backups; never removes the newest verified backup or a parent a kept incremental needs. With dryRun it only lists what would go.",
  source:
    '003_8b72c7da6d2bed8c.txt §9 rotations; 002 rotation by age; 001 §3.3 retain 30 days; 000 §5 keep the last sets',
  input: { dryRun: { type: 'boolean', description: 'list what would be removed, remove nothing' } },
  gates: { breakLock: BREAK_LOCK_GATE },
  requires: ['repository'],
  stops: ['the target is locked by another run'],
  flow: [
    {
      id: 'resolveTarget',
      label: 'find the target in the worker config',
      next: [
        { to: 'acquireLock', when: 'removing' },
        { to: 'retention', when: 'dryRun' },
      ],
    },
    {
      id: 'acquireLock',
      label: "take the target's lock",
      next: [
        { to: 'retention', when: 'acquired' },
        { to: 'gate:breakLock', when: 'left by a run that is gone' },
      ],
    },
    { id: 'gate:breakLock', label: 'approve breaking the stale lock', next: ['breakLock'] },
    { id: 'breakLock', label: 'break the stale lock', next: ['acquireLock'] },
    {
      id: 'retention',
      label: 'apply the retention rules (dryRun: only list)',
      next: [
        { to: 'releaseLock', when: 'removing' },
        { to: 'end:completed', when: 'dryRun' },
      ],
    },
    { id: 'releaseLock', label: "release the target's lock", next: ['end:completed'] },
    { id: 'end:completed' },
  ],
};

export async function applyRetention(input: { target: string; dryRun?: boolean }) {
  return runRunbook(meta, input, async (run) => {
    const dryRun = input.dryRun ?? false;
    if (!dryRun) await takeLock(run, 'applyRetention');
    const plan = await run.step('retention', 'applyRetention', [run.target.name, dryRun]);
    if (!dryRun) await releaseLock(run);
    return {
      dryRun,
      keep: plan.keep,
      [dryRun ? 'wouldRemove' : 'removed']: plan.remove,
      removedFiles: plan.removedFiles,
    };
  });
}

/** What the registry (runbooks/registry.ts), the CLI and the docs know of this runbook. */
applyRetention.meta = meta;
