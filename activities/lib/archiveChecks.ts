/**
 * The archive reader's judgements (archiveReader.ts), apart from its loop: whether an entry header
 * may be read at all, what a chunk decompresses into within its header's bounds, and the words of
 * every problem found. Kept out of the reader so that its hot functions stay small (V8 compiles a
 * large async function again at every deoptimisation: 200 ms of a background core each time).
 */
import { promisify } from 'node:util';
import * as zlib from 'node:zlib';
import { pathProblem } from '../../common/paths';
import {
  ArchiveError,
  FORMATS,
  MAX_CHUNK,
  type ArchiveFormat as Format,
  type Codec,
  type EntryDigest,
  type EntryHeader,
} from './archiveFormat';
import type { EntryOutcome } from './entryThreads';
import { unzstd, ZstdProblem } from './zstd';

const inflateRaw = promisify(zlib.inflateRaw);

const KINDS = new Set(['file', 'sqlite', 'manifest']);

export type Trailer = { sha256?: unknown; size?: unknown };

/** The format an archive's magic header names; refused when it is none this Lifeboat reads. */
export function formatOf(magic: Buffer): Format {
  const format = FORMATS.find((f) => magic.equals(f.magic));
  if (format) return format;
  const version = /^LIFEBOAT-ARCHIVE\/(\d+)/.exec(magic.toString('latin1'));
  throw new ArchiveError(
    version
      ? `the archive is of format version ${version[1]}; this Lifeboat reads versions ${FORMATS.map((f) => f.version).join(' and ')} only (a newer Lifeboat wrote it)`
      : 'not a Lifeboat archive (wrong magic header)',
    'notLifeboat',
  );
}

/** An entry header as parsed JSON, refused unless every field is what a writer writes. */
export function checkHeader(raw: unknown, seen: Map<string, string>, format: Format): EntryHeader {
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

/** The error for what a reader thread found wrong in an entry, worded as the main thread words it. */
export function outcomeError(outcome: Exclude<EntryOutcome, { ok: true }>, header: EntryHeader): Error {
  const name = JSON.stringify(header.path);
  if (outcome.problem === 'tooLarge') return tooLarge(header);
  if (outcome.problem !== 'io')
    return new ArchiveError(`entry ${name} is corrupt (its compressed data does not decompress)`, 'damaged');
  return Object.assign(new Error(outcome.message), outcome.code ? { code: outcome.code } : {});
}

export function tooLarge(header: EntryHeader): ArchiveError {
  return new ArchiveError(
    `entry ${JSON.stringify(header.path)} holds more bytes than its header says (${header.size})`,
    'damaged',
  );
}

export function chunkTooLong(header: EntryHeader): ArchiveError {
  return new ArchiveError(`entry ${JSON.stringify(header.path)} is corrupt (a chunk is too long)`, 'damaged');
}

/** Throws unless an entry's trailer, header and what was read agree. */
export function checkTrailer(header: EntryHeader, trailer: Trailer, sha256: string, size: number): void {
  if (trailer.sha256 === sha256 && trailer.size === size && header.size === size) return;
  throw new ArchiveError(
    `entry ${JSON.stringify(header.path)} does not match its checksum: expected ${String(trailer.sha256).slice(0, 16)}… (${String(trailer.size)} bytes), found ${sha256.slice(0, 16)}… (${size} bytes)`,
    'damaged',
  );
}

export function digestOf(header: EntryHeader, sha256: string, size: number): EntryDigest {
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
export async function unpacked(stored: Buffer, header: EntryHeader, size: number): Promise<Buffer> {
  if (header.codec === 'store') return stored;
  // A small chunk may not expand into gigabytes.
  const room = Math.max(1, Math.min(header.size - size, MAX_CHUNK));
  try {
    return header.codec === 'zstd'
      ? unzstd(stored, room)
      : await inflateRaw(stored, { maxOutputLength: room });
  } catch (err) {
    const code = err instanceof ZstdProblem ? err.problem : (err as NodeJS.ErrnoException).code;
    if (code === 'ERR_BUFFER_TOO_LARGE' || code === 'tooLarge') throw tooLarge(header);
    throw new ArchiveError(
      `entry ${JSON.stringify(header.path)} is corrupt (its compressed data does not decompress)`,
      'damaged',
    );
  }
}
