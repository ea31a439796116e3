/**
 * Reading a backup archive (the layout is in archive.ts) without trusting it: every header is
 * checked (path shape, kind, codec, duplicates and names that collide after Unicode normalisation)
 * before a byte of its data goes anywhere, every entry's SHA-256 and size are checked against its
 * trailer, and at the end every entry against the manifest. Memory use does not depend on file or
 * archive size. Problems are ArchiveErrors whose code says what was found.
 */
import { createHash } from 'node:crypto';
import * as fsp from 'node:fs/promises';
import { promisify } from 'node:util';
import * as zlib from 'node:zlib';
import { pathProblem } from '../../common/paths';
import {
  ArchiveError,
  CHUNK_SIZE,
  FORMATS,
  MAGIC,
  MAX_CHUNK,
  MAX_HEADER,
  MAX_MANIFEST,
  type Codec,
  type ArchiveFormat as Format,
  type EntryDigest,
  type EntryHeader,
  type WriteProgress,
} from './archiveFormat';
import { throwIfCancelled } from './context';
import { ByteReader } from './byteReader';
import { EntryThreads, type EntryOutcome } from './entryThreads';
import { manifestProblems, type Manifest } from './manifest';
import { ManifestJsonError, ManifestParser } from './manifestParse';
import { unzstd, zstdBinding, ZstdProblem } from './zstd';

const inflateRaw = promisify(zlib.inflateRaw);

/** Where an entry's bytes go while being read; `undefined` reads and checks them without keeping them. */
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
   * on this thread alone (starting threads costs more than it saves). Default 16 MiB.
   */
  threadsAfter?: number;
}

export interface ReadResult {
  entries: EntryDigest[];
  manifest: Manifest;
  /** SHA-256 of the manifest entry's bytes (what a sidecar's `manifestSha256` names). */
  manifestSha256: string;
}

const KINDS = new Set(['file', 'sqlite', 'manifest']);
/** The tags before an entry and at the end ('E', 'Z'). */
const E = 0x45;
const Z = 0x5a;

function checkHeader(raw: unknown, seen: Map<string, string>, format: Format): EntryHeader {
  if (typeof raw !== 'object' || raw === null)
    throw new ArchiveError('an entry header is not an object', 'damaged');
  const h = raw as Record<string, unknown>;
  // Worded only for an error: 100,000 entries need none.
  const name = () => (typeof h.path === 'string' ? JSON.stringify(h.path) : '(no path)');
  const problem = pathProblem(h.path);
  if (problem) throw new ArchiveError(`archive entry ${name()} is refused: ${problem}`, 'refusedEntry');
  if (typeof h.kind !== 'string' || !KINDS.has(h.kind)) {
    throw new ArchiveError(
      `archive entry ${name()} is refused: its kind '${String(h.kind)}' is not a regular file (links and device files are never restored)`,
      'refusedEntry',
    );
  }
  if (!format.codecs.has(h.codec as Codec))
    throw new ArchiveError(
      `archive entry ${name()} has an unknown codec '${String(h.codec)}' (format version ${format.version} has ${[...format.codecs].join(', ')})`,
      'refusedEntry',
    );
  for (const key of ['mode', 'mtimeMs', 'size']) {
    if (typeof h[key] !== 'number' || !Number.isFinite(h[key]) || (h[key] as number) < 0) {
      throw new ArchiveError(`archive entry ${name()} has no valid ${key}`, 'damaged');
    }
  }
  // The manifest entry is told apart by its kind: a root may hold a file called manifest.json too.
  if (h.kind === 'manifest') return h as unknown as EntryHeader;
  const normalised = (h.path as string).normalize('NFC');
  const earlier = seen.get(normalised);
  if (earlier !== undefined) {
    throw new ArchiveError(
      earlier === h.path
        ? `archive entry ${name()} appears twice`
        : `archive entries ${JSON.stringify(earlier)} and ${name()} collide after Unicode normalisation`,
      'refusedEntry',
    );
  }
  seen.set(normalised, h.path as string);
  return h as unknown as EntryHeader;
}

/** The error for what a reader thread found wrong in an entry, worded as this thread words it. */
function outcomeError(outcome: Exclude<EntryOutcome, { ok: true }>, header: EntryHeader): Error {
  const name = JSON.stringify(header.path);
  if (outcome.problem === 'tooLarge')
    return new ArchiveError(
      `entry ${name} holds more bytes than its header says (${header.size})`,
      'damaged',
    );
  if (outcome.problem !== 'io')
    return new ArchiveError(`entry ${name} is corrupt (its compressed data does not decompress)`, 'damaged');
  return Object.assign(new Error(outcome.message), outcome.code ? { code: outcome.code } : {});
}

function trailerMismatch(name: string, trailer: Trailer, sha256: string, size: number): ArchiveError {
  return new ArchiveError(
    `entry ${name} does not match its checksum: expected ${String(trailer.sha256).slice(0, 16)}… (${String(trailer.size)} bytes), found ${sha256.slice(0, 16)}… (${size} bytes)`,
    'damaged',
  );
}

type Trailer = { sha256?: unknown; size?: unknown };

/** An entry handed to a reader thread, waiting for its outcome to be judged, in archive order. */
interface Handed {
  header: EntryHeader;
  trailer: Trailer;
  outcome: Promise<EntryOutcome>;
  /** Settles once the entry's end is in a batch for its thread. */
  queued: Promise<void>;
  /** Set once the outcome arrived: judging it then sends nothing to the threads. */
  arrived?: boolean;
  /** Its end has gone to its thread: the outcome comes without sending what is queued. */
  sent: () => boolean;
  sink: FileSink | undefined;
}

/**
 * Reads an archive stream, checking it as it goes (see the module comment). `open` decides where
 * each entry's bytes go. Throws an ArchiveError naming the first problem.
 */
export async function readArchive(
  source: AsyncIterable<Uint8Array>,
  open: (header: EntryHeader) => Promise<EntrySink | FileSink | undefined>,
  progress?: (p: WriteProgress) => void,
  options: ReadOptions = {},
): Promise<ReadResult> {
  const reader = new ByteReader(source);
  // Too short for its magic is not an archive; the stream's own error (it does not decrypt) is its own.
  const magic = await reader.take(MAGIC.length, 'its magic header').catch((err: unknown) => {
    if (err instanceof ArchiveError) return Buffer.alloc(0);
    throw err;
  });
  const format = FORMATS.find((f) => magic.equals(f.magic));
  if (!format) {
    const version = /^LIFEBOAT-ARCHIVE\/(\d+)/.exec(magic.toString('latin1'));
    throw new ArchiveError(
      version
        ? `the archive is of format version ${version[1]}; this Lifeboat reads versions ${FORMATS.map((f) => f.version).join(' and ')} only (a newer Lifeboat wrote it)`
        : 'not a Lifeboat archive (wrong magic header)',
      'notLifeboat',
    );
  }
  const seen = new Map<string, string>();
  const entries: EntryDigest[] = [];
  let manifest: Manifest | undefined;
  let manifestSha256 = '';
  let bytes = 0;
  // Without the native zstd binding (the packed CLI), zstd chunks are decompressed on this thread.
  const threadsAfter =
    format.codecs.has('zstd') && !zstdBinding() ? Infinity : (options.threadsAfter ?? 16 * 1024 * 1024);
  let threads: EntryThreads | undefined;
  const handed: Handed[] = [];
  let inlineFile: fsp.FileHandle | undefined;
  // Judges the oldest entry handed to a thread: what its thread found, then its trailer.
  const judge = async (): Promise<void> => {
    const h = handed.shift()!;
    // What is queued for the threads goes out only when an outcome is still to come from it (and
    // once the entry's end is among it: this thread reads on without waiting for that).
    await h.queued;
    if (!h.arrived && !h.sent()) await threads!.flush();
    const outcome = await h.outcome;
    if (!outcome.ok) throw outcomeError(outcome, h.header);
    const { sha256, size } = outcome;
    if (h.trailer.sha256 !== sha256 || h.trailer.size !== size || h.header.size !== size)
      throw trailerMismatch(JSON.stringify(h.header.path), h.trailer, sha256, size);
    const digest = digestOf(h.header, sha256, size);
    await h.sink?.close(digest);
    entries.push(digest);
    progress?.({ files: entries.length, bytes, current: h.header.path });
  };
  const judgeAll = async () => {
    while (handed.length) await judge();
  };
  try {
    for (;;) {
      // The reader's sync paths first: most bytes have arrived, and an await per field was a promise each.
      const tag = reader.byteNow() ?? (await reader.byte('an entry tag'));
      if (tag === Z) break;
      if (tag !== E)
        throw new ArchiveError(
          `the archive is corrupt (unexpected byte at offset ${reader.consumed - 1})`,
          'damaged',
        );
      if (manifest) throw new ArchiveError('the archive holds entries after its manifest', 'damaged');
      const headerLength = reader.uint32Now() ?? (await reader.uint32('an entry header'));
      if (headerLength > MAX_HEADER)
        throw new ArchiveError('the archive is corrupt (an entry header is too long)', 'damaged');
      // Read outside the parse: a decryption error while reading is not a header that is not JSON.
      const headerBytes = reader.now(headerLength) ?? (await reader.take(headerLength, 'an entry header'));
      let rawHeader: unknown;
      try {
        rawHeader = JSON.parse(headerBytes.toString('utf8'));
      } catch {
        throw new ArchiveError('the archive is corrupt (an entry header is not JSON)', 'damaged');
      }
      const header = checkHeader(rawHeader, seen, format);
      const name = () => JSON.stringify(header.path);
      const inEntry = () => `entry ${name()}`;
      const isManifest = header.kind === 'manifest';
      if (isManifest && header.size > MAX_MANIFEST)
        throw new ArchiveError('the manifest entry is too large', 'badManifest');
      const sink = isManifest ? undefined : await open(header);
      // Threads once the archive proves large (this entry included), so that a huge first file gets them.
      if (!threads && bytes + header.size >= threadsAfter) threads = new EntryThreads();
      const job =
        threads && !isManifest && !(sink && 'write' in sink)
          ? threads.begin(
              entries.length + handed.length,
              header,
              sink ? { file: sink.file, mode: sink.mode, mtimeMs: sink.mtimeMs } : undefined,
            )
          : undefined;
      // An entry read on this thread is judged after those handed to threads before it.
      if (!job) await judgeAll();
      // A file sink read on this thread: written here as a reader thread would write it.
      if (!job && sink && !('write' in sink)) inlineFile = await fsp.open(sink.file, 'wx', 0o600);
      // Read here, not by a thread: hashed here.
      const hash = job ? undefined : createHash('sha256');
      // The manifest is parsed as it arrives (manifestParse.ts): its whole text is never held.
      const manifestParser = isManifest ? new ManifestParser() : undefined;
      let size = 0;
      for (;;) {
        // A cancelled activity (a stop, a drill's end) stops reading at the next chunk.
        throwIfCancelled();
        const length = reader.uint32Now() ?? (await reader.uint32(inEntry));
        if (length === 0) break;
        if (length > MAX_CHUNK)
          throw new ArchiveError(`entry ${name()} is corrupt (a chunk is too long)`, 'damaged');
        const stored = reader.now(length) ?? (await reader.take(length, inEntry));
        if (job) {
          await job.chunk(stored);
          // Progress counts what the writer put in each chunk (CHUNK_SIZE, the last one less).
          const raw = header.codec === 'store' ? length : Math.min(CHUNK_SIZE, header.size - size);
          size += raw;
          bytes += raw;
          progress?.({ files: entries.length, bytes, current: header.path });
          continue;
        }
        const chunk = await unpacked(stored, header, size);
        size += chunk.length;
        if (size > header.size)
          throw new ArchiveError(
            `entry ${name()} holds more bytes than its header says (${header.size})`,
            'damaged',
          );
        hash!.update(chunk);
        if (manifestParser) manifestParser.write(chunk);
        else if (inlineFile) await inlineFile.write(chunk);
        else await (sink as EntrySink | undefined)?.write(chunk);
        bytes += chunk.length;
        progress?.({ files: entries.length, bytes, current: header.path });
      }
      const ofTrailer = () => `the trailer of ${name()}`;
      const trailerLength = reader.uint32Now() ?? (await reader.uint32(ofTrailer));
      if (trailerLength > MAX_HEADER)
        throw new ArchiveError(`the trailer of ${name()} is corrupt`, 'damaged');
      const trailerBytes = reader.now(trailerLength) ?? (await reader.take(trailerLength, ofTrailer));
      let trailer: Trailer;
      try {
        trailer = JSON.parse(trailerBytes.toString('utf8')) as Trailer;
      } catch {
        throw new ArchiveError(`the trailer of ${name()} is not JSON`, 'damaged');
      }
      if (job) {
        bytes += Math.max(0, header.size - size);
        const { queued, outcome } = job.end();
        // Awaited when judged; an entry never judged (an earlier one failed) must not leave it unhandled.
        queued.catch(() => undefined);
        const h: Handed = {
          header,
          trailer,
          outcome,
          queued,
          sent: job.sent,
          sink: sink as FileSink | undefined,
        };
        h.outcome.then(
          () => (h.arrived = true),
          () => undefined,
        );
        handed.push(h);
        // Judged a few hundred entries behind: memory stays bounded, the threads stay busy.
        while (handed.length > 256) await judge();
        continue;
      }
      const sha256 = hash!.digest('hex');
      if (trailer.sha256 !== sha256 || trailer.size !== size || header.size !== size)
        throw trailerMismatch(name(), trailer, sha256, size);
      if (isManifest) {
        manifestSha256 = sha256;
        try {
          manifest = manifestParser!.end() as Manifest;
        } catch (err) {
          if (!(err instanceof ManifestJsonError)) throw err;
          throw new ArchiveError('the manifest is not valid JSON', 'badManifest');
        }
        continue;
      }
      const digest = digestOf(header, sha256, size);
      if (inlineFile) {
        const { mode, mtimeMs } = sink as FileSink;
        await inlineFile.chmod(mode);
        await inlineFile.utimes(mtimeMs / 1000, mtimeMs / 1000);
        await inlineFile.close();
        inlineFile = undefined;
      }
      await sink?.close(digest);
      entries.push(digest);
      progress?.({ files: entries.length, bytes, current: header.path });
    }
    await judgeAll();
    if (!(await reader.atEnd()))
      throw new ArchiveError('the archive has data after its end marker', 'damaged');
  } catch (err) {
    // The first problem in the archive's order: an entry handed to a thread before this one may have had one.
    await judgeAll();
    throw err;
  } finally {
    await inlineFile?.close();
    await threads?.stop();
  }
  // 100,000 paths' worth, no longer needed while the manifest is compared.
  seen.clear();
  if (!manifest) throw new ArchiveError('the archive has no manifest (missing manifest)', 'noManifest');
  const { unusable, mismatched } = manifestProblems(manifest, entries);
  if (unusable.length || mismatched.length)
    throw new ArchiveError(
      [...unusable, ...mismatched].join('; '),
      mismatched.length ? 'manifestMismatch' : 'badManifest',
    );
  return { entries, manifest, manifestSha256 };
}

function digestOf(header: EntryHeader, sha256: string, size: number): EntryDigest {
  return {
    path: header.path,
    kind: header.kind as 'file' | 'sqlite',
    size,
    sha256,
    mode: header.mode,
    mtimeMs: header.mtimeMs,
  };
}

/** A stored chunk as the original bytes, bounded by what the header still promises. */
async function unpacked(stored: Buffer, header: EntryHeader, size: number): Promise<Buffer> {
  if (header.codec === 'store') return stored;
  // A small chunk may not expand into gigabytes.
  const room = Math.max(1, Math.min(header.size - size, MAX_CHUNK));
  try {
    return header.codec === 'zstd'
      ? unzstd(stored, room)
      : await inflateRaw(stored, { maxOutputLength: room });
  } catch (err) {
    const name = JSON.stringify(header.path);
    const code = err instanceof ZstdProblem ? err.problem : (err as NodeJS.ErrnoException).code;
    if (code === 'ERR_BUFFER_TOO_LARGE' || code === 'tooLarge')
      throw new ArchiveError(
        `entry ${name} holds more bytes than its header says (${header.size})`,
        'damaged',
      );
    throw new ArchiveError(`entry ${name} is corrupt (its compressed data does not decompress)`, 'damaged');
  }
}
