/**
 * What a backup captures of a root: names that a restore could not tell apart are refused up front;
 * what a restored root holds beyond its backup's list.
 */
import { ApplicationFailure } from '@temporalio/common';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { scanRoot, unlistedFiles } from '../activities/lib/rootFiles';
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
