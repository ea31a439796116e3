/**
 * What the archive's writer (archive.ts) and reader (archiveReader.ts) share: the magic header and
 * the limits a reader holds an archive to, the entry types, the framing of headers, chunks and
 * trailers, and the error a reader throws. The layout is described in archive.ts.
 */

/** What the writer writes: version 2 (zstd chunks). */
export const MAGIC = Buffer.from('LIFEBOAT-ARCHIVE/2\n');
/**
 * The versions a reader reads, each with its magic and the codecs its chunks may use: version 1
 * (written until 2026-12) compressed with raw deflate, version 2 with zstd (zstd.ts).
 */
export interface ArchiveFormat {
  version: number;
  /** The plaintext's first bytes (every version's magic has the same length). */
  magic: Buffer;
  codecs: ReadonlySet<Codec>;
}
export const FORMATS: readonly ArchiveFormat[] = [
  { version: 1, magic: Buffer.from('LIFEBOAT-ARCHIVE/1\n'), codecs: new Set(['store', 'deflate']) },
  { version: 2, magic: MAGIC, codecs: new Set(['store', 'zstd']) },
];
/** The size of the chunks the writer produces. */
export const CHUNK_SIZE = 256 * 1024;
/** The largest chunk a reader accepts: fixed, so archives written with other chunk sizes still read. */
export const MAX_CHUNK = 8 * 1024 * 1024;
export const MAX_HEADER = 64 * 1024;
/** Plaintext bytes read before the reader threads start, unless told otherwise (ReadOptions.threadsAfter). */
export const THREADS_AFTER = 16 * 1024 * 1024;
/**
 * The heap of an archive thread (archiveAhead.ts, entryThreads.ts): their chunks are buffers outside
 * it, and a small young generation keeps each thread's memory to a few MB instead of tens.
 */
export const THREAD_LIMITS = { maxYoungGenerationSizeMb: 1, maxOldGenerationSizeMb: 16, stackSizeMb: 1 };
/**
 * Thread code (a string, for the threads' `eval` sources): `spent(bytes)`, called with the size of
 * each buffer zlib allocated, runs a minor GC every 8 MB, with the `gc` a thread created through
 * youngGc.ts's `withGc` has. Without, three threads inflating 1 GiB each peaked at 177 MB, with it at
 * 111 MB, about as fast (youngGc.ts says why).
 */
export const THREAD_GC = `
const spent = (() => {
  const collect = typeof gc === 'function' ? gc : undefined;
  let bytes = 0;
  return (n) => {
    bytes += n;
    if (bytes < 8 * 1024 * 1024 || !collect) return;
    bytes = 0;
    collect({ type: 'minor' });
  };
})();
`;
export const MAX_MANIFEST = 256 * 1024 * 1024;

export type EntryKind = 'file' | 'sqlite' | 'manifest';
export type Codec = 'store' | 'deflate' | 'zstd';

export interface EntryHeader {
  path: string;
  kind: EntryKind;
  mode: number;
  mtimeMs: number;
  size: number;
  codec: Codec;
}

export interface EntryDigest {
  path: string;
  kind: 'file' | 'sqlite';
  size: number;
  sha256: string;
  mode: number;
  mtimeMs: number;
}

/** A file to put in the archive: where to read it, and what to call it. */
/** Where an archive reader (archiveReader.ts) puts an entry's bytes; `undefined` reads and checks them without keeping them. */
export interface EntrySink {
  write(chunk: Buffer): Promise<void>;
  /** Called once the entry's checksum matched its trailer. */
  close(digest: EntryDigest): Promise<void>;
}

/**
 * An entry written straight to a new file (created with `wx`, given `mode` and `mtimeMs`) by a
 * reader thread, not synced: the caller makes the files durable. `close` runs once the entry's
 * checksum matched its trailer.
 */
export interface FileSink {
  file: string;
  mode: number;
  mtimeMs: number;
  close(digest: EntryDigest): Promise<void>;
}

export interface ReadOptions {
  /**
   * Plaintext bytes read before the reader threads (entryThreads.ts) start: a small archive is read
   * on this thread alone (starting threads costs more than it saves). Default THREADS_AFTER.
   */
  threadsAfter?: number;
  /** Each entry once judged, in archive order (a verification holds them to a recorded manifest). */
  onEntry?: (digest: EntryDigest) => void;
  /** Reader threads at most (entryThreads.ts); default one fewer than the cores, 1 to 4. */
  threads?: number;
}

export interface SourceEntry {
  path: string;
  kind: 'file' | 'sqlite';
  source: string;
  mode: number;
  mtimeMs: number;
  /** Its size when it was scanned: only a hint (how many threads to start); the archive records what is read. */
  size?: number;
}

export interface WriteProgress {
  files: number;
  bytes: number;
  current: string;
}

/**
 * What an {@link ArchiveError} found. It decides the STOP the error becomes (`archiveFailure` in
 * activities/backupShared.ts), so that no one has to read it out of the message:
 * - `notLifeboat`: not a Lifeboat archive, or a format version this Lifeboat does not read;
 * - `damaged`: the bytes are not what was written: truncated, corrupt framing or header, an entry
 *   whose checksum or size does not match its trailer, data after the end, a file that changed
 *   while it was read;
 * - `refusedEntry`: an entry no reader writes (a path that is absolute or climbs out, a link or
 *   device, an unknown codec, a name that appears twice);
 * - `noManifest`: the archive has no manifest;
 * - `badManifest`: its manifest cannot be used (too large, not JSON, malformed, another backup's);
 * - `manifestMismatch`: the entries and the manifest (or the catalog's record of it) disagree.
 */
export type ArchiveErrorCode =
  'notLifeboat' | 'damaged' | 'refusedEntry' | 'noManifest' | 'badManifest' | 'manifestMismatch';

export class ArchiveError extends Error {
  constructor(
    message: string,
    readonly code: ArchiveErrorCode,
  ) {
    super(message);
    this.name = 'ArchiveError';
  }
}

/** A length prefix: 4 bytes, big-endian. */
export function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
}

/** Frames one entry header (exported so tests can build hostile archives). */
export function frameHeader(header: EntryHeader | Record<string, unknown>): Buffer {
  const json = Buffer.from(JSON.stringify(header));
  return Buffer.concat([Buffer.from('E'), u32(json.length), json]);
}

export function frameChunk(data: Buffer): Buffer {
  return Buffer.concat([u32(data.length), data]);
}

export function frameTrailer(sha256: string, size: number): Buffer {
  const json = Buffer.from(JSON.stringify({ sha256, size }));
  return Buffer.concat([u32(0), u32(json.length), json]);
}

export const END = Buffer.from('Z');
