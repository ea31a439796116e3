/**
 * Reading a backup archive (the layout is in archive.ts) without trusting it: every header is
 * checked (path shape, kind, codec, duplicates and names that collide after Unicode normalisation)
 * before a byte of its data goes anywhere, every entry's SHA-256 and size are checked against its
 * trailer, and at the end every entry against the manifest. Memory use does not depend on file or
 * archive size. Problems are ArchiveErrors whose code says what was found.
 */
import { createHash } from 'node:crypto';
import { promisify } from 'node:util';
import * as zlib from 'node:zlib';
import { pathProblem } from '../../common/paths';
import {
  ArchiveError,
  MAGIC,
  MAX_CHUNK,
  MAX_HEADER,
  MAX_MANIFEST,
  type EntryDigest,
  type EntryHeader,
  type WriteProgress,
} from './archiveFormat';
import { throwIfCancelled } from './context';
import { manifestProblems, type Manifest } from './manifest';

const inflateRaw = promisify(zlib.inflateRaw);

class ByteReader {
  private chunks: Buffer[] = [];
  private length = 0;
  private done = false;
  private readonly it: AsyncIterator<Uint8Array>;
  consumed = 0;

  constructor(source: AsyncIterable<Uint8Array>) {
    this.it = source[Symbol.asyncIterator]();
  }

  private async fill(n: number): Promise<boolean> {
    while (this.length < n && !this.done) {
      const next = await this.it.next();
      if (next.done) this.done = true;
      else if (next.value.length > 0) {
        const b = Buffer.from(next.value.buffer, next.value.byteOffset, next.value.byteLength);
        this.chunks.push(b);
        this.length += b.length;
      }
    }
    return this.length >= n;
  }

  /** The next `n` bytes: a view into the source's chunk where it holds them all, else a copy. */
  async take(n: number, what: string): Promise<Buffer> {
    if (!(await this.fill(n)))
      throw new ArchiveError(`the archive is truncated (it ends inside ${what})`, 'damaged');
    this.length -= n;
    this.consumed += n;
    const head = this.chunks[0];
    if (head.length >= n) {
      if (head.length === n) this.chunks.shift();
      else this.chunks[0] = head.subarray(n);
      return head.subarray(0, n);
    }
    const out = Buffer.allocUnsafe(n);
    for (let offset = 0; offset < n;) {
      const chunk = this.chunks[0];
      const k = Math.min(chunk.length, n - offset);
      chunk.copy(out, offset, 0, k);
      offset += k;
      if (k === chunk.length) this.chunks.shift();
      else this.chunks[0] = chunk.subarray(k);
    }
    return out;
  }

  async atEnd(): Promise<boolean> {
    return !(await this.fill(1));
  }
}

/** Where an entry's bytes go while being read; `undefined` reads and checks them without keeping them. */
export interface EntrySink {
  write(chunk: Buffer): Promise<void>;
  /** Called once the entry's checksum matched its trailer. */
  close(digest: EntryDigest): Promise<void>;
}

export interface ReadResult {
  entries: EntryDigest[];
  manifest: Manifest;
  /** SHA-256 of the manifest entry's bytes (what a sidecar's `manifestSha256` names). */
  manifestSha256: string;
}

const KINDS = new Set(['file', 'sqlite', 'manifest']);

function checkHeader(raw: unknown, seen: Map<string, string>): EntryHeader {
  if (typeof raw !== 'object' || raw === null)
    throw new ArchiveError('an entry header is not an object', 'damaged');
  const h = raw as Record<string, unknown>;
  const name = typeof h.path === 'string' ? JSON.stringify(h.path) : '(no path)';
  const problem = pathProblem(h.path);
  if (problem) throw new ArchiveError(`archive entry ${name} is refused: ${problem}`, 'refusedEntry');
  if (typeof h.kind !== 'string' || !KINDS.has(h.kind)) {
    throw new ArchiveError(
      `archive entry ${name} is refused: its kind '${String(h.kind)}' is not a regular file (links and device files are never restored)`,
      'refusedEntry',
    );
  }
  if (h.codec !== 'store' && h.codec !== 'deflate')
    throw new ArchiveError(`archive entry ${name} has an unknown codec '${String(h.codec)}'`, 'refusedEntry');
  for (const key of ['mode', 'mtimeMs', 'size']) {
    if (typeof h[key] !== 'number' || !Number.isFinite(h[key]) || (h[key] as number) < 0) {
      throw new ArchiveError(`archive entry ${name} has no valid ${key}`, 'damaged');
    }
  }
  // The manifest entry is told apart by its kind: a root may hold a file called manifest.json too.
  if (h.kind === 'manifest') return h as unknown as EntryHeader;
  const normalised = (h.path as string).normalize('NFC');
  const earlier = seen.get(normalised);
  if (earlier !== undefined) {
    throw new ArchiveError(
      earlier === h.path
        ? `archive entry ${name} appears twice`
        : `archive entries ${JSON.stringify(earlier)} and ${name} collide after Unicode normalisation`,
      'refusedEntry',
    );
  }
  seen.set(normalised, h.path as string);
  return h as unknown as EntryHeader;
}

/**
 * Reads an archive stream, checking it as it goes (see the module comment). `open` decides where
 * each entry's bytes go. Throws an ArchiveError naming the first problem.
 */
export async function readArchive(
  source: AsyncIterable<Uint8Array>,
  open: (header: EntryHeader) => Promise<EntrySink | undefined>,
  progress?: (p: WriteProgress) => void,
): Promise<ReadResult> {
  const reader = new ByteReader(source);
  const magic = await reader.take(MAGIC.length, 'its magic header').catch(() => Buffer.alloc(0));
  if (!magic.equals(MAGIC)) {
    const version = /^LIFEBOAT-ARCHIVE\/(\d+)/.exec(magic.toString('latin1'));
    throw new ArchiveError(
      version
        ? `the archive is of format version ${version[1]}; this Lifeboat reads version 1 only (a newer Lifeboat wrote it)`
        : 'not a Lifeboat archive (wrong magic header)',
      'notLifeboat',
    );
  }
  const seen = new Map<string, string>();
  const entries: EntryDigest[] = [];
  let manifest: Manifest | undefined;
  let manifestSha256 = '';
  let bytes = 0;
  for (;;) {
    const tag = (await reader.take(1, 'an entry tag')).toString('latin1');
    if (tag === 'Z') break;
    if (tag !== 'E')
      throw new ArchiveError(
        `the archive is corrupt (unexpected byte at offset ${reader.consumed - 1})`,
        'damaged',
      );
    if (manifest) throw new ArchiveError('the archive holds entries after its manifest', 'damaged');
    const headerLength = (await reader.take(4, 'an entry header')).readUInt32BE();
    if (headerLength > MAX_HEADER)
      throw new ArchiveError('the archive is corrupt (an entry header is too long)', 'damaged');
    // Read outside the parse: a decryption error while reading is not a header that is not JSON.
    const headerBytes = await reader.take(headerLength, 'an entry header');
    let rawHeader: unknown;
    try {
      rawHeader = JSON.parse(headerBytes.toString('utf8'));
    } catch {
      throw new ArchiveError('the archive is corrupt (an entry header is not JSON)', 'damaged');
    }
    const header = checkHeader(rawHeader, seen);
    const name = JSON.stringify(header.path);
    const isManifest = header.kind === 'manifest';
    if (isManifest && header.size > MAX_MANIFEST)
      throw new ArchiveError('the manifest entry is too large', 'badManifest');
    const sink = isManifest ? undefined : await open(header);
    const hash = createHash('sha256');
    const manifestParts: Buffer[] = [];
    let size = 0;
    for (;;) {
      // A cancelled activity (a stop, a drill's end) stops reading at the next chunk.
      throwIfCancelled();
      const length = (await reader.take(4, `entry ${name}`)).readUInt32BE();
      if (length === 0) break;
      if (length > MAX_CHUNK)
        throw new ArchiveError(`entry ${name} is corrupt (a chunk is too long)`, 'damaged');
      const stored = await reader.take(length, `entry ${name}`);
      let chunk: Buffer;
      try {
        // Bounded by what the header still promises: a small chunk may not inflate into gigabytes.
        const room = Math.max(1, Math.min(header.size - size, MAX_CHUNK));
        chunk = header.codec === 'deflate' ? await inflateRaw(stored, { maxOutputLength: room }) : stored;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE')
          throw new ArchiveError(
            `entry ${name} holds more bytes than its header says (${header.size})`,
            'damaged',
          );
        throw new ArchiveError(`entry ${name} is corrupt (its compressed data does not inflate)`, 'damaged');
      }
      size += chunk.length;
      if (size > header.size)
        throw new ArchiveError(
          `entry ${name} holds more bytes than its header says (${header.size})`,
          'damaged',
        );
      hash.update(chunk);
      if (isManifest) manifestParts.push(chunk);
      else await sink?.write(chunk);
      bytes += chunk.length;
      progress?.({ files: entries.length, bytes, current: header.path });
    }
    const trailerLength = (await reader.take(4, `the trailer of ${name}`)).readUInt32BE();
    if (trailerLength > MAX_HEADER) throw new ArchiveError(`the trailer of ${name} is corrupt`, 'damaged');
    const trailerBytes = await reader.take(trailerLength, `the trailer of ${name}`);
    let trailer: { sha256?: unknown; size?: unknown };
    try {
      trailer = JSON.parse(trailerBytes.toString('utf8')) as typeof trailer;
    } catch {
      throw new ArchiveError(`the trailer of ${name} is not JSON`, 'damaged');
    }
    const sha256 = hash.digest('hex');
    if (trailer.sha256 !== sha256 || trailer.size !== size || header.size !== size) {
      throw new ArchiveError(
        `entry ${name} does not match its checksum: expected ${String(trailer.sha256).slice(0, 16)}… (${String(trailer.size)} bytes), found ${sha256.slice(0, 16)}… (${size} bytes)`,
        'damaged',
      );
    }
    if (isManifest) {
      manifestSha256 = sha256;
      try {
        manifest = JSON.parse(Buffer.concat(manifestParts).toString('utf8')) as Manifest;
      } catch {
        throw new ArchiveError('the manifest is not valid JSON', 'badManifest');
      }
      continue;
    }
    const digest: EntryDigest = {
      path: header.path,
      kind: header.kind as 'file' | 'sqlite',
      size,
      sha256,
      mode: header.mode,
      mtimeMs: header.mtimeMs,
    };
    await sink?.close(digest);
    entries.push(digest);
    progress?.({ files: entries.length, bytes, current: header.path });
  }
  if (!(await reader.atEnd())) throw new ArchiveError('the archive has data after its end marker', 'damaged');
  if (!manifest) throw new ArchiveError('the archive has no manifest (missing manifest)', 'noManifest');
  const { unusable, mismatched } = manifestProblems(manifest, entries);
  if (unusable.length || mismatched.length)
    throw new ArchiveError(
      [...unusable, ...mismatched].join('; '),
      mismatched.length ? 'manifestMismatch' : 'badManifest',
    );
  return { entries, manifest, manifestSha256 };
}
