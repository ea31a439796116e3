/**
 * Activities of panicRecovery (procedure 004 §3 ledger restore, §4 panic recovery): the panic flag,
 * the ledger database and its backups, the proof files' Merkle-root chain, the HTTP health probe and
 * the recovery proof. Paths and the health URL come from the target's `panic` and `health` sections.
 *
 * Nothing here deletes what it replaces: the damaged ledger (with its `-wal`/`-shm`/`-journal`) is
 * kept in `<ledger folder>/quarantine/<run tag>/`, the panic flag is copied to
 * `<recoveryProofs>/recovery-<run tag>.flag` before it is removed, and databases are checked on a
 * scratch copy so that neither the live ledger nor a backup is ever opened in place.
 */
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import type { LifeboatConfig, PanicSettings } from '../config';
import { stopFailure } from './errors';
import { exists, fsyncDir, hashFile, preserveCopy, stageCopy, writeFileAtomic } from './lib/files';
import { PROOF_FILE, describeBreak, verifyProofChain } from './lib/proofs';
import { putBack, quarantineAndReplace } from './lib/replace';
import { openDatabase } from './lib/sqlite';
import { findTarget, sectionOf } from './targets';
import { activitySignal, heartbeat } from './lib/context';

/** At most this much of the flag's content is carried in the run's status and proof. */
const FLAG_CONTENT_LIMIT = 4096;
/** Files SQLite keeps beside a database; they belong to it and move with it. */
const SIDECARS = ['-wal', '-shm', '-journal'];

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

export interface LedgerVerdict {
  file: string;
  present: boolean;
  intact: boolean;
  /** Why it is not intact (missing, not SQLite, what `PRAGMA integrity_check` said). */
  problem?: string;
  sha256?: string;
  size?: number;
}

export interface LedgerBackupVerdict {
  file: string;
  valid: boolean;
  problem?: string;
  sha256?: string;
  modifiedAt: string;
}

export interface LedgerBackupChoice {
  /** File name in the ledgerBackups folder. */
  backup: string;
  sha256: string;
  size: number;
  modifiedAt: string;
  /** Every backup looked at, newest first, with why it was rejected. */
  checked: LedgerBackupVerdict[];
}

export interface LedgerRestore {
  ledger: string;
  backup: string;
  sha256: string;
  size: number;
  /** The folder holding the replaced ledger and its sidecars. */
  quarantine: string;
  quarantined: string[];
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

export interface HealthProbeResult {
  /** The URL without any user name or password. */
  url: string;
  status: number;
  attempts: number;
  durationMs: number;
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

function errorText(err: unknown): string {
  // Not `instanceof Error`: errors from Node's own modules may come from another realm.
  const message = (err as { message?: unknown } | null)?.message;
  return typeof message === 'string' ? message : String(err);
}

function safeTag(tag: string): string {
  return tag.replace(/[^A-Za-z0-9._-]/g, '_');
}

function quarantineOf(panic: PanicSettings, runTag: string): string {
  return path.join(path.dirname(panic.ledger), 'quarantine', safeTag(runTag));
}

function keptFlagOf(panic: PanicSettings, runTag: string): string {
  return path.join(panic.recoveryProofs, `recovery-${safeTag(runTag)}.flag`);
}

/** `PRAGMA integrity_check` on `file`; undefined when it says ok, else what it said (short). */
function integrityProblem(file: string): string | undefined {
  // SQLite reads the header lazily: "not a database" may come from open or from the pragma.
  const unreadable = (err: unknown) => `cannot be read as SQLite: ${errorText(err)}`;
  let db;
  try {
    db = openDatabase(file, 'database', '', { readonly: true });
  } catch (err) {
    return unreadable(err);
  }
  try {
    const rows = db.pragma('integrity_check') as { integrity_check: string }[];
    const lines = rows.flatMap((r) => String(r.integrity_check).split('\n')).filter((l) => l.trim());
    if (lines.length === 1 && lines[0] === 'ok') return undefined;
    const shown = lines.filter((l) => !l.startsWith('***')).slice(0, 3);
    const more = lines.length - shown.length - (lines[0]?.startsWith('***') ? 1 : 0);
    return `PRAGMA integrity_check: ${shown.join('; ')}${more > 0 ? ` (and ${more} more)` : ''}`;
  } catch (err) {
    return unreadable(err);
  } finally {
    db.close();
  }
}

/**
 * Checks a database on a scratch copy in `scratchParent` (with its WAL, if any): opening a WAL
 * database even read-only leaves `-wal`/`-shm` files beside it, and neither the live ledger nor a
 * backup (perhaps on a read-only volume) may be touched. Returns the main file's SHA-256.
 */
async function checkDatabaseCopy(
  file: string,
  scratchParent: string,
): Promise<{ problem?: string; sha256: string; size: number }> {
  await fsp.mkdir(scratchParent, { recursive: true });
  const scratch = await fsp.mkdtemp(path.join(scratchParent, '.lifeboat-check-'));
  try {
    const copy = path.join(scratch, 'check.db');
    const staged = await stageCopy(file, copy, 'check');
    await fsp.rename(staged.tmp, copy);
    if (await exists(`${file}-wal`)) await fsp.copyFile(`${file}-wal`, `${copy}-wal`);
    return { problem: integrityProblem(copy), sha256: staged.sha256, size: staged.size };
  } finally {
    await fsp.rm(scratch, { recursive: true, force: true });
  }
}

/** Moves `file` into `dest` (kept, never deleted): a link or synced copy, then the original goes. */
async function moveAside(file: string, dest: string): Promise<void> {
  await fsp.rm(dest, { force: true });
  await preserveCopy(file, dest);
  await fsp.unlink(file);
  await fsyncDir(path.dirname(file));
}

interface RestoreRecord {
  ledger: string;
  ledgerWasPresent: boolean;
  backup: string;
  sha256: string;
  at: string;
}

/**
 * Puts the quarantined ledger (and its sidecars) back, keeping what the run restored under
 * `<quarantine>/restored/`. Harmless when nothing was restored.
 */
async function undoLedgerRestore(
  panic: PanicSettings,
  runTag: string,
): Promise<{ putBack: string[]; keptRestored: string[] }> {
  const folder = quarantineOf(panic, runTag);
  const recordFile = path.join(folder, 'restore.json');
  if (!(await exists(recordFile))) return { putBack: [], keptRestored: [] };
  const record = JSON.parse(await fsp.readFile(recordFile, 'utf8')) as RestoreRecord;
  const ledger = panic.ledger;
  const base = path.basename(ledger);
  const restoredDir = path.join(folder, 'restored');
  const keptRestored: string[] = [];
  const putBackFiles: string[] = [];
  // The restored ledger's own sidecars would not fit the ledger put back (the damaged ledger's
  // own, already back after an earlier attempt, stay).
  for (const suffix of SIDECARS) {
    const live = `${ledger}${suffix}`;
    if (!(await exists(live))) continue;
    const kept = path.join(folder, `${base}${suffix}`);
    if ((await exists(kept)) && (await hashFile(kept)).sha256 === (await hashFile(live)).sha256) continue;
    const dest = path.join(restoredDir, `${base}${suffix}`);
    await moveAside(live, dest);
    keptRestored.push(dest);
  }
  const quarantined = path.join(folder, base);
  if (record.ledgerWasPresent) {
    if ((await exists(ledger)) && (await exists(quarantined))) {
      const same = (await hashFile(ledger)).sha256 === (await hashFile(quarantined)).sha256;
      if (!same) {
        const dest = path.join(restoredDir, base);
        await fsp.rm(dest, { force: true });
        await preserveCopy(ledger, dest);
        keptRestored.push(dest);
      }
    }
    if (await putBack(ledger, quarantined, `undo-${safeTag(runTag)}`)) putBackFiles.push(ledger);
  } else if (await exists(ledger)) {
    // There was no ledger when the run began: leave none, keeping the restored copy.
    const dest = path.join(restoredDir, base);
    await moveAside(ledger, dest);
    keptRestored.push(dest);
  }
  for (const suffix of SIDECARS) {
    const kept = path.join(folder, `${base}${suffix}`);
    if (!(await exists(kept)) || (await exists(`${ledger}${suffix}`))) continue;
    const staged = await stageCopy(kept, `${ledger}${suffix}`, `undo-${safeTag(runTag)}`);
    await fsp.rename(staged.tmp, `${ledger}${suffix}`);
    await fsyncDir(path.dirname(ledger));
    putBackFiles.push(`${ledger}${suffix}`);
  }
  return { putBack: putBackFiles, keptRestored };
}

/**
 * The URL to request and as it may be shown (without a user name or password), and the
 * Authorization header its credentials become (fetch refuses URLs that carry them).
 */
function healthRequest(url: string): { url: string; headers: Record<string, string> } {
  const u = new URL(url);
  const headers: Record<string, string> = {};
  if (u.username || u.password) {
    const user = decodeURIComponent(u.username);
    const pass = decodeURIComponent(u.password);
    headers.authorization = `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}`;
    u.username = '';
    u.password = '';
  }
  return { url: u.toString(), headers };
}

/** Why one health request failed, in a line. */
function requestError(err: unknown, timeoutSeconds: number): string {
  const e = err as { name?: string; message?: string; cause?: { code?: string; message?: string } };
  if (e.name === 'TimeoutError') return `no answer within ${timeoutSeconds}s`;
  if (e.cause?.message)
    return e.cause.code && !e.cause.message.includes(e.cause.code)
      ? `${e.cause.code}: ${e.cause.message}`
      : e.cause.message;
  return e.message ?? String(err);
}

/** Reads at most `limit` bytes of a response body, as one line. */
async function bodyExcerpt(res: Response, limit = 200): Promise<string> {
  if (!res.body) return '';
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    while (size < limit) {
      const { done, value } = await reader.read();
      if (done) break;
      chunks.push(value);
      size += value.length;
    }
  } finally {
    await reader.cancel().catch(() => undefined);
  }
  return Buffer.concat(chunks).toString('utf8').slice(0, limit).replace(/\s+/g, ' ').trim();
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
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

    /**
     * Checks the live ledger (on a scratch copy, with its WAL) with `PRAGMA integrity_check`. With
     * `require`, a ledger that is missing or not intact is an IntegrityFailure (a STOP).
     */
    async checkLedger(targetName: string, options: { require?: boolean } = {}): Promise<LedgerVerdict> {
      const panic = sectionOf(config, targetName, 'panic');
      const file = panic.ledger;
      let verdict: LedgerVerdict;
      if (!(await exists(file))) {
        verdict = { file, present: false, intact: false, problem: 'the ledger database is missing' };
      } else {
        heartbeat({ checking: file });
        const check = await checkDatabaseCopy(file, path.dirname(file));
        verdict = {
          file,
          present: true,
          intact: check.problem === undefined,
          problem: check.problem,
          sha256: check.sha256,
          size: check.size,
        };
      }
      if (options.require && !verdict.intact) {
        throw stopFailure('IntegrityFailure', `the ledger ${file} is not intact: ${verdict.problem}`);
      }
      return verdict;
    },

    /**
     * Checks the ledger backups newest first (by modification time, then name) with
     * `PRAGMA integrity_check` and returns the first that passes; none is a STOP naming each.
     */
    async findValidLedgerBackup(targetName: string): Promise<LedgerBackupChoice> {
      const panic = sectionOf(config, targetName, 'panic');
      const folder = panic.ledgerBackups;
      const place = `place a backup of ${path.basename(panic.ledger)} (a SQLite file) in ${folder} and retry, or stop`;
      let entries;
      try {
        entries = await fsp.readdir(folder, { withFileTypes: true });
      } catch (err) {
        throw stopFailure(
          'NoValidBackup',
          `cannot list the ledger backups in ${folder}: ${errorText(err)}; ${place}`,
        );
      }
      const candidates = [];
      for (const entry of entries) {
        if (!entry.isFile() || entry.name.startsWith('.')) continue;
        if (SIDECARS.some((s) => entry.name.endsWith(s))) continue;
        const stat = await fsp.stat(path.join(folder, entry.name));
        candidates.push({ name: entry.name, mtimeMs: stat.mtimeMs, modifiedAt: stat.mtime.toISOString() });
      }
      candidates.sort((a, b) => b.mtimeMs - a.mtimeMs || (a.name < b.name ? 1 : a.name > b.name ? -1 : 0));
      if (candidates.length === 0)
        throw stopFailure('NoValidBackup', `no ledger backups in ${folder}; ${place}`);
      const checked: LedgerBackupVerdict[] = [];
      for (const [index, candidate] of candidates.entries()) {
        heartbeat({ checked: index, total: candidates.length, current: candidate.name });
        const check = await checkDatabaseCopy(path.join(folder, candidate.name), path.dirname(panic.ledger));
        checked.push({
          file: candidate.name,
          valid: check.problem === undefined,
          problem: check.problem,
          sha256: check.sha256,
          modifiedAt: candidate.modifiedAt,
        });
        if (check.problem === undefined) {
          return {
            backup: candidate.name,
            sha256: check.sha256,
            size: check.size,
            modifiedAt: candidate.modifiedAt,
            checked,
          };
        }
      }
      throw stopFailure(
        'NoValidBackup',
        `no ledger backup among ${checked.length} in ${folder} passes PRAGMA integrity_check (${checked.map((c) => `${c.file}: ${c.problem}`).join('; ')}); ${place}`,
        { checked },
      );
    },

    /**
     * Replaces the ledger by a backup: the damaged ledger and its sidecars are kept in
     * `<ledger folder>/quarantine/<runTag>/` (a stale WAL must not be applied to the restored
     * file), the backup is copied beside the ledger and renamed over it, and its SHA-256 must be the
     * one checked before. Retried, it does not quarantine the restored file.
     */
    async restoreLedger(
      targetName: string,
      backupName: string,
      expectedSha256: string,
      runTag: string,
    ): Promise<LedgerRestore> {
      const panic = sectionOf(config, targetName, 'panic');
      const ledger = panic.ledger;
      const source = path.join(panic.ledgerBackups, path.basename(backupName));
      if (!(await exists(source)))
        throw stopFailure(
          'NoValidBackup',
          `the ledger backup ${backupName} is no longer in ${panic.ledgerBackups}`,
        );
      const folder = quarantineOf(panic, runTag);
      await fsp.mkdir(folder, { recursive: true });
      const recordFile = path.join(folder, 'restore.json');
      if (!(await exists(recordFile))) {
        const record: RestoreRecord = {
          ledger,
          ledgerWasPresent: await exists(ledger),
          backup: backupName,
          sha256: expectedSha256,
          at: new Date().toISOString(),
        };
        await writeFileAtomic(recordFile, `${JSON.stringify(record, null, 2)}\n`, safeTag(runTag));
      }
      const base = path.basename(ledger);
      const quarantined: string[] = [];
      for (const suffix of SIDECARS) {
        const live = `${ledger}${suffix}`;
        const kept = path.join(folder, `${base}${suffix}`);
        if (await exists(live)) {
          if (!(await exists(kept))) await preserveCopy(live, kept);
          await fsp.unlink(live);
          await fsyncDir(path.dirname(ledger));
        }
        if (await exists(kept)) quarantined.push(kept);
      }
      heartbeat({ restoring: backupName });
      const replaced = await quarantineAndReplace(ledger, source, folder, `restore-${safeTag(runTag)}`);
      if (replaced.quarantined) quarantined.unshift(replaced.quarantined);
      if (replaced.sha256 !== expectedSha256) {
        await undoLedgerRestore(panic, runTag);
        throw stopFailure(
          'ChecksumMismatch',
          `the ledger backup ${backupName} changed since it was checked: expected ${expectedSha256.slice(0, 16)}…, copied ${replaced.sha256.slice(0, 16)}…; the ledger was put back`,
        );
      }
      return {
        ledger,
        backup: backupName,
        sha256: replaced.sha256,
        size: replaced.size,
        quarantine: folder,
        quarantined,
      };
    },

    /** Compensation for restoreLedger: puts the quarantined ledger back. Harmless when nothing was restored. */
    async putLedgerBack(
      targetName: string,
      runTag: string,
    ): Promise<{ putBack: string[]; keptRestored: string[] }> {
      const panic = sectionOf(config, targetName, 'panic');
      return undoLedgerRestore(panic, runTag);
    },

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

    /**
     * GETs the target's health URL up to `attempts` times, `intervalSeconds` apart, each within
     * `timeoutSeconds`; a 2xx answer is healthy. Otherwise a HealthCheckFailed STOP with the last error.
     */
    async probeHealth(targetName: string): Promise<HealthProbeResult> {
      const health = sectionOf(config, targetName, 'health');
      const { url, headers } = healthRequest(health.url);
      const cancelled = activitySignal();
      const started = Date.now();
      // Heartbeats keep flowing while a request waits, so a stop reaches the probe at once.
      let attempt = 0;
      let last = 'no attempt made';
      const beat = setInterval(() => heartbeat({ attempt, last }), 1000);
      try {
        for (attempt = 1; attempt <= health.attempts; attempt += 1) {
          const timeout = AbortSignal.timeout(health.timeoutSeconds * 1000);
          const signal = cancelled ? AbortSignal.any([timeout, cancelled]) : timeout;
          try {
            const res = await fetch(url, { headers, redirect: 'manual', signal });
            const body = await bodyExcerpt(res);
            if (res.status >= 200 && res.status < 300) {
              return { url, status: res.status, attempts: attempt, durationMs: Date.now() - started };
            }
            last = `HTTP ${res.status}${res.statusText ? ` ${res.statusText}` : ''}${body ? `: ${body}` : ''}`;
          } catch (err) {
            if (cancelled?.aborted) throw err;
            last = requestError(err, health.timeoutSeconds);
          }
          heartbeat({ attempt, last });
          if (attempt < health.attempts) await sleep(health.intervalSeconds * 1000, cancelled);
        }
      } finally {
        clearInterval(beat);
      }
      throw stopFailure(
        'HealthCheckFailed',
        `${url} is not healthy after ${health.attempts} attempt(s), ${health.intervalSeconds}s apart, ${health.timeoutSeconds}s each; last: ${last}`,
      );
    },

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
      const staged = await stageCopy(kept, flag, `undo-${safeTag(runTag)}`);
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
      const file = path.join(panic.recoveryProofs, `recovery-${safeTag(runTag)}.json`);
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
        await writeFileAtomic(file, text, safeTag(runTag));
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
