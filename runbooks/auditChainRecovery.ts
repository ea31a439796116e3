/**
 * auditChainRecovery — procedure 001 (§3.3, §4.3): verify a hash-chained log; when it is broken,
 * name the first broken entry (index, expected vs actual hash), find the newest backup in
 * `chain_backups/` that verifies, wait for approval at gate `restoreChain`, restore it (the broken
 * chain kept in quarantine), verify it, and record the gap — the entries lost, by index and time —
 * in the result and the audit. The application resumes appending from the restored head.
 */
import { workflowInfo } from '@temporalio/workflow';
import type { ChainBreak, ChainGap } from '../activities/lib/chain';
import type { RunbookMeta } from '../common/runbook';
import { runTagOf } from '../common/tags';
import type { RunOutcome } from '../common/types';
import { runRunbook } from '../workflows/engine';
import { quarantinePlan } from './plans';

export const meta: RunbookMeta = {
  name: 'auditChainRecovery',
  title: 'Corrupted audit chain recovery',
  summary:
    'Verifies a hash-chained log; when broken, names the first broken entry (expected vs actual hash), restores the newest verified backup after approval, keeps the broken chain in quarantine and records the entries lost.',
  source: '001_3fc6a84b3909d4a8.txt — §3.3 (audit chain backup), §4.3 (corrupted audit chain)',
  // The procedure: RTO < 10 seconds (backup restore), RPO the last backup (at most 1 day).
  objectives: { rtoMinutes: 10 / 60, rpoMinutes: 24 * 60 },
  input: {},
  gates: {
    restoreChain: {
      description:
        'before the broken chain is replaced by the newest backup that verifies (entries after the backup are lost)',
      defaults: { approvers: ['*'], quorum: 1 },
    },
  },
  requires: ['auditChain'],
  stops: [
    'no backup in chain_backups/ verifies or holds entries, or the folder is empty or missing (place a verified backup and retry, or stop)',
    'the chosen backup changed or vanished between verification and restore',
    "the restored chain does not verify, or does not end at the backup's head",
  ],
  flow: [
    { id: 'resolveTarget', label: 'find the target in the worker config', next: ['verifyChain'] },
    {
      id: 'verifyChain',
      label: 'verify the hash chain',
      next: [
        { to: 'end:intact', when: 'verifies' },
        { to: 'findVerifiedBackup', when: 'broken' },
      ],
    },
    { id: 'findVerifiedBackup', label: 'find the newest backup that verifies', next: ['gate:restoreChain'] },
    {
      id: 'gate:restoreChain',
      label: 'approve the restore (entries lost are named)',
      next: ['quarantineAndRestore'],
    },
    {
      id: 'quarantineAndRestore',
      label: 'keep the broken chain in quarantine; restore the backup',
      next: ['verifyRestored'],
    },
    {
      id: 'verifyRestored',
      label: "verify the restored chain ends at the backup's head",
      next: ['end:restored'],
    },
    { id: 'end:intact', label: 'nothing changed' },
    { id: 'end:restored', label: 'the gap is recorded (audit event chain.gap)' },
  ],
};

export interface AuditChainRecoveryInput {
  target: string;
}

export interface AuditChainRecoveryResult {
  outcome: 'intact' | 'restored';
  file: string;
  /** The first entry that did not verify. */
  brokenAt?: ChainBreak;
  backupUsed?: string;
  /** Entries in the chain now. */
  restoredEntries: number;
  /** The hash the next entry's prevHash must carry. */
  head: string;
  gap?: ChainGap;
  /** First index (before the break) where the backup's entries differ from the broken chain's. */
  divergesAt?: number;
  /** Where the broken chain is kept. */
  quarantined?: string;
}

function describeBreak(b: ChainBreak): string {
  return b.expected !== undefined ? `${b.reason} (expected ${b.expected}, actual ${b.actual})` : b.reason;
}

function describeGap(gap: ChainGap): string {
  if (gap.lost === 0) return 'no entries of the broken chain are lost';
  const when = gap.firstTime !== undefined ? `, ${gap.firstTime} to ${gap.lastTime}` : ', times unknown';
  const verified =
    gap.verifiedLost > 0
      ? `; ${gap.verifiedLost} of them verified (newer than the backup) and stay readable in quarantine`
      : '';
  return `${gap.lost} entries are lost (index ${gap.firstIndex} to ${gap.lastIndex}${when})${verified}`;
}

export async function auditChainRecovery(
  input: AuditChainRecoveryInput,
): Promise<RunOutcome<AuditChainRecoveryResult>> {
  return runRunbook(meta, input, async (run) => {
    const target = run.target.name;
    const check = await run.step('verifyChain', 'verifyAuditChain', [target, {}]);
    if (check.valid) {
      return { outcome: 'intact', file: check.file, restoredEntries: check.entries, head: check.head };
    }
    const brokenAt = check.brokenAt!;
    run.fact('brokenAt', brokenAt);
    run.record('chain.broken', { file: check.file, entries: check.entries, ...brokenAt });

    const choice = await run.step('findVerifiedBackup', 'findVerifiedChainBackup', [target]);
    run.fact('backupUsed', choice.backup);
    run.fact('backupsTried', choice.tried);
    run.fact('expectedGap', choice.gap);
    const info = workflowInfo();
    const incident = runTagOf(info.startTime, info.runId);
    await run.gate(
      'restoreChain',
      `audit chain ${check.file} is broken at entry ${brokenAt.index}: ${describeBreak(brokenAt)}; restore backup ${choice.backup} (${choice.entries} entries, head ${choice.head}): ${describeGap(choice.gap)}`,
      quarantinePlan({
        file: `the broken chain ${check.file} (${check.entries} entries)`,
        keptIn: `the quarantine folder ${incident}`,
        replacement: `backup ${choice.backup} (${choice.entries} entries, head ${choice.head})`,
        lost: describeGap(choice.gap),
        wayBack: 'a stop after the restore puts the broken chain back',
      }),
    );
    const restored = await run.step(
      'quarantineAndRestore',
      'restoreAuditChain',
      [target, choice.backup, choice.sha256, incident],
      {
        // A stop after this point puts the broken chain back: the run leaves things as it found them.
        compensation: { name: 'putBrokenChainBack', activity: 'putAuditChainBack', args: [target, incident] },
      },
    );
    run.fact('quarantined', restored.quarantined);
    const verified = await run.step('verifyRestored', 'verifyAuditChain', [
      target,
      { require: true, restored: { entries: restored.entries, head: restored.head } },
    ]);
    run.fact('gap', restored.gap);
    run.record('chain.gap', {
      file: restored.file,
      backup: restored.backup,
      brokenAt,
      ...restored.gap,
      summary: describeGap(restored.gap),
      quarantined: restored.quarantined,
    });
    return {
      outcome: 'restored',
      file: restored.file,
      brokenAt,
      backupUsed: restored.backup,
      restoredEntries: verified.entries,
      head: verified.head,
      gap: restored.gap,
      ...(restored.gap.divergesAt !== undefined ? { divergesAt: restored.gap.divergesAt } : {}),
      quarantined: restored.quarantined,
    };
  });
}

/** What the registry (runbooks/registry.ts), the CLI and the docs know of this runbook. */
auditChainRecovery.meta = meta;
