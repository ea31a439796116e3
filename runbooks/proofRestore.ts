/**
 * proofRestore — procedure 004, Restore 2 (proof-only restore): one day's proof file back from a
 * Lifeboat backup of the runtime's root (a subset restore of `proof/<day>.json`, approved at gate
 * `restore` with its plan), then the Merkle-root chain verified across every day, and the target's
 * `rebuildReceiptIndex` command. A stop puts the file the restore replaced back.
 */
import { ApplicationFailure } from '@temporalio/workflow';
import { INVALID_INPUT } from '../common/errors';
import type { RunbookMeta } from '../common/runbook';
import { runRunbook } from '../workflows/engine';
import { BREAK_LOCK_GATE, lockFlow, LONG, releaseLock, runTag, takeLock } from './backupSteps';

export const meta: RunbookMeta = {
  name: 'proofRestore',
  title: 'Proof-only restore',
  summary:
    "Restores one day's proof file from a backup of the runtime's root (after approval, keeping the file it replaces), verifies the proof files' Merkle-root chain across every day, and rebuilds the receipt index with the target's rebuildReceiptIndex command.",
  source: '004_eb854aaac24b530d.txt — Restore Procedures §2 Proof-Only Restore',
  objectives: { rtoMinutes: 30, rpoMinutes: 60 },
  input: {
    date: { type: 'string', required: true, description: 'the day of the proof file to restore, YYYY-MM-DD' },
    backupId: {
      type: 'string',
      description: "the backup to take it from: 'latest' (default), a backup id, or a day YYYY-MM-DD",
    },
  },
  gates: {
    restore: {
      description:
        "before the day's proof file in the live proof folder is replaced (the one it replaces is kept)",
      defaults: { approvers: ['*'], quorum: 1 },
    },
    breakLock: BREAK_LOCK_GATE,
  },
  requires: ['root', 'repository', 'encryption', 'panic', 'commands.rebuildReceiptIndex'],
  stops: [
    'the backup holds no proof file for that day (the days it holds are named)',
    'a missing manifest, a checksum mismatch or an integrity failure in the backup',
    'the Merkle-root chain across the restored days is broken (the first broken link is named; a stop puts the replaced file back)',
    'the rebuildReceiptIndex command fails or runs past its timeout',
  ],
  flow: [
    {
      id: 'resolveTarget',
      label: 'find the target in the worker config',
      next: [{ to: 'end:invalidInput', when: 'date is not a day' }, 'findProof'],
    },
    { id: 'findProof', label: "find the day's proof file in the backup", next: ['inspectBackup'] },
    { id: 'inspectBackup', label: 'verify the backup and its chain', next: ['planRestore'] },
    { id: 'planRestore', label: 'compare the backup’s proof file with the live one', next: ['gate:restore'] },
    { id: 'gate:restore', label: 'approve the restore', next: ['acquireLock'] },
    ...lockFlow('stageRestore'),
    { id: 'stageRestore', label: 'unpack the proof file beside the root', next: ['swapIn'] },
    { id: 'swapIn', label: 'swap it in, keeping the file it replaces', next: ['verifyRestored'] },
    { id: 'verifyRestored', label: 'verify it against the manifest', next: ['verifyProofChain'] },
    {
      id: 'verifyProofChain',
      label: 'verify the Merkle-root chain across every day',
      next: ['rebuildReceiptIndex'],
    },
    { id: 'rebuildReceiptIndex', label: 'run the rebuildReceiptIndex command', next: ['releaseLock'] },
    { id: 'releaseLock', label: "release the target's lock", next: ['end:restored'] },
    { id: 'end:restored', label: "the day's proof is back and the chain holds" },
    { id: 'end:invalidInput', label: 'fails at once: bad input' },
  ],
};

export interface ProofRestoreInput {
  target: string;
  date: string;
  backupId?: string;
}

export async function proofRestore(input: ProofRestoreInput) {
  return runRunbook(meta, input, async (run) => {
    const target = run.target.name;
    if (!/^\d{4}-\d{2}-\d{2}$/.test(input.date) || Number.isNaN(Date.parse(input.date)))
      throw ApplicationFailure.nonRetryable(
        `input.date: '${input.date}' is not a day; give the proof file's day as YYYY-MM-DD (e.g. 2025-10-23)`,
        INVALID_INPUT,
      );
    const found = await run.step('findProof', 'findProofInBackup', [
      target,
      input.date,
      input.backupId ?? 'latest',
    ]);
    const paths = [found.path];
    run.fact('proofFile', found.path);
    const backup = await run.step('inspectBackup', 'inspectRestore', [target, found.backupId], LONG);
    const plan = await run.step('planRestore', 'planRestore', [target, backup.backupId, { paths }], LONG);
    await run.gate(
      'restore',
      `restore ${found.path} from backup ${backup.backupId}, taken ${backup.createdAt}`,
      plan,
    );

    await takeLock(run, 'proofRestore');
    const tag = runTag();
    await run.step('stageRestore', 'stageRestore', [target, backup.backupId, tag, { paths }], {
      ...LONG,
      compensation: { name: 'removeStaging', activity: 'removeStaging', args: [target, tag] },
    });
    const swapped = await run.step('swapIn', 'swapInSubset', [target, tag, paths], {
      compensation: { name: 'putReplacedProofBack', activity: 'undoSubsetSwap', args: [target, tag] },
    });
    await run.step('verifyRestored', 'verifyRestoredRoot', [target, backup.backupId, { paths }], LONG);
    const chain = await run.step('verifyProofChain', 'verifyProofChain', [target], LONG);
    await run.step('rebuildReceiptIndex', 'runTargetCommand', [target, 'rebuildReceiptIndex'], {
      startToCloseTimeout: '1 hour',
    });
    await releaseLock(run);
    return {
      outcome: 'restored' as const,
      file: found.path,
      backupId: backup.backupId,
      replaced: swapped.replaced.length > 0,
      previousVersion: swapped.replaced.length > 0 ? swapped.previous : undefined,
      chain: { files: chain.files, first: chain.first, last: chain.last, lastRoot: chain.lastRoot },
    };
  });
}

/** What the registry (runbooks/registry.ts), the CLI and the docs know of this runbook. */
proofRestore.meta = meta;
