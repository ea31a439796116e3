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
 * Reading never trusts the archive: every header is checked (path shape, kind, codec, duplicates
 * and names that collide after Unicode normalisation) before a byte of its data goes anywhere,
 * every entry's SHA-256 and size are checked against its trailer, and at the end every entry
 * against the manifest. Memory use does not depend on file or archive size.
 */
import { createHash } from 'node:crypto';
import * as fsp from 'node:fs/promises';
import { promisify } from 'node:util';
import * as zlib from 'node:zlib';
import { pathProblem } from '../../common/paths';
import { manifestProblems, type DatabaseStamp, type Manifest, type ManifestFile } from './manifest';

export { pathProblem };
export { manifestProblems };
export type { DatabaseStamp, Manifest, ManifestFile };

export const MAGIC = Buffer.from('LIFEBOAT-ARCHIVE/1\n');
/** The size of the chunks this writer produces. */
export const CHUNK_SIZE = 256 * 1024;
/** The largest chunk a reader accepts: fixed, so archives written with other chunk sizes still read. */
const MAX_CHUNK = 8 * 1024 * 1024;
const MAX_HEADER = 64 * 1024;
const MAX_MANIFEST = 256 * 1024 * 1024;
const deflateRaw = promisify(zlib.deflateRaw);
const inflateRaw = promisify(zlib.inflateRaw);

export type EntryKind = 'file' | 'sqlite' | 'manifest';
export type Codec = 'store' | 'deflate';

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
export interface SourceEntry {
  path: string;
  kind: 'file' | 'sqlite';
  source: string;
  mode: number;
  mtimeMs: number;
}

export class ArchiveError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ArchiveError';
  }
}

function u32(n: number): Buffer {
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

export interface WriteProgress {
  files: number;
  bytes: number;
  current: string;
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
    if (!(await this.fill(n))) throw new ArchiveError(`the archive is truncated (it ends inside ${what})`);
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
  if (typeof raw !== 'object' || raw === null) throw new ArchiveError('an entry header is not an object');
  const h = raw as Record<string, unknown>;
  const name = typeof h.path === 'string' ? JSON.stringify(h.path) : '(no path)';
  const problem = pathProblem(h.path);
  if (problem) throw new ArchiveError(`archive entry ${name} is refused: ${problem}`);
  if (typeof h.kind !== 'string' || !KINDS.has(h.kind)) {
    throw new ArchiveError(
      `archive entry ${name} is refused: its kind '${String(h.kind)}' is not a regular file (links and device files are never restored)`,
    );
  }
  if (h.codec !== 'store' && h.codec !== 'deflate')
    throw new ArchiveError(`archive entry ${name} has an unknown codec '${String(h.codec)}'`);
  for (const key of ['mode', 'mtimeMs', 'size']) {
    if (typeof h[key] !== 'number' || !Number.isFinite(h[key]) || (h[key] as number) < 0) {
      throw new ArchiveError(`archive entry ${name} has no valid ${key}`);
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
      throw new ArchiveError(`the archive is corrupt (unexpected byte at offset ${reader.consumed - 1})`);
    if (manifest) throw new ArchiveError('the archive holds entries after its manifest');
    const headerLength = (await reader.take(4, 'an entry header')).readUInt32BE();
    if (headerLength > MAX_HEADER)
      throw new ArchiveError('the archive is corrupt (an entry header is too long)');
    // Read outside the parse: a decryption error while reading is not a header that is not JSON.
    const headerBytes = await reader.take(headerLength, 'an entry header');
    let rawHeader: unknown;
    try {
      rawHeader = JSON.parse(headerBytes.toString('utf8'));
    } catch {
      throw new ArchiveError('the archive is corrupt (an entry header is not JSON)');
    }
    const header = checkHeader(rawHeader, seen);
    const name = JSON.stringify(header.path);
    const isManifest = header.kind === 'manifest';
    if (isManifest && header.size > MAX_MANIFEST) throw new ArchiveError('the manifest entry is too large');
    const sink = isManifest ? undefined : await open(header);
    const hash = createHash('sha256');
    const manifestParts: Buffer[] = [];
    let size = 0;
    for (;;) {
      const length = (await reader.take(4, `entry ${name}`)).readUInt32BE();
      if (length === 0) break;
      if (length > MAX_CHUNK) throw new ArchiveError(`entry ${name} is corrupt (a chunk is too long)`);
      const stored = await reader.take(length, `entry ${name}`);
      let chunk: Buffer;
      try {
        // Bounded by what the header still promises: a small chunk may not inflate into gigabytes.
        const room = Math.max(1, Math.min(header.size - size, MAX_CHUNK));
        chunk = header.codec === 'deflate' ? await inflateRaw(stored, { maxOutputLength: room }) : stored;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE')
          throw new ArchiveError(`entry ${name} holds more bytes than its header says (${header.size})`);
        throw new ArchiveError(`entry ${name} is corrupt (its compressed data does not inflate)`);
      }
      size += chunk.length;
      if (size > header.size)
        throw new ArchiveError(`entry ${name} holds more bytes than its header says (${header.size})`);
      hash.update(chunk);
      if (isManifest) manifestParts.push(chunk);
      else await sink?.write(chunk);
      bytes += chunk.length;
      progress?.({ files: entries.length, bytes, current: header.path });
    }
    const trailerLength = (await reader.take(4, `the trailer of ${name}`)).readUInt32BE();
    if (trailerLength > MAX_HEADER) throw new ArchiveError(`the trailer of ${name} is corrupt`);
    const trailerBytes = await reader.take(trailerLength, `the trailer of ${name}`);
    let trailer: { sha256?: unknown; size?: unknown };
    try {
      trailer = JSON.parse(trailerBytes.toString('utf8')) as typeof trailer;
    } catch {
      throw new ArchiveError(`the trailer of ${name} is not JSON`);
    }
    const sha256 = hash.digest('hex');
    if (trailer.sha256 !== sha256 || trailer.size !== size || header.size !== size) {
      throw new ArchiveError(
        `entry ${name} does not match its checksum: expected ${String(trailer.sha256).slice(0, 16)}… (${String(trailer.size)} bytes), found ${sha256.slice(0, 16)}… (${size} bytes)`,
      );
    }
    if (isManifest) {
      manifestSha256 = sha256;
      try {
        manifest = JSON.parse(Buffer.concat(manifestParts).toString('utf8')) as Manifest;
      } catch {
        throw new ArchiveError('the manifest is not valid JSON');
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
  if (!(await reader.atEnd())) throw new ArchiveError('the archive has data after its end marker');
  if (!manifest) throw new ArchiveError('the archive has no manifest (missing manifest)');
  const problems = manifestProblems(manifest, entries);
  if (problems.length) throw new ArchiveError(problems.join('; '));
  return { entries, manifest, manifestSha256 };
}
