/**
 * SQLite files: telling a database by its header (a backup snapshots it, a drill damages it, a
 * sandbox copies it with its WAL), the files SQLite keeps beside it, and opening Lifeboat's own
 * databases (the audit ledger, the backup catalog) the same way.
 */
import Database from 'better-sqlite3';
import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import { SchemaTooNew } from './stores/types';

/** The first 16 bytes of every SQLite 3 database file. */
export const SQLITE_HEADER = Buffer.from('SQLite format 3\0');

/** Files SQLite keeps beside a database (`<file>-wal`, …); they belong to it and move with it. */
export const SQLITE_SIDECARS = ['-wal', '-shm', '-journal'];

/** Whether `file` starts with the SQLite header. A file that cannot be opened throws. */
export async function isSqlite(file: string): Promise<boolean> {
  const handle = await fsp.open(file, 'r');
  try {
    const buf = Buffer.alloc(SQLITE_HEADER.length);
    const { bytesRead } = await handle.read(buf, 0, buf.length, 0);
    return bytesRead === buf.length && buf.equals(SQLITE_HEADER);
  } finally {
    await handle.close();
  }
}

/** {@link isSqlite} for synchronous code (the benchmark's fingerprint of a restored tree). */
export function isSqliteSync(file: string): boolean {
  const fd = fs.openSync(file, 'r');
  try {
    const buf = Buffer.alloc(SQLITE_HEADER.length);
    return fs.readSync(fd, buf, 0, buf.length, 0) === buf.length && buf.equals(SQLITE_HEADER);
  } finally {
    fs.closeSync(fd);
  }
}

/** The version of each of Lifeboat's schemas a file holds (several stores may share one file). */
const SCHEMA_TABLE =
  'CREATE TABLE IF NOT EXISTS lifeboat_schema (store TEXT PRIMARY KEY, version INTEGER NOT NULL, at TEXT NOT NULL)';

/** The version of `store` the file records (none: a file from before versions, or a new one). */
export function recordedVersion(db: Database.Database, store: string): number | undefined {
  const table = db
    .prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'lifeboat_schema'")
    .get();
  if (!table) return undefined;
  const row = db.prepare('SELECT version FROM lifeboat_schema WHERE store = ?').get(store) as
    { version: number } | undefined;
  return row?.version;
}

/**
 * A copy of the file as it is, beside it (`<file>.before-<what>`), made with SQLite's VACUUM INTO
 * (consistent, WAL included) before an upgrade changes it: the way back to the older Lifeboat that
 * wrote it. Made once; a copy already there (another worker's, at the same moment) is kept.
 */
function keepBefore(db: Database.Database, file: string, what: string): void {
  const copy = `${file}.before-${what}`;
  if (fs.existsSync(copy)) return;
  // Written under another name, synced and renamed: a crash leaves no half copy under the real name.
  const tmp = `${copy}.${process.pid}.tmp`;
  try {
    fs.rmSync(tmp, { force: true });
    db.prepare('VACUUM INTO ?').run(tmp);
    const fd = fs.openSync(tmp, 'r');
    try {
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    if (!fs.existsSync(copy)) fs.renameSync(tmp, copy);
    const dir = fs.openSync(path.dirname(file), 'r');
    try {
      fs.fsyncSync(dir);
    } finally {
      fs.closeSync(dir);
    }
  } catch (err) {
    db.close();
    throw err;
  } finally {
    fs.rmSync(tmp, { force: true });
  }
}

/**
 * Opens `file`: read-only (it must exist; `what` names it in the error), or for writing (created
 * with `schema`, in WAL mode, and its version recorded). A file whose schema `version.store` is newer
 * than `version.current` is refused (SchemaTooNew). Several workers may write at once: they wait for
 * the lock.
 */
export function openDatabase(
  file: string,
  what: string,
  schema: string,
  options: { readonly?: boolean },
  /**
   * Lifeboat's own stores: their schema's name and version (none for a target's database), and how
   * a file of an older version (undefined: from before versions, or new) is brought to `current`.
   */
  version?: { store: string; current: number; migrate?: (db: Database.Database, from?: number) => void },
): Database.Database {
  let db: Database.Database;
  if (options.readonly) {
    if (!fs.existsSync(file)) throw new Error(`no ${what} at ${file}`);
    db = new Database(file, { readonly: true, fileMustExist: true });
  } else {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    db = new Database(file);
  }
  db.pragma('busy_timeout = 10000');
  const found = version && recordedVersion(db, version.store);
  if (version && found !== undefined && found > version.current) {
    db.close();
    throw new SchemaTooNew(what, file, found, version.current);
  }
  if (!options.readonly) {
    db.pragma('journal_mode = WAL');
    db.exec(schema);
    if (version) db.exec(SCHEMA_TABLE);
    if (version && found !== undefined && found < version.current && version.migrate)
      keepBefore(db, file, `${version.store}-schema-${version.current}`);
    if (version && found !== version.current) {
      // Migrated and marked in one transaction, under the write lock: another worker opening the
      // same file at once finds it done; a crash leaves the old version, whole.
      const migrate = db.transaction(() => {
        const now = recordedVersion(db, version.store);
        if (now === version.current) return;
        if (now !== undefined && now > version.current)
          throw new SchemaTooNew(what, file, now, version.current);
        version.migrate?.(db, now);
        db.prepare(
          'INSERT INTO lifeboat_schema (store, version, at) VALUES (?, ?, ?) ON CONFLICT (store) DO UPDATE SET version = excluded.version, at = excluded.at',
        ).run(version.store, version.current, new Date().toISOString());
      });
      try {
        migrate.immediate();
      } catch (err) {
        db.close();
        throw err;
      }
    }
  }
  return db;
}
