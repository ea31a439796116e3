/**
 * Lifeboat's backup archive: a stream of framed entries, compressed per chunk where it pays, with
 * the manifest as the last entry. It is encrypted as a whole by OpenPGP (see crypto.ts).
 *
 *   "LIFEBOAT-ARCHIVE/2\n"
 *   entry*   'E' u32 headerLength  header-JSON { path, kind, mode, mtimeMs, size, codec }
 *            (u32 chunkLength chunk)* u32 0       chunks: raw, or each one a zstd frame of its own
 *            u32 trailerLength trailer-JSON { sha256, size }   of the original bytes
 *   'Z'
 *
 * Version 1 (still read) compressed chunks with raw deflate; docs/archive-format.md has both.
 *
 * This module writes archives. Reading never trusts them (archiveReader.ts): every header, entry
 * and the manifest are checked before a byte goes anywhere. What writer and reader share is in
 * archiveFormat.ts; all of it is exported from here. Memory use does not depend on file or archive
 * size.
 */
import { createHash } from 'node:crypto';
import { pathProblem } from '../../common/paths';
import { readAhead } from './archiveAhead';
import { throwIfCancelled } from './context';
import {
  CHUNK_SIZE,
  END,
  frameChunk,
  frameHeader,
  frameTrailer,
  MAGIC,
  type EntryDigest,
  type SourceEntry,
  u32,
  type WriteProgress,
} from './archiveFormat';
import {
  manifestProblems,
  piecesToBuffers,
  prettyManifestPieces,
  type DatabaseStamp,
  type Manifest,
  type ManifestFile,
} from './manifest';

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
  FORMATS,
  MAGIC,
  type ArchiveErrorCode,
  type Codec,
  type EntryDigest,
  type EntryHeader,
  type EntryKind,
  type SourceEntry,
  type WriteProgress,
} from './archiveFormat';
export {
  readArchive,
  readRecordedArchive,
  type EntrySink,
  type FileSink,
  type ReadOptions,
  type ReadResult,
} from './archiveReader';

/** Small pieces (headers, lengths, small files) go out gathered into one buffer of about this size. */
const BATCH = 256 * 1024;

/**
 * Gathers small pieces into batches and passes large ones through (after what was gathered). A small
 * piece (64 KiB or less) is copied into the batch at once: a small chunk's bytes are lent until the
 * next is asked for (archiveAhead.ts's ReadChunk), and nothing is held longer than it must be.
 */
class Batcher {
  private batch: Buffer | undefined;
  private length = 0;

  /** What to yield now for `piece`. */
  add(piece: Buffer): Buffer[] {
    if (piece.length > BATCH / 4) return [...this.flush(), piece];
    // Room for one more small piece past BATCH, where the batch goes out.
    this.batch ??= Buffer.allocUnsafe(BATCH + BATCH / 4);
    this.length += piece.copy(this.batch, this.length);
    return this.length >= BATCH ? this.flush() : [];
  }

  flush(): Buffer[] {
    if (this.length === 0) return [];
    const out = this.batch!.subarray(0, this.length);
    this.batch = undefined;
    this.length = 0;
    return [out];
  }
}

/**
 * Yields the archive's bytes for `entries`, then the manifest that `manifestFor` builds from the
 * digests of what was written. The files are read and compressed ahead (archiveAhead.ts); they are
 * hashed and framed here, in order.
 */
export async function* writeArchive(
  entries: Iterable<SourceEntry> | AsyncIterable<SourceEntry>,
  manifestFor: (digests: EntryDigest[]) => Manifest,
  progress?: (p: WriteProgress) => void,
  written?: (manifest: { sha256: string; size: number }) => void,
): AsyncGenerator<Buffer> {
  const out = new Batcher();
  // Small pieces are gathered instead of yielded, so a cancelled consumer might not stop this
  // generator for many files: a cancelled activity stops it at its next step instead.
  const beat = (p: WriteProgress) => {
    throwIfCancelled();
    progress?.(p);
  };
  yield* out.add(MAGIC);
  const digests: EntryDigest[] = [];
  let bytes = 0;
  for await (const file of readAhead(entries)) {
    const { entry } = file;
    yield* out.add(
      frameHeader({
        path: entry.path,
        kind: entry.kind,
        mode: entry.mode,
        mtimeMs: entry.mtimeMs,
        size: file.size,
        codec: file.codec,
      }),
    );
    for await (const chunk of file.read()) {
      bytes += chunk.raw;
      beat({ files: digests.length, bytes, current: entry.path });
      yield* out.add(u32(chunk.stored.length));
      yield* out.add(chunk.stored);
    }
    const { sha256, size } = file.digest!;
    yield* out.add(frameTrailer(sha256, size));
    digests.push({
      path: entry.path,
      kind: entry.kind,
      size,
      sha256,
      mode: entry.mode,
      mtimeMs: entry.mtimeMs,
    });
    beat({ files: digests.length, bytes, current: entry.path });
  }
  yield* out.flush();
  // The manifest's text is made a piece at a time into 256 KiB buffers, never as one string (24 MB
  // for 100,000 files, and its bytes as much again); the header, which comes first, needs its size.
  const manifest = piecesToBuffers(prettyManifestPieces(manifestFor(digests.splice(0))), CHUNK_SIZE);
  const size = manifest.reduce((n, b) => n + b.length, 0);
  yield frameHeader({
    path: 'manifest.json',
    kind: 'manifest',
    mode: 0o644,
    mtimeMs: Date.now(),
    size,
    codec: 'store',
  });
  const hash = createHash('sha256');
  // Handed over one by one: each goes once the consumer has it.
  for (let chunk = manifest.shift(); chunk; chunk = manifest.shift()) {
    hash.update(chunk);
    yield frameChunk(chunk);
  }
  const manifestSha256 = hash.digest('hex');
  yield frameTrailer(manifestSha256, size);
  written?.({ sha256: manifestSha256, size });
  yield END;
}
