/**
 * fullSystemRestore — procedure 004, Restore 1 and the Post-Recovery Checklist: stop the services →
 * restore the latest (or a dated) backup of the runtime's root, verified → integrity (the restored
 * files against the manifest, the proof files' Merkle-root chain) → start the services → health
 * check → the checklist, ending in a recovery proof that lists what was checked and what a person
 * still has to do. A failed health check after the start waits with the services left running.
 * A stop before the start puts the previous root back and starts the services again.
 */
import { workflowInfo } from '@temporalio/workflow';
import type { RunbookMeta } from '../common/runbook';
import { runTagOf } from '../common/tags';
import { nowIso, runRunbook } from '../workflows/engine';
import { BREAK_LOCK_GATE, lockFlow, LONG, releaseLock, takeLock } from './backupSteps';
import type { RecoveryCheck } from './panicRecovery';
import { restoreRoot } from './restoreSteps';

export const meta: RunbookMeta = {
  name: 'fullSystemRestore',
  title: 'Full system restore',
  summary:
    "Stops the services, restores the latest (or a dated) backup of the runtime's root after approval (verified first; the current root kept beside it), checks the restored files and the proof files' Merkle-root chain, starts the services, checks health, and writes a recovery proof with the post-recovery checklist.",
  source: '004_eb854aaac24b530d.txt — Restore Procedures §1 Full System Restore; Post-Recovery Checklist',
  objectives: { rtoMinutes: 30, rpoMinutes: 60 },
  input: {
    backupId: {
      type: 'string',
      description:
        "'latest' (default), a backup id, or a day YYYY-MM-DD (the newest backup taken that day, UTC)",
    },
  },
  gates: {
    restore: {
      description: "before the runtime's root is replaced by the backup (the current root is kept beside it)",
      defaults: { approvers: ['*'], quorum: 1 },
    },
    breakLock: BREAK_LOCK_GATE,
  },
  requires: ['root', 'repository', 'encryption', 'panic', 'health', 'commands.stop', 'commands.start'],
  stops: [
    'the stop or start command fails or runs past its timeout',
    'a missing manifest, a checksum mismatch or a database integrity failure in any backup of the chain; engine version or module set differs',
    'the restored root does not match the manifest, or the proof chain is broken (a stop puts the previous root back)',
    'the health endpoint does not answer 2xx after the start: the run waits with the services left running',
  ],
  flow: [
    { id: 'resolveTarget', label: 'find the target in the worker config', next: ['stopServices'] },
    { id: 'stopServices', label: 'run the stop command', next: ['inspectBackup'] },
    {
      id: 'inspectBackup',
      label: 'verify the backup and its chain; compare engine version and module set',
      next: ['planRestore'],
    },
    { id: 'planRestore', label: 'compare the backup with the live root', next: ['gate:restore'] },
    { id: 'gate:restore', label: 'approve the restore', next: ['acquireLock'] },
    ...lockFlow('stageRestore'),
    { id: 'stageRestore', label: 'unpack into a staging folder beside the root', next: ['swapIn'] },
    {
      id: 'swapIn',
      label: 'swap it in by rename, keeping the current root beside it',
      next: ['verifyRestored'],
    },
    {
      id: 'verifyRestored',
      label: 'verify the restored files against the manifest',
      next: ['rebuildCaches'],
    },
    {
      id: 'rebuildCaches',
      label: 'run the rebuildCaches command (if configured)',
      next: ['verifyProofChain'],
    },
    { id: 'verifyProofChain', label: "verify the proof files' Merkle-root chain", next: ['releaseLock'] },
    { id: 'releaseLock', label: "release the target's lock", next: ['startServices'] },
    { id: 'startServices', label: 'run the start command', next: ['healthProbe'] },
    {
      id: 'healthProbe',
      label: 'probe the HTTP health endpoint (services left running if it fails)',
      next: ['writeRecoveryProof'],
    },
    {
      id: 'writeRecoveryProof',
      label: 'write the recovery proof with the post-recovery checklist',
      next: ['end:restored'],
    },
    { id: 'end:restored', label: 'restored and running' },
  ],
};

/** The Post-Recovery Checklist items Lifeboat cannot check itself: the proof lists them as a person's. */
const FOR_A_PERSON = [
  'verify /api/mcp/governance shows gates passing',
  'confirm Tower receipts are accessible',
  'test federation sync (send a test batch)',
  'verify anti-replay protection (attempt a replay)',
  'schedule the post-mortem review',
];

export interface FullSystemRestoreInput {
  target: string;
  backupId?: string;
}

export async function fullSystemRestore(input: FullSystemRestoreInput) {
  return runRunbook(meta, input, async (run) => {
    const target = run.target.name;
    const info = workflowInfo();
    const checks: RecoveryCheck[] = [];
    const passed = (name: string, detail: string) => {
      checks.push({ name, ok: true, detail, at: nowIso() });
      run.fact('checks', [...checks]);
    };
    const command = { startToCloseTimeout: '1 hour' } as const;
    await run.step('stopServices', 'runTargetCommand', [target, 'stop'], {
      ...command,
      // A stop of the run before the services run again starts them again.
      compensation: { name: 'startServicesAgain', activity: 'runTargetCommand', args: [target, 'start'] },
    });
    passed('servicesStopped', "the 'stop' command succeeded");

    const backup = await run.step(
      'inspectBackup',
      'inspectRestore',
      [target, input.backupId ?? 'latest'],
      LONG,
    );
    run.fact('backupId', backup.backupId);
    passed(
      'backupVerified',
      `backup ${backup.backupId} (${backup.files} files, taken ${backup.createdAt}) and its chain verify`,
    );
    const plan = await run.step('planRestore', 'planRestore', [target, backup.backupId, {}], LONG);
    await run.gate(
      'restore',
      `restore backup ${backup.backupId} (${backup.files} files), taken ${backup.createdAt}, over the runtime's root`,
      plan,
    );

    await takeLock(run, 'fullSystemRestore');
    const swapped = await restoreRoot(run, backup.backupId);
    run.fact('previousRoot', swapped.previous);
    passed(
      'restoredFiles',
      `the restored root matches backup ${backup.backupId}'s manifest; the previous root is kept at ${swapped.previous ?? '(there was none)'}`,
    );
    const chain = await run.step('verifyProofChain', 'verifyProofChain', [target], LONG);
    passed(
      'proofChain',
      `${chain.files} proof file(s) from ${chain.first} to ${chain.last} form an unbroken Merkle-root chain`,
    );
    await releaseLock(run);

    await run.step('startServices', 'runTargetCommand', [target, 'start'], command);
    // The services run on the restored root: a stop from here on undoes nothing.
    for (const name of ['startServicesAgain', 'putPreviousRootBack', 'removeStaging'])
      run.dropCompensation(name);
    passed('servicesStarted', "the 'start' command succeeded");
    const health = await run.step(
      'healthProbe',
      'probeHealth',
      [
        target,
        {
          whileWaiting:
            'the services were started and are left running: retry once they are healthy, or stop (a stop does not stop them)',
        },
      ],
      LONG,
    );
    passed('health', `${health.url} answered HTTP ${health.status} (attempt ${health.attempts})`);
    passed(
      'incidentLog',
      `every step and decision of this run is in the audit ledger under ${info.workflowId}`,
    );

    const finishedAt = nowIso();
    const proof = await run.step('writeRecoveryProof', 'writeRecoveryProof', [
      target,
      runTagOf(info.startTime, info.runId),
      {
        kind: 'lifeboat.fullSystemRestore',
        version: 1,
        runbook: meta.name,
        source: meta.source,
        target,
        workflowId: info.workflowId,
        runId: info.runId,
        backup: { backupId: backup.backupId, createdAt: backup.createdAt, chain: backup.chain },
        checks,
        forAPerson: FOR_A_PERSON,
        decisions: run.status.decisions.filter((d) => !d.refused),
        timings: {
          startedAt: run.status.startedAt,
          finishedAt,
          durationSeconds: (Date.parse(finishedAt) - Date.parse(run.status.startedAt)) / 1000,
        },
      },
    ]);
    run.fact('recoveryProof', proof);
    return {
      outcome: 'restored' as const,
      backupId: backup.backupId,
      previousRoot: swapped.previous,
      proof: { path: proof.path, sha256: proof.sha256 },
      checks,
      forAPerson: FOR_A_PERSON,
    };
  });
}

/** What the registry (runbooks/registry.ts), the CLI and the docs know of this runbook. */
fullSystemRestore.meta = meta;
