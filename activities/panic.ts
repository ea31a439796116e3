/**
 * Activities of panicRecovery (procedure 004 §3 ledger restore, §4 panic recovery). Here: the panic
 * flag, the proof files' Merkle-root chain and the recovery proof; the ledger database and its
 * backups are in panicLedger.ts, the HTTP health probe in healthProbe.ts. `createPanicActivities`
 * returns all of them. Paths and the health URL come from the target's `panic` and `health` sections.
 *
 * Nothing here deletes what it replaces: the panic flag is copied to
 * `<recoveryProofs>/recovery-<run tag>.flag` before it is removed.
 */
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import type { LifeboatConfig, PanicSettings } from '../config';
import { errorText, stopFailure } from './errors';
import { createHealthProbeActivities } from './healthProbe';
import { heartbeat } from './lib/context';
import { exists, fsyncDir, hashFile, preserveCopy, safeName, stageCopy, writeFileAtomic } from './lib/files';
import { PROOF_FILE, describeBreak, verifyProofChain } from './lib/proofs';
import { createLedgerActivities } from './panicLedger';
import { findTarget, sectionOf } from './targets';

export type { HealthProbeResult } from './healthProbe';
export type { LedgerBackupChoice, LedgerBackupVerdict, LedgerRestore, LedgerVerdict } from './panicLedger';

/** At most this much of the flag's content is carried in the run's status and proof. */
const FLAG_CONTENT_LIMIT = 4096;

export interface PanicFlagState {
  flag: string;
  present: boolean;
  /** The flag's content as UTF-8, at most 4 KiB (the whole file is kept on disk when cleared). */
  content?: string;
  truncated?: boolean;
  size?: number;
  sha256?: string;
  modifiedAt?: string;
}

export interface ProofChainResult {
  folder: string;
  files: number;
  first: string;
  last: string;
  lastRoot: string;
  /** `genesis`, or the root of a rotated-away day the oldest file continues from. */
  startsFrom: string;
  /** Files in the folder that are not `YYYY-MM-DD.json` and were not part of the chain. */
  ignored: string[];
}

export interface FlagCleared {
  flag: string;
  removed: boolean;
  /** Where the flag's file is kept. */
  keptAt?: string;
}

export interface RecoveryProofFile {
  path: string;
  sha256: string;
  size: number;
}

function keptFlagOf(panic: PanicSettings, runTag: string): string {
  return path.join(panic.recoveryProofs, `recovery-${safeName(runTag)}.flag`);
}

export function createPanicActivities(config: LifeboatConfig) {
  return {
    /** Whether the target's panic flag is present, and its content (at most 4 KiB). */
    async checkPanicFlag(targetName: string): Promise<PanicFlagState> {
      const panic = sectionOf(config, targetName, 'panic');
      const flag = panic.flag;
      let stat;
      try {
        stat = await fsp.lstat(flag);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { flag, present: false };
        throw stopFailure('MissingPermission', `cannot look at the panic flag ${flag}: ${errorText(err)}`);
      }
      if (!stat.isFile()) {
        throw stopFailure(
          'UnsupportedFile',
          `the panic flag ${flag} is not a regular file (a directory or link?); Lifeboat only clears a flag file. Replace it by a file and retry, or stop`,
        );
      }
      let content: Buffer;
      let sha256: string;
      try {
        const handle = await fsp.open(flag, 'r');
        try {
          const buffer = Buffer.alloc(Math.min(stat.size, FLAG_CONTENT_LIMIT));
          const { bytesRead } = await handle.read(buffer, 0, buffer.length, 0);
          content = buffer.subarray(0, bytesRead);
        } finally {
          await handle.close();
        }
        sha256 = (await hashFile(flag)).sha256;
      } catch (err) {
        throw stopFailure('MissingPermission', `cannot read the panic flag ${flag}: ${errorText(err)}`);
      }
      return {
        flag,
        present: true,
        content: content.toString('utf8'),
        truncated: stat.size > FLAG_CONTENT_LIMIT,
        size: stat.size,
        sha256,
        modifiedAt: stat.mtime.toISOString(),
      };
    },

    ...createLedgerActivities(config),

    /** Verifies the Merkle-root chain of the proof files; a break is an IntegrityFailure naming the file. */
    async verifyProofChain(targetName: string): Promise<ProofChainResult> {
      const panic = sectionOf(config, targetName, 'panic');
      const folder = panic.proofs;
      let names: string[];
      try {
        names = (await fsp.readdir(folder)).sort();
      } catch (err) {
        throw stopFailure(
          'IntegrityFailure',
          `cannot read the proof files in ${folder}: ${errorText(err)}; restore them (procedure 004 §2) and retry, or stop`,
        );
      }
      const ignored = names.filter((n) => !PROOF_FILE.test(n));
      const files = [];
      for (const [i, name] of names.filter((n) => PROOF_FILE.test(n)).entries()) {
        if (i % 100 === 0) heartbeat({ read: i });
        files.push({ name, text: await fsp.readFile(path.join(folder, name), 'utf8') });
      }
      const verdict = verifyProofChain(files);
      if (!verdict.ok) {
        const where =
          verdict.break.file === '(none)'
            ? `no proof files (YYYY-MM-DD.json) in ${folder}`
            : `the proof chain in ${folder} breaks at ${describeBreak(verdict.break)}`;
        throw stopFailure(
          'IntegrityFailure',
          `${where}; ${verdict.checked} file(s) before it verified. Restore the proof files from their archive and retry, or stop`,
          { break: verdict.break },
        );
      }
      return {
        folder,
        files: verdict.files,
        first: verdict.first,
        last: verdict.last,
        lastRoot: verdict.lastRoot,
        startsFrom: verdict.startsFrom,
        ignored,
      };
    },

    ...createHealthProbeActivities(config),

    /**
     * Removes the panic flag, keeping its file at `<recoveryProofs>/recovery-<runTag>.flag` first.
     * A flag that cannot be removed is a MissingPermission STOP naming the path and the OS error.
     */
    async clearPanicFlag(targetName: string, runTag: string): Promise<FlagCleared> {
      const panic = sectionOf(config, targetName, 'panic');
      const flag = panic.flag;
      const kept = keptFlagOf(panic, runTag);
      if (!(await exists(flag))) {
        // A retry after the flag went: done already.
        return { flag, removed: false, keptAt: (await exists(kept)) ? kept : undefined };
      }
      try {
        if (!(await exists(kept))) await preserveCopy(flag, kept);
      } catch (err) {
        throw stopFailure(
          'MissingPermission',
          `cannot keep a copy of the panic flag at ${kept} (${errorText(err)}); the flag ${flag} stays in place. Make ${panic.recoveryProofs} writable and retry, or stop`,
        );
      }
      try {
        await fsp.unlink(flag);
        await fsyncDir(path.dirname(flag));
      } catch (err) {
        throw stopFailure(
          'MissingPermission',
          `cannot remove the panic flag ${flag}: ${errorText(err)}; it stays in place and the services are not started. Make its folder writable and retry, or stop`,
        );
      }
      return { flag, removed: true, keptAt: kept };
    },

    /** Compensation for clearPanicFlag: puts the flag back from its kept copy if this run removed it. */
    async restorePanicFlag(targetName: string, runTag: string): Promise<{ restored: boolean; flag: string }> {
      const panic = sectionOf(config, targetName, 'panic');
      const flag = panic.flag;
      const kept = keptFlagOf(panic, runTag);
      // No kept copy: this run never removed the flag, so there is nothing to put back.
      if ((await exists(flag)) || !(await exists(kept))) return { restored: false, flag };
      const staged = await stageCopy(kept, flag, `undo-${safeName(runTag)}`);
      await fsp.rename(staged.tmp, flag);
      await fsyncDir(path.dirname(flag));
      return { restored: true, flag };
    },

    /**
     * Writes the recovery proof `<recoveryProofs>/recovery-<runTag>.json` atomically, adding the
     * target's objectives and whether the run stayed within its RTO.
     */
    async writeRecoveryProof(
      targetName: string,
      runTag: string,
      proof: Record<string, unknown> & { timings?: { durationSeconds?: number } & Record<string, unknown> },
    ): Promise<RecoveryProofFile> {
      const target = findTarget(config, targetName);
      const panic = sectionOf(config, targetName, 'panic');
      const file = path.join(panic.recoveryProofs, `recovery-${safeName(runTag)}.json`);
      const rto = target.objectives.rtoMinutes;
      const seconds = proof.timings?.durationSeconds;
      const document = {
        ...proof,
        objectives: target.objectives,
        withinRto: rto !== undefined && seconds !== undefined ? seconds <= rto * 60 : undefined,
      };
      const text = `${JSON.stringify(document, null, 2)}\n`;
      try {
        await fsp.mkdir(panic.recoveryProofs, { recursive: true });
        await writeFileAtomic(file, text, safeName(runTag));
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        const why = `cannot write the recovery proof ${file}: ${errorText(err)}; the services are running`;
        if (code === 'ENOSPC') throw stopFailure('DiskSpace', `${why}. Free space and retry`);
        if (code === 'EACCES' || code === 'EPERM' || code === 'EROFS')
          throw stopFailure('MissingPermission', `${why}. Make ${panic.recoveryProofs} writable and retry`);
        throw err;
      }
      const { sha256, size } = await hashFile(file);
      return { path: file, sha256, size };
    },
  };
}
