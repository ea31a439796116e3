/** What a backup captures of a root: names that a restore could not tell apart are refused up front. */
import { ApplicationFailure } from '@temporalio/common';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { scanRoot } from '../activities/lib/rootFiles';
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
