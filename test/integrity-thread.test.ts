/**
 * The integrity check thread (activities/lib/integrityThread.ts): answers for real SQLite files, SQLite's
 * own error for a file that is not a database, several checks at once, and a check after the idle thread
 * has ended (a new thread answers; nothing pending is failed by the old one's end).
 */
import Database from 'better-sqlite3';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { integrityCheck } from '../activities/lib/integrityThread';
import { tempDir } from './helpers';

let dir: string;

function database(name: string, rows: number): string {
  const file = path.join(dir, name);
  const db = new Database(file);
  db.exec('CREATE TABLE items (id INTEGER PRIMARY KEY, body TEXT)');
  const insert = db.prepare('INSERT INTO items (body) VALUES (?)');
  db.transaction(() => {
    for (let i = 0; i < rows; i += 1) insert.run(`row ${i} `.repeat(20));
  })();
  db.close();
  return file;
}

beforeAll(() => {
  dir = tempDir('integrity-thread');
});

test('checks databases, several at once, and reports what is not one in SQLite words', async () => {
  const files = [database('a.db', 100), database('b.db', 2000), database('c.db', 10)];
  expect(await Promise.all(files.map((f) => integrityCheck(f)))).toEqual(['ok', 'ok', 'ok']);
  const text = path.join(dir, 'notes.txt');
  fs.writeFileSync(text, 'not a database, only text, long enough to fill a header '.repeat(20));
  await expect(integrityCheck(text)).rejects.toThrow(/not a database/);
  await expect(integrityCheck(path.join(dir, 'missing.db'))).rejects.toThrow(/unable to open|does not exist/);
});

test('a check after the idle thread ended is answered by a new thread', async () => {
  const file = database('late.db', 50);
  expect(await integrityCheck(file)).toBe('ok');
  // The thread ends after 2 s without work; the old thread's end must not fail the new checks.
  await new Promise((r) => setTimeout(r, 2300));
  expect(await Promise.all([integrityCheck(file), integrityCheck(file)])).toEqual(['ok', 'ok']);
}, 20_000);
