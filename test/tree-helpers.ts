/**
 * Comparing restored trees with the original in tests: non-database files byte for byte with their
 * modes and mtimes, SQLite databases (by their header-bearing names `.db`/`.index`) by their rows.
 */
import Database from 'better-sqlite3';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { treeState } from '../scripts/storage-root';

export function rows(file: string): unknown[] {
  const db = new Database(file, { readonly: true });
  try {
    return db.prepare('SELECT * FROM items ORDER BY id').all();
  } finally {
    db.close();
  }
}

/** Non-database files byte for byte (with modes and mtimes); databases by content. */
export function expectSameTree(
  actualRoot: string,
  expected: ReturnType<typeof treeState>,
  expectedDbRows: Record<string, unknown[]>,
): void {
  // SQLite's -wal/-shm files come and go as databases are opened; a snapshot captures their content.
  const transient = (p: string) => p.endsWith('-wal') || p.endsWith('-shm');
  const withoutTransient = (s: ReturnType<typeof treeState>) =>
    Object.fromEntries(Object.entries(s).filter(([p]) => !transient(p)));
  const actual = withoutTransient(treeState(actualRoot));
  expected = withoutTransient(expected);
  const files = (s: ReturnType<typeof treeState>) =>
    Object.keys(s)
      .filter((p) => !p.endsWith('.db') && !p.endsWith('.index'))
      .sort();
  expect(Object.keys(actual).sort()).toEqual(Object.keys(expected).sort());
  for (const p of files(expected)) {
    expect({ p, sha256: actual[p].sha256, mode: actual[p].mode }).toEqual({
      p,
      sha256: expected[p].sha256,
      mode: expected[p].mode,
    });
    // utimes takes seconds as a double: mtimes come back to within a microsecond.
    expect({ p, mtimeDelta: Math.abs(actual[p].mtimeMs - expected[p].mtimeMs) < 0.001 }).toEqual({
      p,
      mtimeDelta: true,
    });
  }
  for (const [p, want] of Object.entries(expectedDbRows)) {
    expect(rows(path.join(actualRoot, p))).toEqual(want);
    expect(actual[p].mode).toBe(expected[p].mode);
  }
}

export function dbRows(root: string): Record<string, unknown[]> {
  return Object.fromEntries(
    Object.keys(treeState(root))
      .filter((p) => p.endsWith('.db') || p.endsWith('.index'))
      .map((p) => [p, rows(path.join(root, p))]),
  );
}

/** Every file and folder under `top`: bytes, mtime and mode, in one line each ("nothing changed"). */
export function snapshot(top: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string) => {
    for (const entry of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, entry.name);
      const st = fs.lstatSync(p);
      const sha = entry.isFile() ? createHash('sha256').update(fs.readFileSync(p)).digest('hex') : '';
      out[path.relative(top, p)] = `${sha} ${st.mtimeMs} ${st.mode}`;
      if (entry.isDirectory()) walk(p);
    }
  };
  walk(top);
  return out;
}
