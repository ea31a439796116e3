/**
 * What a backup captures of a root: names that a restore could not tell apart are refused up front;
 * what a restored root holds beyond its backup's list.
 */
import { ApplicationFailure } from '@temporalio/common';
import Database from 'better-sqlite3';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { scanRoot, snapshotDatabase, unlistedFiles } from '../activities/lib/rootFiles';
import { tempDir } from './helpers';

test('two names equal after Unicode normalisation stop the backup, naming both; a file called manifest.json is fine', async () => {
  const root = tempDir('root-files');
  fs.writeFileSync(path.join(root, 'manifest.json'), '{"the application": "own file"}');
  fs.writeFileSync(path.join(root, 'caf\u00e9.txt'), 'composed');
  const scanned = await scanRoot(root);
  expect(scanned.map((f) => f.path)).toEqual(['café.txt', 'manifest.json']);

  fs.writeFileSync(path.join(root, 'cafe\u0301.txt'), 'decomposed');
  const failure = await scanRoot(root).then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(failure).toBeInstanceOf(ApplicationFailure);
  expect((failure as ApplicationFailure).type).toBe('UnsupportedFile');
  expect((failure as ApplicationFailure).message).toMatch(
    /the root holds what a backup may not contain: caf.+\.txt \(its name collides with caf.+\.txt after Unicode normalisation: they differ only in how their characters are encoded\)/,
  );
});

test('a root given with a trailing slash, or relative, scans the same: paths relative to it, files absolute', async () => {
  const root = tempDir('root-files-forms');
  fs.mkdirSync(path.join(root, 'a', 'b'), { recursive: true });
  fs.writeFileSync(path.join(root, 'a', 'b', 'deep.txt'), 'deep');
  fs.writeFileSync(path.join(root, 'top.txt'), 'top');
  const forms = [root, `${root}/`, path.relative(process.cwd(), root), `${root}/a/..`];
  for (const form of forms) {
    const scanned = await scanRoot(form);
    expect(scanned.map((f) => [f.path, f.abs])).toEqual([
      ['a/b/deep.txt', path.join(root, 'a', 'b', 'deep.txt')],
      ['top.txt', path.join(root, 'top.txt')],
    ]);
  }
});

test('unlistedFiles names what a list does not: files, links and special files in any folder, the journal files of a listed database aside', async () => {
  const root = tempDir('unlisted');
  const write = (rel: string) => {
    fs.mkdirSync(path.dirname(path.join(root, rel)), { recursive: true });
    fs.writeFileSync(path.join(root, rel), rel);
  };
  for (const rel of ['a.txt', 'deep/er/b.txt', 'core.db', 'core.db-wal', 'core.db-shm', 'core.db-journal'])
    write(rel);
  write('deep/stray.txt');
  write('other.db-wal');
  fs.mkdirSync(path.join(root, 'empty'));
  fs.symlinkSync('a.txt', path.join(root, 'deep', 'link'));
  const listed = new Set(['a.txt', 'deep/er/b.txt', 'core.db']);
  expect(await unlistedFiles(root, listed)).toEqual(['deep/link', 'deep/stray.txt', 'other.db-wal']);
  expect(
    await unlistedFiles(root, new Set([...listed, 'deep/link', 'deep/stray.txt', 'other.db-wal'])),
  ).toEqual([]);
  await expect(unlistedFiles(path.join(root, 'missing'), listed)).rejects.toMatchObject({ code: 'ENOENT' });
});

test('a database is snapshotted with what its WAL holds, in memory or through the backup API alike', async () => {
  const dir = tempDir('snapshot');
  const source = path.join(dir, 'live.db');
  const db = new Database(source);
  db.pragma('journal_mode = WAL');
  db.exec('CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT)');
  const insert = db.prepare('INSERT INTO t (v) VALUES (?)');
  for (let i = 0; i < 2000; i += 1) insert.run(`row ${i} `.repeat(20));
  // Still open: the last rows are in the WAL only, which a copy of the file alone would miss.
  db.pragma('wal_autocheckpoint = 0');
  for (let i = 0; i < 500; i += 1) insert.run(`late ${i}`);
  const inMemory = path.join(dir, 'snap', 'memory.db');
  const paged = path.join(dir, 'snap', 'paged.db');
  await snapshotDatabase(source, inMemory, () => undefined);
  await snapshotDatabase(source, paged, () => undefined, 0);
  db.close();
  for (const snap of [inMemory, paged]) {
    const copy = new Database(snap, { readonly: true });
    expect(copy.prepare('SELECT count(*) FROM t').pluck().get()).toBe(2500);
    expect(copy.pragma('integrity_check', { simple: true })).toBe('ok');
    copy.close();
  }
  // The same pages; the backup API also counts a change in page 1's header (offsets 24-27, 92-95).
  const [a, b] = [fs.readFileSync(inMemory), fs.readFileSync(paged)];
  expect(a.length).toBe(b.length);
  for (const at of [24, 92]) b.copy(a, at, at, at + 4);
  expect(a.equals(b)).toBe(true);
  expect(fs.statSync(inMemory).mode & 0o777).toBe(0o600);
  // The snapshot is a new file: one already there is not written over.
  await expect(snapshotDatabase(source, inMemory, () => undefined)).rejects.toMatchObject({ code: 'EEXIST' });
});
