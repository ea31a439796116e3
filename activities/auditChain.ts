/**
 * Activities for an "auditChain" target (procedure 001 §3.3, §4.3): a hash-chained log of JSON
 * lines (see activities/lib/chain.ts for the format) with backups `chain_backups/<timestamp>.json`
 * (JSON lines or a JSON array). Verify the live chain, find the newest backup that verifies,
 * replace the chain with it (the broken chain kept in quarantine) and measure what was lost.
 *
 * Files are read whole: a chain is backed up every 100 entries or daily, so it stays small.
 */
import { createHash } from 'node:crypto';
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import type { LifeboatConfig } from '../config';
import { invalidInput, stopFailure } from './errors';
import {
  GENESIS_HASH,
  measureGap,
  readChainDocument,
  splitJsonLines,
  toJsonLines,
  verifyEntries,
  type ChainBreak,
  type ChainGap,
  type ChainLine,
  type ChainVerdict,
} from './lib/chain';
import { runTag } from './lib/context';
import { describeNoBackup, listDatedFiles } from './lib/datedFiles';
import { exists, tempPathFor } from './lib/files';
import { incidentFolder, replaceKeepingOriginal, undoReplace } from './lib/replace';
import { sectionOf } from './targets';

export interface ChainCheck extends ChainVerdict {
  file: string;
  sha256?: string;
}

export interface TriedChainBackup {
  name: string;
  takenAt: string;
  datedBy: 'name' | 'mtime';
  valid: boolean;
  entries?: number;
  problem?: string;
}

export interface ChainBackupChoice {
  backup: string;
  takenAt: string;
  format: 'lines' | 'array';
  entries: number;
  head: string;
  sha256: string;
  /** Every backup looked at, newest first, with why it was rejected. */
  tried: TriedChainBackup[];
  /** What restoring it would lose from the live chain as it is now. */
  gap: ChainGap;
}

export interface ChainRestoreResult {
  file: string;
  backup: string;
  /** Where the broken chain is kept; absent when there was no chain file. */
  quarantined?: string;
  entries: number;
  head: string;
  sha256: string;
  /** What was lost: measured against the broken chain as it was when it was replaced. */
  gap: ChainGap;
}

/** A break in words: the reason, and the expected and actual hash where there are hashes. */
export function describeBreak(b: ChainBreak): string {
  return b.expected !== undefined ? `${b.reason} (expected ${b.expected}, actual ${b.actual})` : b.reason;
}

/** Reads a JSON-lines chain; a missing file has no lines. */
async function readChainFile(file: string): Promise<{ bytes?: Buffer; lines: ChainLine[] }> {
  let bytes: Buffer;
  try {
    bytes = await fsp.readFile(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { lines: [] };
    throw err;
  }
  return { bytes, lines: splitJsonLines(bytes.toString('utf8')) };
}

const sha256Of = (data: Buffer | string) => createHash('sha256').update(data).digest('hex');

export function createAuditChainActivities(config: LifeboatConfig) {
  return {
    /**
     * Verifies the chain and names the first broken entry. A missing chain file is broken at entry 0.
     * With `require`, a chain that does not verify is an IntegrityFailure (a STOP); so is one that
     * does not hold the `restored` head at entry `restored.entries - 1` (entries the application
     * appended since are fine: the procedure resumes appending from the restored head).
     */
    async verifyAuditChain(
      targetName: string,
      options: { require?: boolean; restored?: { entries: number; head: string } } = {},
    ): Promise<ChainCheck> {
      const settings = sectionOf(config, targetName, 'auditChain');
      const { bytes, lines } = await readChainFile(settings.file);
      const check: ChainCheck = bytes
        ? { file: settings.file, ...verifyEntries(lines), sha256: sha256Of(bytes) }
        : {
            file: settings.file,
            valid: false,
            entries: 0,
            head: GENESIS_HASH,
            brokenAt: { index: 0, reason: 'the chain file is missing' },
          };
      if (options.require && !check.valid) {
        throw stopFailure(
          'IntegrityFailure',
          `the chain ${settings.file} does not verify: ${describeBreak(check.brokenAt!)}`,
        );
      }
      const restored = options.restored;
      if (restored) {
        const at = lines[restored.entries - 1]?.entry as { hash?: unknown } | undefined;
        if (at?.hash !== restored.head) {
          throw stopFailure(
            'IntegrityFailure',
            `the chain ${settings.file} does not hold the restored head ${restored.head} at entry ${restored.entries - 1} (it has ${check.entries} entries)`,
          );
        }
      }
      return check;
    },

    /**
     * Verifies the backups newest first and returns the first that verifies and holds entries, with
     * the gap restoring it would leave. None is a NoValidBackup STOP naming each backup's problem.
     */
    async findVerifiedChainBackup(targetName: string): Promise<ChainBackupChoice> {
      const settings = sectionOf(config, targetName, 'auditChain');
      const { files, folderMissing } = await listDatedFiles(settings.backups, ['.json', '.jsonl']);
      const tried: TriedChainBackup[] = [];
      for (const backup of files) {
        const bytes = await fsp.readFile(backup.file);
        const doc = readChainDocument(bytes.toString('utf8'));
        const verdict = verifyEntries(doc.lines);
        const seen = { name: backup.name, takenAt: backup.takenAt, datedBy: backup.datedBy };
        if (!verdict.valid) {
          tried.push({
            ...seen,
            valid: false,
            entries: verdict.entries,
            problem: describeBreak(verdict.brokenAt!),
          });
          continue;
        }
        if (verdict.entries === 0) {
          tried.push({ ...seen, valid: false, entries: 0, problem: 'it holds no entries' });
          continue;
        }
        tried.push({ ...seen, valid: true, entries: verdict.entries });
        const live = await readChainFile(settings.file);
        return {
          backup: backup.name,
          takenAt: backup.takenAt,
          format: doc.format,
          entries: verdict.entries,
          head: verdict.head,
          sha256: sha256Of(bytes),
          tried,
          gap: measureGap(live.lines, verifyEntries(live.lines).brokenAt, doc.lines),
        };
      }
      throw stopFailure(
        'NoValidBackup',
        `no backup in ${settings.backups} verifies (${describeNoBackup(settings.backups, folderMissing, tried)}); place a verified backup there and retry, or stop`,
        { tried },
      );
    },

    /**
     * Keeps the broken chain in `<quarantine>/<incident>/` and replaces it atomically with the
     * backup (written as JSON lines; a JSON-lines backup is copied byte for byte), after checking
     * the backup is still the one verified. Returns the gap measured against the kept chain.
     */
    async restoreAuditChain(
      targetName: string,
      backupName: string,
      expectedSha256: string,
      incident: string,
    ): Promise<ChainRestoreResult> {
      const settings = sectionOf(config, targetName, 'auditChain');
      if (path.basename(backupName) !== backupName || backupName.startsWith('.'))
        throw invalidInput(`'${backupName}' is not the name of a backup in ${settings.backups}`);
      const backupFile = path.join(settings.backups, backupName);
      if (!(await exists(backupFile))) {
        throw stopFailure(
          'NoValidBackup',
          `${backupFile} is gone since it was verified; stop and start the runbook again`,
        );
      }
      const bytes = await fsp.readFile(backupFile);
      if (sha256Of(bytes) !== expectedSha256) {
        throw stopFailure(
          'ChecksumMismatch',
          `${backupFile} changed since it was verified: expected SHA-256 ${expectedSha256}, found ${sha256Of(bytes)}; stop and start the runbook again`,
        );
      }
      const doc = readChainDocument(bytes.toString('utf8'));
      const verdict = verifyEntries(doc.lines);
      const tag = runTag();
      const folder = incidentFolder(settings.quarantine, incident);
      let source = backupFile;
      let sourceSha = expectedSha256;
      if (doc.format === 'array') {
        const text = toJsonLines(doc.lines.map((l) => l.entry));
        source = tempPathFor(settings.file, `${tag}-src`);
        await fsp.mkdir(path.dirname(settings.file), { recursive: true });
        await fsp.writeFile(source, text);
        sourceSha = sha256Of(text);
      }
      let replaced;
      try {
        replaced = await replaceKeepingOriginal(settings.file, source, folder, tag);
      } finally {
        if (source !== backupFile) await fsp.rm(source, { force: true });
      }
      if (replaced.sha256 !== sourceSha) {
        await undoReplace(settings.file, folder, tag);
        throw stopFailure(
          'ChecksumMismatch',
          `${backupFile} changed while it was copied; the broken chain was put back; stop and start the runbook again`,
        );
      }
      const broken = replaced.quarantined ? await readChainFile(replaced.quarantined) : { lines: [] };
      const gap = measureGap(broken.lines, verifyEntries(broken.lines).brokenAt, doc.lines);
      return {
        file: settings.file,
        backup: backupName,
        quarantined: replaced.quarantined,
        entries: verdict.entries,
        head: verdict.head,
        sha256: replaced.sha256,
        gap,
      };
    },

    /** Compensation for `restoreAuditChain`: puts the broken chain back as it was found. */
    async putAuditChainBack(targetName: string, incident: string): Promise<{ action: string }> {
      const settings = sectionOf(config, targetName, 'auditChain');
      return undoReplace(settings.file, incidentFolder(settings.quarantine, incident), runTag());
    },
  };
}
