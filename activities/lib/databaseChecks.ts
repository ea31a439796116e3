/**
 * The databases of an archive being verified: each is written by a reader thread to a copy in a
 * scratch folder and checked with `PRAGMA integrity_check` in the check thread (integrityThread.ts)
 * once its checksum matched, then the copy is removed. The reading goes on meanwhile; at most two
 * copies wait for their check, so the scratch folder holds no more than that.
 *
 * A database an earlier verification of the same backup checked is not copied and checked again
 * when its bytes are the same (the entry's SHA-256, proven by this reading) and so is the SQLite
 * library: `integrity_check` is a function of those two, so its answer stands. The result says so
 * (`reused`, and when it was checked); `recheck` checks every database regardless. A database whose
 * bytes differ from the ones its earlier check covered is an error: the archive changed under its
 * catalog entry, and there is no copy to check.
 */
import Database from 'better-sqlite3';
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import { ArchiveError, type EntryDigest, type EntryHeader, type FileSink } from './archive';
import { integrityCheck } from './integrityThread';

/** A database's `integrity_check` as a verification reports it. */
export interface DatabaseCheck {
  path: string;
  /** 'ok', or SQLite's findings. */
  integrity: string;
  /** SHA-256 of the bytes checked (the archive entry's). */
  sha256?: string;
  /** The SQLite library that checked them. */
  sqlite?: string;
  /** When they were checked: an earlier verification's time when `reused`. */
  checkedAt?: string;
  /** Not checked again: the same bytes passed under the same SQLite at `checkedAt`. */
  reused?: boolean;
}

let version: string | undefined;

/** The SQLite library's version (the check thread loads the same library). */
export function sqliteVersion(): string {
  if (version === undefined) {
    const db = new Database(':memory:');
    try {
      version = String(db.prepare('SELECT sqlite_version()').pluck().get());
    } finally {
      db.close();
    }
  }
  return version;
}

/**
 * The databases an earlier verification's report (the catalog's JSON) found sound, by path, under
 * this SQLite: only what names its bytes, its library and its time is taken; anything else is
 * checked again.
 */
export function earlierChecks(report: string | null | undefined): Map<string, DatabaseCheck> {
  const found = new Map<string, DatabaseCheck>();
  if (!report) return found;
  let parsed: unknown;
  try {
    parsed = JSON.parse(report);
  } catch {
    return found;
  }
  const { ok, databases } = (parsed ?? {}) as { ok?: unknown; databases?: unknown };
  if (ok !== true || !Array.isArray(databases)) return found;
  const current = sqliteVersion();
  for (const d of databases as Partial<Record<keyof DatabaseCheck, unknown>>[]) {
    if (
      d?.integrity === 'ok' &&
      typeof d.path === 'string' &&
      typeof d.sha256 === 'string' &&
      /^[0-9a-f]{64}$/.test(d.sha256) &&
      d.sqlite === current &&
      typeof d.checkedAt === 'string'
    )
      found.set(d.path, {
        path: d.path,
        integrity: 'ok',
        sha256: d.sha256,
        sqlite: current,
        checkedAt: d.checkedAt,
      });
  }
  return found;
}

/**
 * For checks of restored files (verifyRestoredRoot): whether a database file the manifest lists is
 * one a verification of the archive holding it (`storedIn`) found sound, in the same bytes under this
 * SQLite. `reportOf` gives a backup's last verification (ok, report), or undefined. The caller has
 * hashed the file; a journal or WAL beside it would change what SQLite reads, so with one it checks.
 */
export function checkedBefore(
  reportOf: (backupId: string) => { ok: boolean; report: string | null } | undefined,
): (file: { path: string; sha256: string; storedIn: string }) => DatabaseCheck | undefined {
  const byBackup = new Map<string, Map<string, DatabaseCheck>>();
  return (file) => {
    let checks = byBackup.get(file.storedIn);
    if (!checks) {
      const last = reportOf(file.storedIn);
      checks = last?.ok ? earlierChecks(last.report) : new Map<string, DatabaseCheck>();
      byBackup.set(file.storedIn, checks);
    }
    const check = checks.get(file.path);
    return check?.sha256 === file.sha256 ? check : undefined;
  };
}

export interface IntegritySinks {
  /** Where a reading puts each entry (archiveReader.ts): databases to be checked get a copy. */
  open: (header: EntryHeader) => Promise<FileSink | undefined>;
  /** Waits for the last check; throws the first error one had. */
  settled: () => Promise<void>;
  /** The checks made so far, in archive order (what a failed verification reports). */
  checked: DatabaseCheck[];
  /** Every database of the archive read (its entries), in archive order, after `settled`. */
  results: (entries: EntryDigest[]) => DatabaseCheck[];
}

/** See the module comment; `earlier`: what earlierChecks found (empty: check every database). */
export function integritySinks(
  scratch: string,
  earlier: ReadonlyMap<string, DatabaseCheck> = new Map(),
): IntegritySinks {
  let count = 0;
  const checks: Promise<void>[] = [];
  const checked: DatabaseCheck[] = [];
  let failure: unknown;
  const open = async (header: EntryHeader): Promise<FileSink | undefined> => {
    if (header.kind !== 'sqlite' || earlier.has(header.path)) return undefined;
    const dest = path.join(scratch, `${count++}.db`);
    return {
      file: dest,
      mode: 0o600,
      mtimeMs: header.mtimeMs,
      close: async (digest) => {
        const result: DatabaseCheck = { path: digest.path, integrity: '', sha256: digest.sha256 };
        checked.push(result);
        const check = integrityCheck(dest)
          .then((integrity) => {
            result.integrity = integrity;
            result.sqlite = sqliteVersion();
            result.checkedAt = new Date().toISOString();
          })
          .catch((err: unknown) => void (failure ??= err))
          .finally(() => fsp.rm(dest, { force: true }));
        checks.push(check);
        while (checks.length > 2) await checks.shift();
      },
    };
  };
  const settled = async () => {
    while (checks.length) await checks.shift();
    if (failure) throw failure;
  };
  const results = (entries: EntryDigest[]): DatabaseCheck[] => {
    const byPath = new Map(checked.map((c) => [c.path, c]));
    const all: DatabaseCheck[] = [];
    for (const e of entries) {
      if (e.kind !== 'sqlite') continue;
      const done = byPath.get(e.path);
      if (done) {
        all.push(done);
        continue;
      }
      const before = earlier.get(e.path)!;
      if (before.sha256 !== e.sha256)
        throw new ArchiveError(
          `database ${JSON.stringify(e.path)} is not the one checked at ${before.checkedAt}: its SHA-256 is ${e.sha256.slice(0, 16)}…, the checked one's ${String(before.sha256).slice(0, 16)}…`,
          'damaged',
        );
      all.push({ ...before, reused: true });
    }
    return all;
  };
  return { open, settled, checked, results };
}
