/**
 * File primitives every activity builds on: streaming SHA-256, and atomic writes and renames that
 * survive a crash (temp file, fsync, rename, fsync the folder).
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';

/**
 * SHA-256 (hex) and size of a file, read in 256 KiB pieces so memory does not grow with the file.
 * Read through one handle and one buffer rather than a stream: a small file costs an open, a read or
 * two and a close (a stream's set-up cost more than the hashing when there are 100,000 files).
 */
export async function hashFile(file: string): Promise<{ sha256: string; size: number }> {
  const hash = createHash('sha256');
  const handle = await fsp.open(file, 'r');
  try {
    // As large as the file (and a byte to see its end at once), up to 256 KiB: 100,000 small files
    // given 256 KiB each were 25 GB of buffers to allocate and collect.
    const buf = Buffer.allocUnsafe(Math.min(256 * 1024, (await handle.stat()).size + 1));
    let size = 0;
    for (;;) {
      const { bytesRead } = await handle.read(buf, 0, buf.length, null);
      if (bytesRead === 0) break;
      hash.update(buf.subarray(0, bytesRead));
      size += bytesRead;
    }
    return { sha256: hash.digest('hex'), size };
  } finally {
    await handle.close();
  }
}

/**
 * hashFile for many small files: read synchronously through `buf` (the caller's, reused), an open,
 * a read or two and a close without a promise or a trip through libuv's pool each (100,000 restored
 * files took 28 s of CPU that way, about 0.3 ms each). A larger file is read piece by piece all the same.
 */
export function hashFileSync(file: string, buf: Buffer): { sha256: string; size: number } {
  const fd = fs.openSync(file, 'r');
  try {
    const hash = createHash('sha256');
    let size = 0;
    for (;;) {
      const n = fs.readSync(fd, buf, 0, buf.length, null);
      if (n === 0) break;
      hash.update(buf.subarray(0, n));
      size += n;
    }
    return { sha256: hash.digest('hex'), size };
  } finally {
    fs.closeSync(fd);
  }
}

export async function fsyncDir(dir: string): Promise<void> {
  const handle = await fsp.open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** A file this large is flushed as soon as it is written (WriteBehind). */
export const WRITE_BEHIND_BYTES = 4 * 1024 * 1024;
/** A file being written is flushed each time this much more has passed (flushedWhileWritten). */
const FLUSH_EVERY = 64 * 1024 * 1024;

/**
 * Flushes files to disk (fsyncFile) one at a time in the background while more is written, so that
 * the disk works beside the CPU rather than all at the final sync: a 1 GiB restore (85% of it in
 * files of 30-70 MB) left ~1 GiB dirty for a 1.8-2.0 s sync at its end; with these flushes that
 * sync took 0.5 s. Small files are left to the final sync (an fsync each would be a journal
 * commit each). `settle()` waits for those started and throws the first failure; it makes nothing
 * durable that the final sync would not: a speed-up, not a replacement.
 */
export class WriteBehind {
  private queue: Promise<void> = Promise.resolve();
  private pending = 0;
  private failed: unknown;

  /** Queues `file`'s flush when it holds `size` bytes or more. */
  add(file: string, size: number): void {
    if (size < WRITE_BEHIND_BYTES || this.failed !== undefined) return;
    this.pending += 1;
    this.queue = this.queue.then(async () => {
      try {
        if (this.failed !== undefined) return;
        await fsyncFile(file, 'r');
      } catch (err) {
        // A file its own mode keeps this user from opening (restored as it was backed up, 0o200
        // say) is left to the final sync, as every file was before.
        const code = (err as NodeJS.ErrnoException).code;
        if (code !== 'EACCES' && code !== 'EPERM') this.failed = err;
      } finally {
        this.pending -= 1;
      }
    });
  }

  /** Whether a flush is queued or running. */
  get busy(): boolean {
    return this.pending > 0;
  }

  /** Waits for the flushes queued; throws the first that failed. */
  async settle(): Promise<void> {
    await this.queue;
    if (this.failed !== undefined) throw this.failed;
  }
}

/**
 * Passes a file's bytes on their way to it, flushing it through `behind` each time another 64 MiB
 * has passed and no flush is under way: the fsync after a 600 MB archive's write took 0.8 s, the
 * writing all done; now most of its bytes are on disk by then.
 */
export function flushedWhileWritten(file: string, behind: WriteBehind): Transform {
  let since = 0;
  return new Transform({
    transform(chunk: Buffer, _enc, cb) {
      since += chunk.length;
      if (since >= FLUSH_EVERY && !behind.busy) {
        since = 0;
        behind.add(file, Infinity);
      }
      cb(null, chunk);
    },
  });
}

/**
 * Makes what was written under `dir` durable at once: one sync of its file system (syncfs(2), run
 * as `sync --file-system`, for Node has no binding for it), then an fsync of each of `folders` for
 * their entries. Far quicker than an fsync per file when there are thousands (each one a journal
 * commit). Where the command is missing or fails, each of `files()` is fsynced instead.
 */
export async function syncFileSystem(dir: string, folders: string[], files: () => string[]): Promise<void> {
  const synced = await new Promise<boolean>((resolve) =>
    execFile('sync', ['--file-system', dir], { timeout: 30 * 60_000 }, (err) => resolve(!err)),
  );
  if (!synced) for (const file of files()) await fsyncOwnFile(file);
  for (const folder of folders) await fsyncDir(folder);
}

/**
 * fsyncFile for a file of this user's that its own mode may keep from it (a restored 0o200 or
 * 0o000): refused, the owner is given read for the fsync, and the mode is put back after.
 */
async function fsyncOwnFile(file: string): Promise<void> {
  try {
    await fsyncFile(file, 'r');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'EACCES' && code !== 'EPERM') throw err;
    const mode = (await fsp.stat(file)).mode & 0o7777;
    // Not this user's file: the refusal stands.
    await fsp.chmod(file, mode | 0o400).catch(() => Promise.reject(err));
    try {
      await fsyncFile(file, 'r');
    } finally {
      await fsp.chmod(file, mode);
    }
  }
}

/** Flushes a file's bytes to disk (before it is renamed into place, or counted as copied). */
export async function fsyncFile(file: string, flags = 'r+'): Promise<void> {
  const handle = await fsp.open(file, flags);
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** `name` as one safe file name part: anything but letters, digits, `.`, `_` and `-` becomes `_`. */
export function safeName(name: string): string {
  return name.replace(/[^A-Za-z0-9._-]/g, '_');
}

/** A temp name beside `file`, so that the final rename stays on one file system. */
export function tempPathFor(file: string, tag: string): string {
  return path.join(path.dirname(file), `.${path.basename(file)}.${tag}.lifeboat-tmp`);
}

/** Writes `data` to `file` atomically: readers see the old content or the new, never a mix. */
export async function writeFileAtomic(
  file: string,
  data: string | Buffer,
  tag = `${process.pid}`,
): Promise<void> {
  const tmp = tempPathFor(file, tag);
  await fsp.writeFile(tmp, data);
  await fsyncFile(tmp);
  await fsp.rename(tmp, file);
  await fsyncDir(path.dirname(file));
}

/**
 * Copies `from` to a temp file beside `to`, fsyncs it, and returns the temp path with the copy's
 * checksum; the caller renames it into place once it has checked the checksum.
 */
export async function stageCopy(
  from: string,
  to: string,
  tag: string,
): Promise<{ tmp: string; sha256: string; size: number }> {
  const tmp = tempPathFor(to, tag);
  const hash = createHash('sha256');
  let size = 0;
  await pipeline(
    fs.createReadStream(from),
    async function* (source: AsyncIterable<Buffer>) {
      for await (const chunk of source) {
        size += chunk.length;
        hash.update(chunk);
        yield chunk;
      }
    },
    fs.createWriteStream(tmp),
  );
  await fsyncFile(tmp);
  return { tmp, sha256: hash.digest('hex'), size };
}

/** Keeps a copy of `file` at `dest` (a hard link where possible, else a synced copy). */
export async function preserveCopy(file: string, dest: string): Promise<void> {
  await fsp.mkdir(path.dirname(dest), { recursive: true });
  try {
    await fsp.link(file, dest);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') throw err;
    // Different file systems (EXDEV) or no hard links: copy, then make the copy durable.
    const staged = await stageCopy(file, dest, 'quarantine');
    await fsp.rename(staged.tmp, dest);
  }
  await fsyncDir(path.dirname(dest));
}

export async function exists(file: string): Promise<boolean> {
  try {
    await fsp.access(file);
    return true;
  } catch {
    return false;
  }
}

/** A pass-through that hashes what flows through it; `digest()` once the stream has ended. */
export function hashingTransform(): {
  transform: Transform;
  digest: () => { sha256: string; size: number };
} {
  const hash = createHash('sha256');
  let size = 0;
  const transform = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      hash.update(chunk);
      size += chunk.length;
      cb(null, chunk);
    },
  });
  return { transform, digest: () => ({ sha256: hash.digest('hex'), size }) };
}
