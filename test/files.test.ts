/** File primitives (activities/lib/files.ts) on real files: the synchronous hash agrees with the streaming one. */
import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { hashFile, hashFileSync } from '../activities/lib/files';
import { tempDir } from './helpers';

test('hashFileSync gives what hashFile and the bytes give, for files shorter, as long as and longer than its buffer', async () => {
  const dir = tempDir('files');
  const buf = Buffer.alloc(4096, 0xee);
  for (const size of [0, 1, 4095, 4096, 4097, 3 * 4096 + 5, 300_000]) {
    const bytes = randomBytes(size);
    const file = path.join(dir, `f-${size}`);
    fs.writeFileSync(file, bytes);
    const want = { sha256: createHash('sha256').update(bytes).digest('hex'), size };
    expect(hashFileSync(file, buf)).toEqual(want);
    expect(await hashFile(file)).toEqual(want);
  }
  expect(() => hashFileSync(path.join(dir, 'missing'), buf)).toThrow(
    expect.objectContaining({ code: 'ENOENT' }),
  );
  expect(() => hashFileSync(dir, buf)).toThrow(expect.objectContaining({ code: 'EISDIR' }));
  fs.rmSync(dir, { recursive: true, force: true });
});
