/**
 * Activities of panicRecovery for the ledger database (procedure 004 §3): check the live ledger,
 * find the newest backup that passes `PRAGMA integrity_check`, restore it, and put the damaged
 * ledger back when a later step fails.
 *
 * Nothing here deletes what it replaces: the damaged ledger (with its `-wal`/`-shm`/`-journal`) is
 * kept in `<ledger folder>/quarantine/<run tag>/`, and databases are checked on a scratch copy so
 * that neither the live ledger nor a backup is ever opened in place.
 */
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import type { LifeboatConfig, PanicSettings } from '../config';
import { errorText, stopFailure } from './errors';
import { heartbeat } from './lib/context';
import { exists, fsyncDir, hashFile, preserveCopy, safeName, stageCopy, writeFileAtomic } from './lib/files';
import { putBack, quarantineAndReplace } from './lib/replace';
import { SQLITE_SIDECARS, openDatabase } from './lib/sqlite';
import { sectionOf } from './targets';

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

function quarantineOf(panic: PanicSettings, runTag: string): string {
  return path.join(path.dirname(panic.ledger), 'quarantine', safeName(runTag));
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
  for (const suffix of SQLITE_SIDECARS) {
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
    if (await putBack(ledger, quarantined, `undo-${safeName(runTag)}`)) putBackFiles.push(ledger);
  } else if (await exists(ledger)) {
    // There was no ledger when the run began: leave none, keeping the restored copy.
    const dest = path.join(restoredDir, base);
    await moveAside(ledger, dest);
    keptRestored.push(dest);
  }
  for (const suffix of SQLITE_SIDECARS) {
    const kept = path.join(folder, `${base}${suffix}`);
    if (!(await exists(kept)) || (await exists(`${ledger}${suffix}`))) continue;
    const staged = await stageCopy(kept, `${ledger}${suffix}`, `undo-${safeName(runTag)}`);
    await fsp.rename(staged.tmp, `${ledger}${suffix}`);
    await fsyncDir(path.dirname(ledger));
    putBackFiles.push(`${ledger}${suffix}`);
  }
  return { putBack: putBackFiles, keptRestored };
}

export function createLedgerActivities(config: LifeboatConfig) {
  return {
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
        if (SQLITE_SIDECARS.some((s) => entry.name.endsWith(s))) continue;
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
        await writeFileAtomic(recordFile, `${JSON.stringify(record, null, 2)}\n`, safeName(runTag));
      }
      const base = path.basename(ledger);
      const quarantined: string[] = [];
      for (const suffix of SQLITE_SIDECARS) {
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
      const replaced = await quarantineAndReplace(ledger, source, folder, `restore-${safeName(runTag)}`);
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
  };
}
