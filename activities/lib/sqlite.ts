/** Opening Lifeboat's own SQLite files (the audit ledger, the backup catalog) the same way. */
import Database from 'better-sqlite3';
import * as fs from 'node:fs';
import * as path from 'node:path';

/**
 * Opens `file`: read-only (it must exist; `what` names it in the error), or for writing (created
 * with `schema`, in WAL mode). Several workers may write at once: they wait for the lock.
 */
export function openDatabase(
  file: string,
  what: string,
  schema: string,
  options: { readonly?: boolean },
): Database.Database {
  let db: Database.Database;
  if (options.readonly) {
    if (!fs.existsSync(file)) throw new Error(`no ${what} at ${file}`);
    db = new Database(file, { readonly: true, fileMustExist: true });
  } else {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    db = new Database(file);
    db.pragma('journal_mode = WAL');
    db.exec(schema);
  }
  db.pragma('busy_timeout = 10000');
  return db;
}
