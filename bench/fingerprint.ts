/**
 * The fingerprint of a tree, to check a restored tree (and the data set put back after a
 * repetition) against the generated source: file count, a hash of every non-database file's path
 * and content, and the row count of every table of every database.
 */
import Database from 'better-sqlite3';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { isSqliteSync } from '../activities/lib/sqlite';
import { listFiles } from '../scripts/storage-root';

export interface Fingerprint {
  files: number;
  bytes: number;
  /** SHA-256 over every non-database file's path and content hash, in path order. */
  contentSha256: string;
  /** Row count of every table of every database, by path. */
  databaseRows: Record<string, Record<string, number>>;
}

function hashFileSync(file: string): string {
  const hash = createHash('sha256');
  const fd = fs.openSync(file, 'r');
  const buf = Buffer.allocUnsafe(1 << 20);
  try {
    for (let n; (n = fs.readSync(fd, buf, 0, buf.length, null)) > 0;) hash.update(buf.subarray(0, n));
  } finally {
    fs.closeSync(fd);
  }
  return hash.digest('hex');
}

function rowCounts(file: string): Record<string, number> {
  const db = new Database(file, { readonly: true, fileMustExist: true });
  try {
    const tables = db
      .prepare(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name",
      )
      .all() as { name: string }[];
    const counts: Record<string, number> = {};
    for (const { name } of tables) {
      const row = db.prepare(`SELECT count(*) AS n FROM "${name.replace(/"/g, '""')}"`).get() as {
        n: number;
      };
      counts[name] = row.n;
    }
    return counts;
  } finally {
    db.close();
  }
}

/** Files, total size, a hash of all non-database content, and database row counts. */
export function fingerprint(root: string): Fingerprint {
  const list = listFiles(root);
  const rel = (abs: string) => path.relative(root, abs).split(path.sep).join('/');
  list.sort((a, b) => (rel(a) < rel(b) ? -1 : 1));
  const content = createHash('sha256');
  const databaseRows: Record<string, Record<string, number>> = {};
  let bytes = 0;
  for (const abs of list) {
    const st = fs.lstatSync(abs);
    bytes += st.size;
    if (!st.isFile()) content.update(`${rel(abs)}\0(not a regular file)\n`);
    else if (isSqliteSync(abs)) databaseRows[rel(abs)] = rowCounts(abs);
    else content.update(`${rel(abs)}\0${hashFileSync(abs)}\n`);
  }
  return { files: list.length, bytes, contentSha256: content.digest('hex'), databaseRows };
}

/** What differs between the source's fingerprint and a restored tree's; empty when they match. */
export function compareFingerprints(expected: Fingerprint, actual: Fingerprint): string[] {
  const problems: string[] = [];
  if (expected.files !== actual.files) problems.push(`${actual.files} files, expected ${expected.files}`);
  if (expected.contentSha256 !== actual.contentSha256) problems.push('non-database file contents differ');
  const paths = new Set([...Object.keys(expected.databaseRows), ...Object.keys(actual.databaseRows)]);
  for (const p of [...paths].sort()) {
    const want = JSON.stringify(expected.databaseRows[p] ?? null);
    const got = JSON.stringify(actual.databaseRows[p] ?? null);
    if (want !== got) problems.push(`database ${p}: rows ${got}, expected ${want}`);
  }
  return problems;
}
