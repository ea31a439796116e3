/**
 * Zstandard for an archive's chunks (format version 2, docs/archive-format.md section 3): each
 * compressed chunk is one zstd frame (RFC 8878) that declares its content size. The native binding
 * (zstd-napi, built from zstd's own sources at install) compresses and decompresses wherever
 * Lifeboat is installed from the repository. Where it is not (the packed CLI on a responder's laptop,
 * break glass), chunks are decompressed by fzstd, a small JavaScript decoder bundled into the CLI:
 * slower, but nothing native is needed to read a backup.
 *
 * Chunks are compressed in archiveAhead.ts's threads. Decompression is bounded before it starts, on both paths: a frame must declare its content size,
 * which may not exceed what the entry's header still promises, and it is decompressed into a buffer
 * of exactly that size, so a small chunk cannot expand into gigabytes (the bomb check deflate had
 * through `maxOutputLength`). Archive threads (archiveAhead.ts, entryThreads.ts) load the binding by
 * the path `zstdBinding()` gives, as integrityThread.ts loads better-sqlite3.
 */
import { decompress as jsDecompress } from 'fzstd';

/** The level chunks are compressed at: zstd's fastest standard level, as deflate's level 1 was. */
export const ZSTD_LEVEL = 1;

interface Binding {
  DCtx: new () => { decompress(dst: Uint8Array, src: Uint8Array): number };
  getFrameContentSize(frame: Uint8Array): number | null;
}

let loaded: { path: string; binding: Binding } | null | undefined;

function native(): { path: string; binding: Binding } | null {
  if (loaded !== undefined) return loaded;
  try {
    const path = require.resolve('zstd-napi/binding');
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    loaded = { path, binding: require(path) as Binding };
  } catch {
    loaded = null;
  }
  return loaded;
}

/** The native binding's module path, for a thread to require; undefined where it is not installed. */
export function zstdBinding(): string | undefined {
  return native()?.path;
}

/** What a chunk that does not decompress within its bounds is: larger than allowed, or not zstd. */
export class ZstdProblem extends Error {
  constructor(readonly problem: 'tooLarge' | 'corrupt') {
    super(problem === 'tooLarge' ? 'zstd frame larger than allowed' : 'not a zstd frame');
  }
}

const MAGIC = 0xfd2fb528;

/**
 * A zstd frame's header and block headers read as RFC 8878 section 3.1 lays them out: its declared
 * content size (undefined when it declares none) and its length in bytes. Undefined when `b` does not
 * start with a whole frame. Used where the native binding is missing (it answers the same questions).
 */
export function frameInfo(b: Uint8Array): { contentSize: number | undefined; length: number } | undefined {
  if (b.length < 6 || new DataView(b.buffer, b.byteOffset, b.byteLength).getUint32(0, true) !== MAGIC)
    return undefined;
  const descriptor = b[4];
  const fcsFlag = descriptor >> 6;
  const singleSegment = (descriptor >> 5) & 1;
  if ((descriptor >> 3) & 1) return undefined; // the reserved bit must be 0
  const checksum = (descriptor >> 2) & 1;
  const dictBytes = [0, 1, 2, 4][descriptor & 3];
  const fcsBytes = [singleSegment ? 1 : 0, 2, 4, 8][fcsFlag];
  let at = 5 + (singleSegment ? 0 : 1) + dictBytes;
  if (at + fcsBytes > b.length) return undefined;
  let contentSize: number | undefined;
  if (fcsBytes > 0) {
    contentSize = 0;
    for (let i = fcsBytes - 1; i >= 0; i--) contentSize = contentSize * 256 + b[at + i];
    if (fcsBytes === 2) contentSize += 256;
  }
  at += fcsBytes;
  for (;;) {
    if (at + 3 > b.length) return undefined;
    const header = b[at] | (b[at + 1] << 8) | (b[at + 2] << 16);
    const type = (header >> 1) & 3;
    const size = header >>> 3;
    if (type === 3) return undefined; // reserved block type
    at += 3 + (type === 1 ? 1 : size);
    if (at > b.length) return undefined;
    if (header & 1) break; // the last block
  }
  at += checksum ? 4 : 0;
  return at > b.length ? undefined : { contentSize, length: at };
}

let dctx: { decompress(dst: Uint8Array, src: Uint8Array): number } | undefined;

/**
 * A stored chunk's original bytes: one zstd frame declaring from 1 to `room` bytes, decompressed
 * into a buffer of exactly its declared size. Throws a ZstdProblem.
 */
export function unzstd(stored: Uint8Array, room: number): Buffer {
  const n = native();
  if (n) {
    let size: number | null;
    try {
      size = n.binding.getFrameContentSize(stored);
    } catch {
      throw new ZstdProblem('corrupt');
    }
    // No chunk is empty: a frame declaring no bytes (or none at all) was not written by Lifeboat.
    if (!size) throw new ZstdProblem('corrupt');
    if (size > room) throw new ZstdProblem('tooLarge');
    const out = Buffer.allocUnsafe(size);
    dctx ??= new n.binding.DCtx();
    let written: number;
    try {
      written = dctx.decompress(out, stored);
    } catch (err) {
      throw new ZstdProblem(/too small/i.test((err as Error).message) ? 'tooLarge' : 'corrupt');
    }
    if (written !== size) throw new ZstdProblem('corrupt');
    return out;
  }
  const frame = frameInfo(stored);
  if (!frame?.contentSize || frame.length !== stored.length) throw new ZstdProblem('corrupt');
  if (frame.contentSize > room) throw new ZstdProblem('tooLarge');
  let out: Uint8Array;
  try {
    // fzstd sizes its output by the declared content size (checked above; when it is 0 it would
    // take the frame's window size, up to 2 GiB).
    out = jsDecompress(stored);
  } catch {
    throw new ZstdProblem('corrupt');
  }
  if (out.length !== frame.contentSize) throw new ZstdProblem('corrupt');
  return Buffer.from(out.buffer, out.byteOffset, out.length);
}

/** Makes `unzstd` use the JavaScript decoder, as where the binding is missing (for tests). */
export async function withoutNativeZstd<T>(work: () => Promise<T>): Promise<T> {
  const was = native();
  loaded = null;
  try {
    return await work();
  } finally {
    loaded = was;
  }
}
