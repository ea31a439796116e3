/**
 * Steps shared by the backup runbooks (fullBackup, incrementalBackup, restore): the target's lock
 * with a responder's decision to break a stale one, and the backup itself.
 */
import { workflowInfo } from '@temporalio/workflow';
import type { GateSpec } from '../common/runbook';
import { runTagOf } from '../common/tags';
import type { BackupSummary } from '../activities/backup';
import type { RunbookRun } from '../workflows/engine';

// Long steps heartbeat every second; 30 s of silence means the worker is gone and the step moves on.
export const LONG = { startToCloseTimeout: '12 hours', heartbeatTimeout: '30 seconds' } as const;

export const BREAK_LOCK_GATE: GateSpec = {
  description: "before a lock left by a worker that is gone is broken (the lock's holder is named)",
  defaults: { approvers: ['*'], quorum: 1 },
};

/** A short, unique tag for this run's files (staging folders, backup ids). */
export function runTag(): string {
  const info = workflowInfo();
  return runTagOf(info.startTime, info.runId);
}

/** Takes the target's lock (released by `stop` through the compensation). */
export async function takeLock(run: RunbookRun, purpose: string): Promise<void> {
  const target = run.target.name;
  const release = { name: 'releaseLock', activity: 'releaseTargetLock' as const, args: [target] };
  let lock = await run.step('acquireLock', 'acquireTargetLock', [target, purpose], { compensation: release });
  while (!lock.acquired) {
    await run.gate('breakLock', lock.problem);
    await run.step('breakLock', 'breakTargetLock', [target, lock.holder]);
    lock = await run.step('acquireLock', 'acquireTargetLock', [target, purpose]);
  }
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
): Promise<BackupResult> {
  const target = run.target.name;
  const backupId = `${target}-${runTag()}-${kind}`;
  run.fact('backupId', backupId);
  await takeLock(run, kind === 'full' ? 'fullBackup' : 'incrementalBackup');
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
