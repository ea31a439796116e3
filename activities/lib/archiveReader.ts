/**
 * Reading a backup archive (the layout is in archive.ts) without trusting it: every header is
 * checked (path shape, kind, codec, duplicates and names that collide after Unicode normalisation)
 * before a byte of its data goes anywhere, every entry's SHA-256 and size are checked against its
 * trailer, and at the end every entry against the manifest. Memory use does not depend on file or
 * archive size. Problems are ArchiveErrors whose code says what was found.
 *
 * A restore, and a verification's short way, read with the manifest's recorded SHA-256 instead
 * (readRecordedArchive): each entry is checked against the catalog's manifest as it goes (unpack.ts,
 * manifestRecord.ts), so the reader keeps no entry's digest and parses no manifest (100,000 files:
 * 50 MB of objects), and checks that the archive's manifest is, byte for byte, the one recorded.
 */
import { createHash } from 'node:crypto';
import * as fsp from 'node:fs/promises';
import {
  ArchiveError,
  CHUNK_SIZE,
  MAGIC,
  MAX_CHUNK,
  MAX_HEADER,
  MAX_MANIFEST,
  THREADS_AFTER,
  type ArchiveFormat as Format,
  type EntryDigest,
  type EntryHeader,
  type EntrySink,
  type FileSink,
  type ReadOptions,
  type WriteProgress,
} from './archiveFormat';
import {
  checkHeader,
  formatOf,
  checkTrailer,
  chunkTooLong,
  digestOf,
  outcomeError,
  tooLarge,
  unpacked,
  type Trailer,
} from './archiveChecks';
import { throwIfCancelled } from './context';
import { ByteReader } from './byteReader';
import { EntryThreads, type EntryOutcome } from './entryThreads';
import { manifestProblems, type Manifest } from './manifest';
import { ManifestJsonError, ManifestParser } from './manifestParse';
import { zstdBinding } from './zstd';

export type { EntrySink, FileSink, ReadOptions } from './archiveFormat';

/** The tags before an entry and at the end ('E', 'Z'). */
const E = 0x45;
const Z = 0x5a;

export interface ReadResult {
  entries: EntryDigest[];
  manifest: Manifest;
  /** SHA-256 of the manifest entry's bytes (what a sidecar's `manifestSha256` names). */
  manifestSha256: string;
}

/** An entry handed to a reader thread, waiting for its outcome to be judged, in archive order. */
interface Handed {
  header: EntryHeader;
  trailer: Trailer;
  outcome: Promise<EntryOutcome>;
  /** Settles once the entry's end is in a batch for its thread (undefined: it was at once). */
  queued: Promise<void> | undefined;
  /** The outcome once it arrived: judging it then neither sends nor waits. */
  found?: EntryOutcome;
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
  const read = await begin(source, open, progress, options, undefined);
  await read.run();
  return read.result();
}

/**
 * Reads an archive as {@link readArchive} does, but its manifest is only compared with the SHA-256
 * recorded when the backup was made (`recordedManifest`, its sidecar's), not parsed, and its
 * entries are not compared with it: for a caller that checks each entry (unpack.ts, `onEntry`).
 */
export async function readRecordedArchive(
  source: AsyncIterable<Uint8Array>,
  open: (header: EntryHeader) => Promise<EntrySink | FileSink | undefined>,
  progress: ((p: WriteProgress) => void) | undefined,
  recordedManifest: string,
  options: ReadOptions = {},
): Promise<void> {
  const read = await begin(source, open, progress, options, recordedManifest);
  await read.run();
  read.recorded();
}

async function begin(
  source: AsyncIterable<Uint8Array>,
  open: (header: EntryHeader) => Promise<EntrySink | FileSink | undefined>,
  progress: ((p: WriteProgress) => void) | undefined,
  options: ReadOptions,
  recordedManifest: string | undefined,
): Promise<ArchiveRead> {
  const reader = new ByteReader(source);
  // Too short for its magic is not an archive; the stream's own error (it does not decrypt) is its own.
  const magic = await reader.take(MAGIC.length, 'its magic header').catch((err: unknown) => {
    if (err instanceof ArchiveError) return Buffer.alloc(0);
    throw err;
  });
  const format = formatOf(magic);
  // Without the native zstd binding (the packed CLI), zstd chunks are decompressed on this thread.
  const threadsAfter =
    format.codecs.has('zstd') && !zstdBinding() ? Infinity : (options.threadsAfter ?? THREADS_AFTER);
  return new ArchiveRead(reader, format, open, progress, threadsAfter, recordedManifest, options);
}

/**
 * One read of an archive's entries. Its steps are methods of their own, each small: V8 optimises a
 * function once it is hot and again after every deoptimisation, and one large async function here
 * cost 200 ms of background compilation each time, three times per read.
 */
class ArchiveRead {
  private readonly seen = new Map<string, string>();
  private readonly entries: EntryDigest[] = [];
  /** Entries read and judged (kept in `entries` unless the manifest is only compared with its record). */
  private judged = 0;
  private manifest: Manifest | undefined;
  private manifestSha256: string | undefined;
  /** Plaintext bytes of the entries read so far (what progress reports). */
  private bytes = 0;
  private threads: EntryThreads | undefined;
  /** Entries handed to threads, oldest first, not yet judged. */
  private readonly handed: Handed[] = [];
  /** A file sink's file, written on this thread. */
  private inlineFile: fsp.FileHandle | undefined;

  constructor(
    private readonly reader: ByteReader,
    private readonly format: Format,
    private readonly open: (header: EntryHeader) => Promise<EntrySink | FileSink | undefined>,
    private readonly progress: ((p: WriteProgress) => void) | undefined,
    private readonly threadsAfter: number,
    private readonly recordedManifest: string | undefined,
    private readonly options: ReadOptions,
  ) {}

  async run(): Promise<void> {
    try {
      while (await this.entry());
      await this.judgeAll();
      if (!(await this.reader.atEnd()))
        throw new ArchiveError('the archive has data after its end marker', 'damaged');
    } catch (err) {
      // The first problem in the archive's order: an entry handed to a thread before this one may have had one.
      await this.judgeAll();
      throw err;
    } finally {
      await this.inlineFile?.close();
      await this.threads?.stop();
    }
  }

  /** The entries and manifest once the whole archive was read, held to each other. */
  result(): ReadResult {
    // 100,000 paths' worth, no longer needed while the manifest is compared.
    this.seen.clear();
    const { manifest, entries, manifestSha256 } = this;
    if (!manifest || manifestSha256 === undefined)
      throw new ArchiveError('the archive has no manifest (missing manifest)', 'noManifest');
    const { unusable, mismatched } = manifestProblems(manifest, entries);
    if (unusable.length || mismatched.length)
      throw new ArchiveError(
        [...unusable, ...mismatched].join('; '),
        mismatched.length ? 'manifestMismatch' : 'badManifest',
      );
    return { entries, manifest, manifestSha256 };
  }

  /** The whole archive was read: its manifest's bytes are the ones recorded. */
  recorded(): void {
    if (this.manifestSha256 === undefined)
      throw new ArchiveError('the archive has no manifest (missing manifest)', 'noManifest');
    if (this.manifestSha256 !== this.recordedManifest)
      throw new ArchiveError(
        "the archive's manifest is not the one recorded when the backup was made",
        'manifestMismatch',
      );
  }

  private report(path: string): void {
    this.progress?.({ files: this.judged, bytes: this.bytes, current: path });
  }

  /** Reads the next entry; false at the end marker. */
  private async entry(): Promise<boolean> {
    const { reader } = this;
    // The reader's sync paths first: most bytes have arrived, and an await per field was a promise each.
    const tag = reader.byteNow() ?? (await reader.byte('an entry tag'));
    if (tag === Z) return false;
    if (tag !== E)
      throw new ArchiveError(
        `the archive is corrupt (unexpected byte at offset ${reader.consumed - 1})`,
        'damaged',
      );
    if (this.manifestSha256 !== undefined)
      throw new ArchiveError('the archive holds entries after its manifest', 'damaged');
    const read = this.header();
    const header = read instanceof Promise ? await read : read;
    const isManifest = header.kind === 'manifest';
    if (isManifest && header.size > MAX_MANIFEST)
      throw new ArchiveError('the manifest entry is too large', 'badManifest');
    const sink = isManifest ? undefined : await this.open(header);
    // Threads once the archive proves large (this entry included), so that a huge first file gets them.
    if (!this.threads && this.bytes + header.size >= this.threadsAfter)
      this.threads = new EntryThreads(this.options.threads);
    if (this.threads && !isManifest && !(sink && 'write' in sink)) await this.handOver(header, sink);
    else await this.readHere(header, sink);
    return true;
  }

  /** The next entry's header, checked; without a promise when its bytes have arrived. */
  private header(): EntryHeader | Promise<EntryHeader> {
    return this.reader.field(
      MAX_HEADER,
      'an entry header',
      () => new ArchiveError('the archive is corrupt (an entry header is too long)', 'damaged'),
      // Parsed once read: a decryption error while reading is not a header that is not JSON.
      (bytes) => {
        let raw: unknown;
        try {
          raw = JSON.parse(bytes.toString('utf8'));
        } catch {
          throw new ArchiveError('the archive is corrupt (an entry header is not JSON)', 'damaged');
        }
        return checkHeader(raw, this.seen, this.format);
      },
    );
  }

  /** The next chunk's stored bytes, or undefined at the entry's end. */
  private async chunk(header: EntryHeader, inEntry: () => string): Promise<Buffer | undefined> {
    const { reader } = this;
    // A cancelled activity (a stop, a drill's end) stops reading at the next chunk.
    throwIfCancelled();
    const length = reader.uint32Now() ?? (await reader.uint32(inEntry));
    if (length === 0) return undefined;
    if (length > MAX_CHUNK) throw chunkTooLong(header);
    return reader.now(length) ?? (await reader.take(length, inEntry));
  }

  /** The entry's trailer; without a promise when its bytes have arrived. */
  private trailer(header: EntryHeader): Trailer | Promise<Trailer> {
    const ofTrailer = () => `the trailer of ${JSON.stringify(header.path)}`;
    return this.reader.field(
      MAX_HEADER,
      ofTrailer,
      () => new ArchiveError(`${ofTrailer()} is corrupt`, 'damaged'),
      (bytes) => {
        try {
          return JSON.parse(bytes.toString('utf8')) as Trailer;
        } catch {
          throw new ArchiveError(`${ofTrailer()} is not JSON`, 'damaged');
        }
      },
    );
  }

  /** An entry whose chunks go to a reader thread (judged later, in archive order: `judge`). */
  private async handOver(header: EntryHeader, sink: FileSink | undefined): Promise<void> {
    const job = this.threads!.begin(
      this.judged + this.handed.length,
      header,
      sink ? { file: sink.file, mode: sink.mode, mtimeMs: sink.mtimeMs } : undefined,
    );
    const inEntry = () => `entry ${JSON.stringify(header.path)}`;
    let size = 0;
    const { reader } = this;
    for (;;) {
      // chunk() inlined: a promise fewer per chunk, of which 100,000 entries have 200,000.
      throwIfCancelled();
      const length = reader.uint32Now() ?? (await reader.uint32(inEntry));
      if (length === 0) break;
      if (length > MAX_CHUNK) throw chunkTooLong(header);
      const stored = reader.now(length) ?? (await reader.take(length, inEntry));
      const waited = job.chunk(stored);
      if (waited) await waited;
      // Progress counts what the writer put in each chunk (CHUNK_SIZE, the last one less).
      const raw = header.codec === 'store' ? stored.length : Math.min(CHUNK_SIZE, header.size - size);
      size += raw;
      this.bytes += raw;
      this.report(header.path);
    }
    const read = this.trailer(header);
    const trailer = read instanceof Promise ? await read : read;
    this.bytes += Math.max(0, header.size - size);
    const { queued, outcome } = job.end();
    // Awaited when judged; an entry never judged (an earlier one failed) must not leave it unhandled.
    queued?.catch(() => undefined);
    const h: Handed = { header, trailer, outcome, queued, sent: job.sent, sink };
    h.outcome.then(
      (o) => (h.found = o),
      () => undefined,
    );
    queued?.then(
      () => (h.queued = undefined),
      () => undefined,
    );
    this.handed.push(h);
    // Judged a few hundred entries behind: memory stays bounded, the threads stay busy.
    while (this.handed.length > 256) {
      const waiting = this.judge();
      if (waiting) await waiting;
    }
  }

  /** An entry read, hashed and written on this thread (the manifest, a small archive, a stream sink). */
  private async readHere(header: EntryHeader, sink: EntrySink | FileSink | undefined): Promise<void> {
    await this.judgeAll(); // judged after those handed to threads before it
    // A file sink read on this thread: written here as a reader thread would write it.
    if (sink && !('write' in sink)) this.inlineFile = await fsp.open(sink.file, 'wx', 0o600);
    const hash = createHash('sha256');
    // The manifest is parsed as it arrives (manifestParse.ts): its whole text is never held.
    const isManifest = header.kind === 'manifest';
    const manifestParser =
      isManifest && this.recordedManifest === undefined ? new ManifestParser() : undefined;
    const inEntry = () => `entry ${JSON.stringify(header.path)}`;
    let size = 0;
    for (let stored; (stored = await this.chunk(header, inEntry));) {
      const chunk = await unpacked(stored, header, size);
      size += chunk.length;
      if (size > header.size) throw tooLarge(header);
      hash.update(chunk);
      if (manifestParser) manifestParser.write(chunk);
      else if (this.inlineFile) await this.inlineFile.write(chunk);
      else await (sink as EntrySink | undefined)?.write(chunk);
      this.bytes += chunk.length;
      this.report(header.path);
    }
    const read = this.trailer(header);
    const trailer = read instanceof Promise ? await read : read;
    const sha256 = hash.digest('hex');
    checkTrailer(header, trailer, sha256, size);
    if (isManifest) this.manifestSha256 = sha256;
    if (manifestParser) {
      try {
        this.manifest = manifestParser.end() as Manifest;
      } catch (err) {
        if (!(err instanceof ManifestJsonError)) throw err;
        throw new ArchiveError('the manifest is not valid JSON', 'badManifest');
      }
    }
    if (isManifest) return;
    const digest = digestOf(header, sha256, size);
    if (this.inlineFile) {
      const { mode, mtimeMs } = sink as FileSink;
      await this.inlineFile.chmod(mode);
      await this.inlineFile.utimes(mtimeMs / 1000, mtimeMs / 1000);
      await this.inlineFile.close();
      this.inlineFile = undefined;
    }
    if (sink) await sink.close(digest);
    this.add(digest);
  }

  /**
   * Judges the oldest entry handed to a thread: what its thread found, then its trailer. Without a
   * promise when its outcome is in and there is no sink to close (most entries of a verification).
   */
  private judge(): Promise<void> | undefined {
    const h = this.handed[0];
    if (h.queued || !h.found || h.sink) return this.judgeLater();
    this.handed.shift();
    this.add(this.accept(h.header, h.trailer, h.found));
    return undefined;
  }

  private async judgeLater(): Promise<void> {
    const h = this.handed.shift()!;
    // What is queued for the threads goes out only when an outcome is still to come from it (and
    // once the entry's end is among it: this thread reads on without waiting for that).
    if (h.queued) await h.queued;
    if (!h.found && !h.sent()) await this.threads!.flush();
    const digest = this.accept(h.header, h.trailer, h.found ?? (await h.outcome));
    if (h.sink) await h.sink.close(digest);
    this.add(digest);
  }

  /** The digest of an entry whose thread's outcome matches its trailer. */
  private accept(header: EntryHeader, trailer: Trailer, outcome: EntryOutcome): EntryDigest {
    if (!outcome.ok) throw outcomeError(outcome, header);
    checkTrailer(header, trailer, outcome.sha256, outcome.size);
    return digestOf(header, outcome.sha256, outcome.size);
  }

  private add(digest: EntryDigest): void {
    this.judged += 1;
    if (this.recordedManifest === undefined) this.entries.push(digest);
    this.options.onEntry?.(digest);
    this.report(digest.path);
  }

  private async judgeAll(): Promise<void> {
    while (this.handed.length) {
      const waiting = this.judge();
      if (waiting) await waiting;
    }
  }
}
