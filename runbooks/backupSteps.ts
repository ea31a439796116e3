/**
 * Steps shared by the backup runbooks (fullBackup, incrementalBackup, restore): the target's lock
 * with a responder's decision to break a stale one, and the backup itself.
 */
import { workflowInfo } from '@temporalio/workflow';
import type { FlowNode, GateSpec } from '../common/runbook';
import type { FieldSpec } from '../common/schema';
import { runTagOf } from '../common/tags';
import type { BackupSummary } from '../activities/backup';
import type { RunbookRun } from '../workflows/engine';

// Long steps heartbeat every second; 30 s of silence means the worker is gone and the step moves on.
export const LONG = { startToCloseTimeout: '12 hours', heartbeatTimeout: '30 seconds' } as const;

export const BREAK_LOCK_GATE: GateSpec = {
  description: "before a lock left by a worker that is gone is broken (the lock's holder is named)",
  defaults: { approvers: ['*'], quorum: 1 },
};

/**
 * The flow nodes `takeLock` uses: `acquireLock` (on to `next` once acquired), and the `breakLock`
 * gate and step for a lock left by a run that is gone.
 */
export function lockFlow(next: string): FlowNode[] {
  return [
    {
      id: 'acquireLock',
      label: "take the target's lock",
      next: [
        { to: next, when: 'acquired' },
        { to: 'gate:breakLock', when: 'left by a run that is gone' },
      ],
    },
    { id: 'gate:breakLock', label: 'approve breaking the stale lock', next: ['breakLock'] },
    { id: 'breakLock', label: 'break the stale lock', next: ['acquireLock'] },
  ];
}

/** A short, unique tag for this run's files (staging folders, backup ids). */
export function runTag(): string {
  const info = workflowInfo();
  return runTagOf(info.startTime, info.runId);
}

/** What a run does when another live run holds the target's lock. */
export type OnBusy = 'stop' | 'skip';

/** The input field of the runbooks that take the lock; schedules set it to 'skip'. */
export const ON_BUSY_FIELD: FieldSpec = {
  type: 'string',
  enum: ['stop', 'skip'],
  description:
    "when another run holds the target's lock: 'stop' (default) waits for a responder; 'skip' ends this run as completed with outcome 'skipped' (what schedules use). A lock left by a dead run waits at breakLock either way",
};

/** The result of a run that did nothing because another run held the target. */
export interface BusySkipped {
  outcome: 'skipped';
  reason: string;
}

/**
 * Takes the target's lock (released by `stop` through the compensation). With `onBusy: 'skip'`, a
 * lock held by a live run is not waited for: the result says who holds it, and nothing is locked.
 */
export async function takeLock(
  run: RunbookRun,
  purpose: string,
  onBusy: OnBusy = 'stop',
): Promise<BusySkipped | undefined> {
  const target = run.target.name;
  const release = { name: 'releaseLock', activity: 'releaseTargetLock' as const, args: [target] };
  // Why: the default is left out of the call, so runs started before onBusy existed replay unchanged.
  const args: [string, string, OnBusy?] = onBusy === 'skip' ? [target, purpose, onBusy] : [target, purpose];
  let lock = await run.step('acquireLock', 'acquireTargetLock', args, { compensation: release });
  while (!lock.acquired) {
    if (!lock.stale) {
      run.dropCompensation('releaseLock');
      const h = lock.holder;
      const holder = h ? `workflow ${h.workflowId} (${h.purpose}) since ${h.acquiredAt}` : 'another run';
      return { outcome: 'skipped', reason: `target busy: ${holder}` };
    }
    await run.gate('breakLock', lock.problem);
    await run.step('breakLock', 'breakTargetLock', [target, lock.holder]);
    lock = await run.step('acquireLock', 'acquireTargetLock', args);
  }
  return undefined;
}

export async function releaseLock(run: RunbookRun): Promise<void> {
  await run.step('releaseLock', 'releaseTargetLock', [run.target.name]);
  run.dropCompensation('releaseLock');
}

/** What a backup runbook returns: the activity's summary, with what happened after it. */
export interface BackupResult extends BackupSummary {
  verified: boolean;
  offsite?: string[];
  retention: { kept: string[]; removed: string[] };
}

/** lock → quiesce → snapshot and archive → resume → unlock → read back and verify → offsite → retention. */
export async function backupFlow(
  run: RunbookRun,
  kind: 'full' | 'incremental',
  rehash: boolean,
  onBusy: OnBusy = 'stop',
): Promise<BackupResult | BusySkipped> {
  const target = run.target.name;
  const backupId = `${target}-${runTag()}-${kind}`;
  const busy = await takeLock(run, kind === 'full' ? 'fullBackup' : 'incrementalBackup', onBusy);
  if (busy) return busy;
  run.fact('backupId', backupId);
  const quiesce = await run.step('quiesce', 'runTargetCommand', [target, 'quiesce'], {
    startToCloseTimeout: '15 minutes',
    compensation: { name: 'resume', activity: 'runTargetCommand', args: [target, 'resume'] },
  });
  const summary = await run.step(
    'writeBackup',
    'writeBackup',
    [target, { backupId, kind, createdBy: workflowInfo().workflowId, rehash }],
    LONG,
  );
  run.fact('archive', summary.archive);
  if (!('skipped' in quiesce))
    await run.step('resume', 'runTargetCommand', [target, 'resume'], { startToCloseTimeout: '15 minutes' });
  run.dropCompensation('resume');
  await releaseLock(run);
  await run.step('verifyBackup', 'verifyBackup', [target, backupId, { require: true }], LONG);
  const offsite = await run.step('offsiteReplicate', 'replicateOffsite', [target, backupId], LONG);
  const retention = await run.step('retention', 'applyRetention', [target, false]);
  return {
    ...summary,
    verified: true,
    offsite: 'copied' in offsite ? offsite.copied : undefined,
    retention: {
      kept: retention.keep.map((k) => k.backupId),
      removed: retention.remove.map((r) => r.backupId),
    },
  };
}
