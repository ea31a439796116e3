/**
 * File primitives (activities/lib/files.ts) on real files: the synchronous hash agrees with the
 * streaming one; the write-behind flushes large files and reports a flush that failed; the file
 * system sync falls back to an fsync per file, also of a file its mode keeps from the worker.
 */
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { hashFile, hashFileSync, WRITE_BEHIND_BYTES, WriteBehind } from '../activities/lib/files';
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

test('WriteBehind flushes the large files it is given, skips small ones and reports the first flush that failed', async () => {
  const dir = tempDir('write-behind');
  const large = path.join(dir, 'large');
  fs.writeFileSync(large, Buffer.alloc(WRITE_BEHIND_BYTES, 1));
  const small = path.join(dir, 'small');
  fs.writeFileSync(small, 'x');
  const fine = new WriteBehind();
  fine.add(large, WRITE_BEHIND_BYTES);
  fine.add(small, 1);
  // A small file is never opened: that it is gone is no failure of the write-behind.
  fine.add(path.join(dir, 'gone-small'), WRITE_BEHIND_BYTES - 1);
  await expect(fine.settle()).resolves.toBeUndefined();

  const failing = new WriteBehind();
  failing.add(path.join(dir, 'gone-large'), WRITE_BEHIND_BYTES);
  failing.add(large, WRITE_BEHIND_BYTES);
  await expect(failing.settle()).rejects.toMatchObject({ code: 'ENOENT' });
  // The failure stays: a later settle (the unpack's end) throws it again.
  failing.add(large, WRITE_BEHIND_BYTES);
  await expect(failing.settle()).rejects.toMatchObject({ code: 'ENOENT' });
  fs.rmSync(dir, { recursive: true, force: true });
});

test('WriteBehind leaves a file this user may not read (its restored mode) to the final sync instead of failing', async () => {
  const dir = tempDir('write-behind-mode');
  fs.chmodSync(dir, 0o777);
  const unreadable = path.join(dir, 'write-only');
  fs.writeFileSync(unreadable, Buffer.alloc(WRITE_BEHIND_BYTES, 2));
  fs.chmodSync(unreadable, 0o200);
  const readable = path.join(dir, 'readable');
  fs.writeFileSync(readable, Buffer.alloc(WRITE_BEHIND_BYTES, 3));
  fs.chmodSync(readable, 0o644);
  // Root reads any file: as root the flushes run with nobody's effective uid (for the whole process,
  // libuv's threads too), for whom the file's mode counts; root's again at the end.
  const asRoot = process.getuid?.() === 0;
  if (asRoot) process.seteuid!(Number(execFileSync('id', ['-u', 'nobody'], { encoding: 'utf8' })));
  try {
    // The case is reached: this user is refused the file.
    await expect(fs.promises.open(unreadable, 'r')).rejects.toMatchObject({ code: 'EACCES' });
    const behind = new WriteBehind();
    behind.add(unreadable, WRITE_BEHIND_BYTES);
    behind.add(readable, WRITE_BEHIND_BYTES);
    await expect(behind.settle()).resolves.toBeUndefined();
  } finally {
    if (asRoot) process.seteuid!(0);
  }
  fs.rmSync(dir, { recursive: true, force: true });
});

test('syncFileSystem without `sync --file-system` fsyncs each file, one its own mode keeps from this user too, mode unchanged', () => {
  const dir = tempDir('sync-fallback');
  fs.chmodSync(dir, 0o777);
  // A `sync` that fails, first on the PATH of a process of its own (jest keeps this one's
  // environment to itself): the fallback runs there.
  const bin = path.join(dir, 'bin');
  fs.mkdirSync(bin);
  const ran = path.join(dir, 'sync-ran');
  fs.writeFileSync(path.join(bin, 'sync'), `#!/bin/sh\necho "$@" >> ${ran}\nexit 1\n`, { mode: 0o755 });
  const asRoot = process.getuid?.() === 0;
  const user = asRoot
    ? Number(execFileSync('id', ['-u', 'nobody'], { encoding: 'utf8' }))
    : process.getuid!();
  const modes = { 'no-access': 0o000, 'write-only': 0o200, plain: 0o644 } as const;
  const files = Object.entries(modes).map(([name, mode]) => {
    const file = path.join(dir, name);
    fs.writeFileSync(file, Buffer.alloc(1000, 7));
    fs.chmodSync(file, mode);
    if (asRoot) fs.chownSync(file, user, user);
    return file;
  });
  // Another user's file that this user may not read stays refused (only when there is another).
  const foreign = path.join(dir, 'foreign');
  fs.writeFileSync(foreign, 'x');
  fs.chmodSync(foreign, 0o000);
  // Root reads any file: as root the process loads the module, then takes nobody's effective uid.
  const sync = (list: string[]) =>
    execFileSync(
      process.execPath,
      [
        '--import',
        'tsx',
        '-e',
        `const { syncFileSystem } = require(${JSON.stringify(path.resolve(__dirname, '../activities/lib/files'))});
        if (${asRoot}) process.seteuid(${user});
        require('node:fs').promises.open(${JSON.stringify(files[0])}, 'r').then(
          () => console.log('readable'),
          (err) => syncFileSystem(${JSON.stringify(dir)}, [${JSON.stringify(dir)}], () => ${JSON.stringify(list)}).then(
            () => console.log(err.code, 'ok'),
            (e) => console.log(err.code, e.code),
          ),
        );`,
      ],
      { encoding: 'utf8', env: { ...process.env, PATH: `${bin}:${process.env.PATH}` } },
    ).trim();
  // The case is reached (the file is refused to this user), the fallback ran, and it succeeded.
  expect(sync(files)).toBe('EACCES ok');
  expect(fs.readFileSync(ran, 'utf8')).toBe(`--file-system ${dir}\n`);
  if (asRoot) expect(sync([...files, foreign])).toBe('EACCES EACCES');
  for (const [i, mode] of Object.values(modes).entries())
    expect(fs.statSync(files[i]).mode & 0o7777).toBe(mode);
  fs.rmSync(dir, { recursive: true, force: true });
});
