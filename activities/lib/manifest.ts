/**
 * The manifest of a backup archive (its last entry, docs/archive-format.md §4): what it lists for
 * every file, and the checks every reader makes of it — its shape, and that the archive's entries are
 * exactly the files it says are stored in this archive.
 */
import { pathProblem } from '../../common/paths';
import type { EntryDigest } from './archiveFormat';

/** A backup id: also a file name in a repository, so no separators and no leading dot. */
export const BACKUP_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
const SHA256 = /^[0-9a-f]{64}$/;
// eslint-disable-next-line no-control-regex
const ASCII = /^[\u0000-\u007f]*$/;

/** A database file's size and mtime, and its WAL's, when it was snapshotted. */
export interface DatabaseStamp {
  size: number;
  mtimeMs: number;
  walSize: number;
  walMtimeMs: number;
}

export interface ManifestFile extends EntryDigest {
  /** The backup whose archive holds this file's bytes (itself, or an ancestor for an incremental). */
  storedIn: string;
  /** Databases: the live file's stamp, so an incremental can tell it has not changed. */
  source?: DatabaseStamp;
}

export interface Manifest {
  specVersion: 1;
  backupId: string;
  kind: 'full' | 'incremental';
  parent?: string;
  target: string;
  createdAt: string;
  createdBy: string;
  engineVersion: string;
  storageSpecVersion?: string;
  modules: string[];
  files: ManifestFile[];
  /** Paths in the parent that no longer exist (incrementals). */
  deleted: string[];
  /** Only in an export (procedure 003 §3.3, §3.4, §12): the one project or module it holds. */
  export?: ExportScope;
}

/**
 * A manifest item written out as one literal. An object spread from another and given more fields
 * gets a hidden class of its own in V8: 100,000 items took 30 MB more than the items themselves.
 */
export function manifestFile(
  d: EntryDigest,
  storedIn: string,
  source: DatabaseStamp | undefined,
  over: { mode?: number; mtimeMs?: number } = {},
): ManifestFile {
  return {
    path: d.path,
    kind: d.kind,
    size: d.size,
    sha256: d.sha256,
    mode: over.mode ?? d.mode,
    mtimeMs: over.mtimeMs ?? d.mtimeMs,
    storedIn,
    source,
  };
}

/** What an export holds: one project (`projects/<id>`) or one module (`modules/<id>`) of a root. */
export interface ExportScope {
  scope: 'project' | 'module';
  id: string;
  /** The folder, relative to the root, that holds every file of the export. */
  path: string;
}

/**
 * What a reader relies on in a manifest beyond its own entries: its kind and lists, each file's
 * fields (a path that is allowed, a kind, a SHA-256, size, mode, mtime, a backup id in `storedIn`),
 * and one item per path, also after Unicode normalisation.
 */
function manifestShapeProblem(manifest: Manifest): string | undefined {
  if (manifest.kind !== 'full' && manifest.kind !== 'incremental') return 'has no valid kind';
  for (const key of ['modules', 'deleted'] as const)
    if (!Array.isArray(manifest[key]) || manifest[key].some((m) => typeof m !== 'string'))
      return `has no valid ${key}`;
  const fileProblem = fileShapeChecker();
  for (const f of manifest.files as unknown[]) {
    const problem = fileProblem(f);
    if (problem) return problem;
  }
  return undefined;
}

/**
 * The check of a manifest's files one at a time, in their order (a manifest read as a stream of its
 * items: manifestRecord.ts): what is wrong with an item, as manifestShapeProblem words it.
 */
export function fileShapeChecker(): (f: unknown) => string | undefined {
  const seen = new Map<string, string>();
  return (f) => {
    if (typeof f !== 'object' || f === null) return 'lists a file that is not an object';
    const item = f as Record<string, unknown>;
    // Named only for a problem: 100,000 items are 100,000 strings otherwise.
    const name = () => JSON.stringify(item.path);
    const problem = pathProblem(item.path);
    if (problem) return `lists path ${name()}, which is refused: ${problem}`;
    if (item.kind !== 'file' && item.kind !== 'sqlite')
      return `lists ${name()} with kind ${String(item.kind)}`;
    if (typeof item.sha256 !== 'string' || !SHA256.test(item.sha256))
      return `lists ${name()} with no valid sha256`;
    for (const key of ['size', 'mode', 'mtimeMs'])
      if (typeof item[key] !== 'number' || !Number.isFinite(item[key]) || (item[key] as number) < 0)
        return `lists ${name()} with no valid ${key}`;
    if ((item.mode as number) > 0o7777) return `lists ${name()} with mode ${String(item.mode)}`;
    if (typeof item.storedIn !== 'string' || !BACKUP_ID.test(item.storedIn))
      return `lists ${name()} as stored in ${JSON.stringify(item.storedIn)}, which is not a backup id`;
    const path = item.path as string;
    // An ASCII path is its own normal form.
    const normalised = ASCII.test(path) ? path : path.normalize('NFC');
    const earlier = seen.get(normalised);
    if (earlier !== undefined)
      return earlier === path
        ? `lists ${name()} twice`
        : `lists ${JSON.stringify(earlier)} and ${name()}, which collide after Unicode normalisation`;
    seen.set(normalised, path);
    return undefined;
  };
}

/**
 * Checks a manifest: `unusable` says why it cannot serve as one (its version, fields and shape; when
 * there is such a problem the entries are not compared, unless it is only missing fields),
 * `mismatched` where the archive's entries are not exactly the files it says are stored here.
 */
export function manifestProblems(
  manifest: Manifest,
  entries: EntryDigest[],
): { unusable: string[]; mismatched: string[] } {
  const unusable = (problem: string) => ({ unusable: [problem], mismatched: [] });
  if (manifest.specVersion !== 1)
    return unusable(`the manifest's specVersion is ${String(manifest.specVersion)}, expected 1`);
  if (!Array.isArray(manifest.files)) return unusable('the manifest has no file list');
  const missing: string[] = [];
  for (const key of ['backupId', 'createdAt', 'engineVersion', 'target'] as const) {
    if (typeof manifest[key] !== 'string') missing.push(`the manifest has no ${key}`);
  }
  const shape = manifestShapeProblem(manifest);
  if (shape) return unusable(`the manifest ${shape}`);
  const mismatched: string[] = [];
  // The entries not yet matched by an item stored here (paths are unique on both sides: the shape
  // check and the reader see to it); those left over are not listed as stored here.
  const unmatched = new Map<string, EntryDigest>();
  for (const e of entries) unmatched.set(e.path, e);
  for (const f of manifest.files) {
    if (f.storedIn !== manifest.backupId) continue;
    const entry = unmatched.get(f.path);
    if (!entry) {
      mismatched.push(`the manifest lists ${JSON.stringify(f.path)} but the archive has no such entry`);
      continue;
    }
    unmatched.delete(f.path);
    if (entry.sha256 !== f.sha256 || entry.size !== f.size || entry.kind !== f.kind) {
      mismatched.push(
        `${JSON.stringify(f.path)} differs from the manifest (expected ${f.sha256.slice(0, 16)}…, archive has ${entry.sha256.slice(0, 16)}…)`,
      );
    }
  }
  for (const e of unmatched.values())
    mismatched.push(
      `the archive holds ${JSON.stringify(e.path)}, which the manifest does not list as stored in it`,
    );
  return { unusable: missing, mismatched };
}

/**
 * `JSON.stringify(manifest)` in pieces, `batch` file items each, whose concatenation is exactly that
 * text: for 100,000 files the whole is a 20 MB string. Items are serialised a batch at a time (an
 * array's JSON without its brackets): one call per item took three times as long.
 */
export function* manifestJsonPieces(manifest: Manifest, batch = 1000): Generator<string> {
  let first = true;
  yield '{';
  for (const [key, value] of Object.entries(manifest) as [string, unknown][]) {
    // JSON.stringify leaves out what has no JSON form.
    if (value === undefined || typeof value === 'function' || typeof value === 'symbol') continue;
    yield `${first ? '' : ','}${JSON.stringify(key)}:`;
    first = false;
    if (key !== 'files' || !Array.isArray(value) || value.length === 0) {
      yield JSON.stringify(value);
      continue;
    }
    yield '[';
    for (let i = 0; i < value.length; i += batch)
      yield (i ? ',' : '') + JSON.stringify(value.slice(i, i + batch)).slice(1, -1);
    yield ']';
  }
  yield '}';
}

/**
 * Text given in pieces as UTF-8 in buffers of `size` bytes (the last one shorter), made as they are
 * taken: the text is never one string, and no buffer holds more than a piece beyond `size`.
 */
export function* bufferedPieces(pieces: Iterable<string>, size: number): Generator<Buffer> {
  let parts: string[] = [];
  let pending = 0;
  let carry = Buffer.alloc(0);
  const cut = function* (last: boolean): Generator<Buffer> {
    carry = Buffer.concat([carry, Buffer.from(parts.join(''))]);
    parts = [];
    pending = 0;
    for (; carry.length >= size || (last && carry.length > 0); carry = carry.subarray(size))
      yield Buffer.from(carry.subarray(0, size));
  };
  for (const piece of pieces) {
    parts.push(piece);
    pending += piece.length;
    if (pending >= size) yield* cut(false);
  }
  yield* cut(true);
}

/** {@link bufferedPieces}, all of them. */
export function piecesToBuffers(pieces: Iterable<string>, size: number): Buffer[] {
  return [...bufferedPieces(pieces, size)];
}

/** `JSON.stringify(manifest)` as UTF-8 bytes, made from its pieces (never one large string). */
export function manifestJsonBytes(manifest: Manifest): Buffer {
  return Buffer.concat(piecesToBuffers(manifestJsonPieces(manifest), 256 * 1024));
}

/**
 * Whether bytes given a part at a time (`write`, then `end`) are exactly `JSON.stringify(manifest)`
 * in UTF-8, compared piece by piece: neither is ever whole (the bytes are the catalog's parts).
 */
export function manifestJsonMatch(manifest: Manifest): { write(bytes: Buffer): void; end(): boolean } {
  const expected = bufferedPieces(manifestJsonPieces(manifest), 64 * 1024);
  let piece: Buffer = Buffer.alloc(0);
  let same = true;
  const write = (bytes: Buffer): void => {
    while (same && bytes.length > 0) {
      if (piece.length === 0) {
        const next = expected.next();
        if (next.done) {
          same = false;
          return;
        }
        piece = next.value;
      }
      const n = Math.min(piece.length, bytes.length);
      if (!piece.subarray(0, n).equals(bytes.subarray(0, n))) same = false;
      piece = piece.subarray(n);
      bytes = bytes.subarray(n);
    }
  };
  return {
    write,
    end: () => same && piece.length === 0 && expected.next().done === true,
  };
}

/** {@link manifestJsonMatch} of bytes given whole. */
export function isManifestJson(bytes: Buffer, manifest: Manifest): boolean {
  const match = manifestJsonMatch(manifest);
  match.write(bytes);
  return match.end();
}

/**
 * `JSON.stringify(manifest, null, 1)` (the archive's manifest entry) in pieces, `batch` file items
 * each, whose concatenation is exactly that text: for 100,000 files the whole is a 24 MB string.
 */
export function* prettyManifestPieces(manifest: Manifest, batch = 1000): Generator<string> {
  const files = manifest.files;
  // Everything but the items, with the files array empty; its line is the only one that starts
  // with a newline and one space then "files" (a nested key is indented further, and a string
  // holds no raw newline).
  const skeleton = JSON.stringify({ ...manifest, files: [] }, null, 1);
  const key = '\n "files": []';
  const at = skeleton.indexOf(key);
  if (files.length === 0 || at < 0) {
    yield skeleton;
    return;
  }
  yield `${skeleton.slice(0, at)}\n "files": [\n`;
  // A batch's items as the manifest's own are indented: inside {"files": [...]} pretty-printed,
  // between its first line and its last two.
  const head = '{\n "files": [\n'.length;
  const tail = '\n ]\n}'.length;
  for (let i = 0; i < files.length; i += batch)
    yield (i ? ',\n' : '') + JSON.stringify({ files: files.slice(i, i + batch) }, null, 1).slice(head, -tail);
  yield `\n ]${skeleton.slice(at + key.length)}`;
}
