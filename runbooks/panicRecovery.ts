/**
 * panicRecovery — procedure 004 §3 (ledger restore) and §4 (panic recovery), with the
 * post-recovery checklist: panic flag present → `stop` → keep the ledger if it passes
 * `PRAGMA integrity_check`, else restore the newest backup that does (gate `restoreLedger`, the
 * damaged ledger kept in quarantine) → `rebuildNonceStore` → the proof files' Merkle-root chain →
 * HTTP health → clear the flag → `start` → a recovery proof listing every check.
 *
 * Any failed check STOPs with the panic flag in place and the services stopped. A `stop` before the
 * services are started again puts the ledger and the flag back as they were found (the services are
 * left stopped: starting them on a state that failed its checks is a human's call). Once `start`
 * has succeeded the recovery stands: a later stop undoes nothing.
 */
import { workflowInfo } from '@temporalio/workflow';
import type { RunbookMeta } from '../common/runbook';
import { runTagOf } from '../common/tags';
import type { RunOutcome } from '../common/types';
import { nowIso, runRunbook } from '../workflows/engine';
import { quarantinePlan } from './plans';

export const meta: RunbookMeta = {
  name: 'panicRecovery',
  title: 'Panic recovery',
  summary:
    "When the target's panic flag is present: stops the services, keeps the ledger if it passes PRAGMA integrity_check or else restores the newest backup that does (after approval, keeping the damaged one in quarantine), rebuilds the nonce store, verifies the proof files' Merkle-root chain and the HTTP health endpoint, then clears the flag, starts the services and writes a recovery proof. Any failed check stops the run with the flag in place.",
  source:
    '004_eb854aaac24b530d.txt — Restore Procedures §3 Ledger Restore, §4 Panic Recovery; Post-Recovery Checklist',
  objectives: { rtoMinutes: 30, rpoMinutes: 60 },
  input: {},
  gates: {
    restoreLedger: {
      description:
        'before a damaged or missing ledger is replaced by the newest backup that passes PRAGMA integrity_check; the damaged one is kept in quarantine',
      defaults: { approvers: ['*'], quorum: 1 },
    },
  },
  requires: ['panic', 'health', 'commands.stop', 'commands.start', 'commands.rebuildNonceStore'],
  stops: [
    'the panic flag cannot be read, or is not a regular file',
    'a command (stop, rebuildNonceStore, start) fails or runs past its timeout (its last output lines are shown)',
    'no ledger backup passes PRAGMA integrity_check (every backup is named with why it was rejected)',
    'the chosen ledger backup changed between its check and the restore (checksum mismatch; the ledger is put back)',
    'the restored ledger does not pass PRAGMA integrity_check',
    "the proof files' Merkle-root chain is broken or missing (the first broken file is named, with what was expected and what was found)",
    'the health endpoint does not answer 2xx within the configured attempts (the last error is shown)',
    'the panic flag cannot be removed (its path and the OS error are named; the services are not started)',
    'the recovery proof cannot be written (the services are already running)',
  ],
  flow: [
    { id: 'resolveTarget', label: 'find the target in the worker config', next: ['checkPanicFlag'] },
    {
      id: 'checkPanicFlag',
      label: 'is the panic flag present?',
      next: [
        { to: 'end:notInPanic', when: 'no flag' },
        { to: 'stopServices', when: 'flag present' },
      ],
    },
    { id: 'stopServices', label: 'run the stop command', next: ['checkLedger'] },
    {
      id: 'checkLedger',
      label: 'PRAGMA integrity_check on the ledger',
      next: [
        { to: 'rebuildNonceStore', when: 'intact: kept' },
        { to: 'findValidLedgerBackup', when: 'damaged or missing' },
      ],
    },
    {
      id: 'findValidLedgerBackup',
      label: 'find the newest backup that passes integrity_check',
      next: ['gate:restoreLedger'],
    },
    { id: 'gate:restoreLedger', label: 'approve restoring the ledger', next: ['restoreLedger'] },
    {
      id: 'restoreLedger',
      label: 'keep the damaged ledger in quarantine; restore the backup',
      next: ['checkRestoredLedger'],
    },
    {
      id: 'checkRestoredLedger',
      label: 'integrity_check on the restored ledger',
      next: ['rebuildNonceStore'],
    },
    { id: 'rebuildNonceStore', label: 'run the rebuildNonceStore command', next: ['verifyProofChain'] },
    { id: 'verifyProofChain', label: "verify the proof files' Merkle-root chain", next: ['healthProbe'] },
    { id: 'healthProbe', label: 'probe the HTTP health endpoint', next: ['clearPanicFlag'] },
    { id: 'clearPanicFlag', label: 'remove the panic flag (a copy kept)', next: ['startServices'] },
    { id: 'startServices', label: 'run the start command', next: ['writeRecoveryProof'] },
    { id: 'writeRecoveryProof', label: 'write the recovery proof', next: ['end:recovered'] },
    { id: 'end:notInPanic', label: 'nothing changed' },
    { id: 'end:recovered' },
  ],
};

export interface PanicRecoveryInput {
  target: string;
}

/** One check of the recovery, as the recovery proof and the status list it. */
export interface RecoveryCheck {
  name: string;
  ok: boolean;
  detail: string;
  at: string;
}

export interface PanicRecoveryResult {
  outcome: 'notInPanic' | 'recovered';
  flag: string;
  ledger?: {
    action: 'kept' | 'restored';
    file: string;
    sha256: string;
    /** Why the live ledger was not kept. */
    problem?: string;
    backup?: string;
    quarantine?: string;
  };
  proof?: { path: string; sha256: string };
  checks: RecoveryCheck[];
}

// Why so long: a command's own timeout (from the config, unknown here) ends it first.
const COMMAND = { startToCloseTimeout: '1 hour' } as const;
// Long steps heartbeat; silence means the worker is gone.
const LONG = { startToCloseTimeout: '2 hours', heartbeatTimeout: '30 seconds' } as const;
// Why 10 minutes: PRAGMA integrity_check runs synchronously and cannot heartbeat on a large ledger.
const DATABASE = { startToCloseTimeout: '2 hours', heartbeatTimeout: '10 minutes' } as const;

export async function panicRecovery(input: PanicRecoveryInput): Promise<RunOutcome<PanicRecoveryResult>> {
  return runRunbook(meta, input, async (run) => {
    const target = run.target.name;
    const info = workflowInfo();
    const tag = runTagOf(info.startTime, info.runId);
    const checks: RecoveryCheck[] = [];
    const passed = (name: string, detail: string) => {
      checks.push({ name, ok: true, detail, at: nowIso() });
      run.fact('checks', [...checks]);
    };

    const flag = await run.step('checkPanicFlag', 'checkPanicFlag', [target]);
    if (!flag.present) return { outcome: 'notInPanic', flag: flag.flag, checks: [] };
    const flagRecord = {
      path: flag.flag,
      content: flag.content,
      truncated: flag.truncated,
      size: flag.size,
      sha256: flag.sha256,
      modifiedAt: flag.modifiedAt,
    };
    run.fact('panicFlag', flagRecord);
    passed('panicFlagPresent', `${flag.flag} is present (${flag.size} bytes)`);

    await run.step('stopServices', 'runTargetCommand', [target, 'stop'], COMMAND);
    passed('servicesStopped', "the 'stop' command succeeded");

    const live = await run.step('checkLedger', 'checkLedger', [target, {}], DATABASE);
    let ledger: NonNullable<PanicRecoveryResult['ledger']>;
    let backupUsed: { name: string; sha256: string; modifiedAt: string } | undefined;
    if (live.intact) {
      // An intact ledger is newer than any backup: it is never overwritten by older data.
      ledger = { action: 'kept', file: live.file, sha256: live.sha256! };
      run.fact('ledger', ledger);
      passed('ledgerIntegrity', `the live ledger ${live.file} passes PRAGMA integrity_check; kept`);
    } else {
      run.fact('ledgerProblem', live.problem);
      const choice = await run.step('findValidLedgerBackup', 'findValidLedgerBackup', [target], DATABASE);
      run.fact('ledgerBackup', choice.backup);
      run.fact('ledgerBackupsChecked', choice.checked);
      await run.gate(
        'restoreLedger',
        `the ledger ${live.file} is not usable (${live.problem}); restore backup ${choice.backup} (modified ${choice.modifiedAt}, sha256 ${choice.sha256.slice(0, 16)}…)`,
        quarantinePlan({
          file: `the damaged ledger ${live.file}`,
          keptIn: `a quarantine folder named after this run (${tag})`,
          replacement: `backup ${choice.backup} (modified ${choice.modifiedAt}, sha256 ${choice.sha256.slice(0, 16)}…)`,
          lost: `ledger entries written after ${choice.modifiedAt} (they stay in the quarantined file)`,
          wayBack: 'a stop puts the damaged ledger back (the restored copy is kept beside it)',
        }),
      );
      const restored = await run.step(
        'restoreLedger',
        'restoreLedger',
        [target, choice.backup, choice.sha256, tag],
        {
          ...DATABASE,
          // A stop puts the damaged ledger back (the restored copy is kept beside it).
          compensation: { name: 'putLedgerBack', activity: 'putLedgerBack', args: [target, tag] },
        },
      );
      run.fact('quarantined', restored.quarantined);
      const check = await run.step(
        'checkRestoredLedger',
        'checkLedger',
        [target, { require: true }],
        DATABASE,
      );
      ledger = {
        action: 'restored',
        file: restored.ledger,
        sha256: check.sha256!,
        problem: live.problem,
        backup: restored.backup,
        quarantine: restored.quarantine,
      };
      backupUsed = { name: choice.backup, sha256: choice.sha256, modifiedAt: choice.modifiedAt };
      run.fact('ledger', ledger);
      passed(
        'ledgerIntegrity',
        `the ledger was restored from ${choice.backup} and passes PRAGMA integrity_check (the damaged one is in ${restored.quarantine})`,
      );
    }

    await run.step('rebuildNonceStore', 'runTargetCommand', [target, 'rebuildNonceStore'], COMMAND);
    passed('nonceStoreRebuilt', "the 'rebuildNonceStore' command succeeded");

    const chain = await run.step('verifyProofChain', 'verifyProofChain', [target], LONG);
    passed(
      'proofChain',
      `${chain.files} proof file(s) from ${chain.first} to ${chain.last} form an unbroken Merkle-root chain; last root ${chain.lastRoot}`,
    );

    const health = await run.step('healthProbe', 'probeHealth', [target], LONG);
    passed('health', `${health.url} answered HTTP ${health.status} (attempt ${health.attempts})`);

    const cleared = await run.step('clearPanicFlag', 'clearPanicFlag', [target, tag], {
      // A stop before the services run again puts the flag back.
      compensation: { name: 'restorePanicFlag', activity: 'restorePanicFlag', args: [target, tag] },
    });
    passed(
      'panicFlagCleared',
      `${cleared.flag} removed; its file is kept at ${cleared.keptAt ?? '(not kept)'}`,
    );

    await run.step('startServices', 'runTargetCommand', [target, 'start'], COMMAND);
    // The services now run on the recovered state: a stop from here on must not undo it.
    run.dropCompensation('restorePanicFlag');
    run.dropCompensation('putLedgerBack');
    passed('servicesStarted', "the 'start' command succeeded");

    const finishedAt = nowIso();
    const durationSeconds = (Date.parse(finishedAt) - Date.parse(run.status.startedAt)) / 1000;
    const proof = await run.step('writeRecoveryProof', 'writeRecoveryProof', [
      target,
      tag,
      {
        kind: 'lifeboat.panicRecovery',
        version: 1,
        runbook: meta.name,
        source: meta.source,
        target,
        workflowId: info.workflowId,
        runId: info.runId,
        panicFlag: flagRecord,
        ledger: { ...ledger, backupUsed },
        checks,
        decisions: run.status.decisions.filter((d) => !d.refused),
        timings: {
          startedAt: run.status.startedAt,
          finishedAt,
          durationSeconds,
          steps: run.status.steps.map((s) => ({
            name: s.name,
            state: s.state,
            attempts: s.attempts,
            durationMs: s.durationMs,
          })),
        },
      },
    ]);
    run.fact('recoveryProof', proof);
    return {
      outcome: 'recovered',
      flag: flag.flag,
      ledger,
      proof: { path: proof.path, sha256: proof.sha256 },
      checks,
    };
  });
}

/** What the registry (runbooks/registry.ts), the CLI and the docs know of this runbook. */
panicRecovery.meta = meta;
