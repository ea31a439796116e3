/**
 * Lifeboat's backup archive: a stream of framed entries, compressed per chunk where it pays, with
 * the manifest as the last entry. It is encrypted as a whole by OpenPGP (see crypto.ts).
 *
 *   "LIFEBOAT-ARCHIVE/1\n"
 *   entry*   'E' u32 headerLength  header-JSON { path, kind, mode, mtimeMs, size, codec }
 *            (u32 chunkLength chunk)* u32 0       chunks: raw, or each one raw-deflated on its own
 *            u32 trailerLength trailer-JSON { sha256, size }   of the original bytes
 *   'Z'
 *
 * This module writes archives. Reading never trusts them (archiveReader.ts): every header, entry
 * and the manifest are checked before a byte goes anywhere. What writer and reader share is in
 * archiveFormat.ts; all of it is exported from here. Memory use does not depend on file or archive
 * size.
 */
import { createHash } from 'node:crypto';
import * as fsp from 'node:fs/promises';
import { promisify } from 'node:util';
import * as zlib from 'node:zlib';
import { pathProblem } from '../../common/paths';
import {
  CHUNK_SIZE,
  END,
  frameChunk,
  frameHeader,
  frameTrailer,
  MAGIC,
  type Codec,
  type EntryDigest,
  type SourceEntry,
  u32,
  type WriteProgress,
} from './archiveFormat';
import { manifestProblems, type DatabaseStamp, type Manifest, type ManifestFile } from './manifest';

export { pathProblem };
export { manifestProblems };
export type { DatabaseStamp, Manifest, ManifestFile };
export {
  ArchiveError,
  CHUNK_SIZE,
  END,
  frameChunk,
  frameHeader,
  frameTrailer,
  MAGIC,
  type ArchiveErrorCode,
  type Codec,
  type EntryDigest,
  type EntryHeader,
  type EntryKind,
  type SourceEntry,
  type WriteProgress,
} from './archiveFormat';
export { readArchive, type EntrySink, type ReadResult } from './archiveReader';

const deflateRaw = promisify(zlib.deflateRaw);

const SMALL = 64 * 1024;

/** Compresses one chunk: small ones on this thread (a threadpool round trip costs more than the work). */
async function compress(chunk: Buffer): Promise<Buffer> {
  return chunk.length <= SMALL ? zlib.deflateRawSync(chunk, { level: 1 }) : deflateRaw(chunk, { level: 1 });
}

/**
 * Whether deflate pays for a file, judged on its first chunk, so that incompressible files cost no
 * compression time. When the probe covered the whole chunk, its output is the chunk's data.
 */
function deflateDecision(first: Buffer): { codec: Codec; firstPacked?: Buffer } {
  if (first.length < 512) return { codec: 'store' };
  const probe = first.subarray(0, SMALL);
  const packed = zlib.deflateRawSync(probe, { level: 1 });
  if (packed.length >= probe.length * 0.9) return { codec: 'store' };
  return { codec: 'deflate', firstPacked: probe.length === first.length ? packed : undefined };
}

/** Reads exactly `size` bytes of an open file in chunks sized to what is left. */
async function* readExactly(handle: fsp.FileHandle, size: number, name: string): AsyncGenerator<Buffer> {
  for (let position = 0; position < size;) {
    const want = Math.min(CHUNK_SIZE, size - position);
    const buf = Buffer.allocUnsafe(want);
    let got = 0;
    while (got < want) {
      const { bytesRead } = await handle.read(buf, got, want - got, position + got);
      if (bytesRead === 0) {
        throw new Error(
          `${name} shrank while it was being backed up; run the backup again (a quiesce command prevents this)`,
        );
      }
      got += bytesRead;
    }
    position += want;
    yield buf;
  }
}

/**
 * Yields the archive's bytes for `entries`, then the manifest that `manifestFor` builds from the
 * digests of what was written.
 */
export async function* writeArchive(
  entries: Iterable<SourceEntry> | AsyncIterable<SourceEntry>,
  manifestFor: (digests: EntryDigest[]) => Manifest,
  progress?: (p: WriteProgress) => void,
  written?: (manifest: { sha256: string; size: number }) => void,
): AsyncGenerator<Buffer> {
  yield MAGIC;
  const digests: EntryDigest[] = [];
  let bytes = 0;
  for await (const entry of entries) {
    const handle = await fsp.open(entry.source, 'r');
    try {
      // The header promises this size; a file that grows meanwhile is archived as it was at open.
      const { size: expected } = await handle.stat();
      const chunks = readExactly(handle, expected, entry.path);
      const first = await chunks.next();
      const firstChunk = first.done ? undefined : first.value;
      const decision = firstChunk ? deflateDecision(firstChunk) : { codec: 'store' as Codec };
      yield frameHeader({
        path: entry.path,
        kind: entry.kind,
        mode: entry.mode,
        mtimeMs: entry.mtimeMs,
        size: expected,
        codec: decision.codec,
      });
      const hash = createHash('sha256');
      let size = 0;
      const account = (chunk: Buffer) => {
        hash.update(chunk);
        size += chunk.length;
        bytes += chunk.length;
        progress?.({ files: digests.length, bytes, current: entry.path });
      };
      // The length prefix and the data go out as two pieces: no copy of the chunk.
      if (firstChunk) {
        account(firstChunk);
        const data =
          decision.codec === 'store' ? firstChunk : (decision.firstPacked ?? (await compress(firstChunk)));
        yield u32(data.length);
        yield data;
      }
      for await (const chunk of chunks) {
        account(chunk);
        const data = decision.codec === 'deflate' ? await compress(chunk) : chunk;
        yield u32(data.length);
        yield data;
      }
      const sha256 = hash.digest('hex');
      yield frameTrailer(sha256, size);
      digests.push({
        path: entry.path,
        kind: entry.kind,
        size,
        sha256,
        mode: entry.mode,
        mtimeMs: entry.mtimeMs,
      });
      progress?.({ files: digests.length, bytes, current: entry.path });
    } finally {
      await handle.close();
    }
  }
  const manifest = Buffer.from(JSON.stringify(manifestFor(digests), null, 1));
  yield frameHeader({
    path: 'manifest.json',
    kind: 'manifest',
    mode: 0o644,
    mtimeMs: Date.now(),
    size: manifest.length,
    codec: 'store',
  });
  for (let offset = 0; offset < manifest.length; offset += CHUNK_SIZE) {
    yield frameChunk(manifest.subarray(offset, offset + CHUNK_SIZE));
  }
  const manifestSha256 = createHash('sha256').update(manifest).digest('hex');
  yield frameTrailer(manifestSha256, manifest.length);
  written?.({ sha256: manifestSha256, size: manifest.length });
  yield END;
}
