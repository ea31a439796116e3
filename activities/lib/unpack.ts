/**
 * Unpacking a backup's chain into a folder: each archive of the chain (oldest first) is read, and
 * every entry the manifest wants from it is checked against the manifest (size, kind, path shape)
 * before its bytes go anywhere, written with `wx` (never over an existing file), checked against the
 * manifest's SHA-256, and given its mode and mtime. Used by restore (staging beside the root), by
 * `lifeboat archive extract` and by `lifeboat self restore`.
 */
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import type { Readable } from 'node:stream';
import {
  ArchiveError,
  readArchive,
  readRecordedArchive,
  type EntryDigest,
  type EntrySink,
  type EntryHeader,
  type FileSink,
  type ManifestFile,
} from './archive';
import { syncFileSystem, WriteBehind } from './files';

/** One archive of a chain: opening it yields its plaintext and a check to run once it has been read. */
export interface ChainArchive {
  backupId: string;
  open: () => Promise<{ plain: Readable; check: () => Promise<void> }>;
  /**
   * The SHA-256 of its manifest entry as recorded when it was made (its sidecar's), when `check`
   * compares the whole archive with its recorded SHA-256: then the archive's manifest is compared
   * with this, not parsed, and its entries not compared with it (each entry taken is compared with
   * `wanted` as it is written). Without it (older catalog rows), the archive's manifest is read.
   */
  recordedManifest?: string | null;
}

export interface UnpackProgress {
  files: number;
  total: number;
  bytes: number;
  totalBytes: number;
}

/** Which files to take, by path: a manifest's, all or some. */
export function wantedFiles(files: ManifestFile[], paths?: string[]): Map<string, ManifestFile> {
  return new Map(
    files
      .filter((f) => !paths || paths.some((p) => f.path === p || f.path.startsWith(`${p}/`)))
      .map((f) => [f.path, f]),
  );
}

/**
 * Unpacks `wanted` from `chain` into `dest` (which exists). Throws at the first problem, with
 * `failure(err, backupId)` applied to errors of reading an archive; the caller removes what was
 * written. Resolves when every wanted file is written and synced; a file the chain lacks is an
 * ArchiveError naming it.
 */
export async function unpackChain(options: {
  chain: ChainArchive[];
  wanted: Map<string, ManifestFile>;
  dest: string;
  progress?: (p: UnpackProgress) => void;
  failure?: (err: unknown, backupId: string) => Error;
  /** Mode bits a file may get (default all of 0o7777). */
  modeMask?: number;
}): Promise<{ files: number; bytes: number }> {
  const modeMask = options.modeMask ?? 0o7777;
  const { wanted, dest } = options;
  const failure = options.failure ?? ((err: unknown) => err as Error);
  const written = new Set<string>();
  const made = new Set<string>();
  const totalBytes = [...wanted.values()].reduce((n, f) => n + f.size, 0);
  let bytes = 0;
  const behind = new WriteBehind();
  const report = () => options.progress?.({ files: written.size, total: wanted.size, bytes, totalBytes });
  for (const { backupId: id, open, recordedManifest } of options.chain) {
    try {
      const { plain, check } = await open();
      const before = bytes;
      // Bytes read so far in this archive (wanted or not), for progress inside a large file.
      const reading = (p: { bytes: number }) =>
        options.progress?.({
          files: written.size,
          total: wanted.size,
          bytes: Math.max(bytes, Math.min(totalBytes, before + p.bytes)),
          totalBytes,
        });
      const take = async (header: EntryHeader): Promise<EntrySink | FileSink | undefined> => {
        const want = wanted.get(header.path);
        if (!want || want.storedIn !== id) return undefined;
        if (want.size !== header.size || want.kind !== header.kind) {
          throw new ArchiveError(
            `entry ${JSON.stringify(header.path)} does not match the manifest (${header.size} bytes, expected ${want.size})`,
            'manifestMismatch',
          );
        }
        const file = path.join(dest, ...header.path.split('/'));
        if (!file.startsWith(`${dest}${path.sep}`))
          throw new ArchiveError(
            `entry ${JSON.stringify(header.path)} would leave the folder ${dest}`,
            'refusedEntry',
          );
        const dir = path.dirname(file);
        if (!made.has(dir)) {
          await fsp.mkdir(dir, { recursive: true });
          made.add(dir);
        }
        // Written by a reader thread with `wx` (never over an existing file), mode and mtime set.
        return {
          file,
          mode: want.mode & modeMask,
          mtimeMs: want.mtimeMs,
          close: async (digest: EntryDigest) => {
            if (digest.sha256 !== want.sha256)
              throw new ArchiveError(
                `${JSON.stringify(header.path)} does not match the manifest's checksum`,
                'manifestMismatch',
              );
            written.add(header.path);
            bytes += digest.size;
            behind.add(file, digest.size);
            report();
          },
        };
      };
      if (recordedManifest) await readRecordedArchive(plain, take, reading, recordedManifest);
      else await readArchive(plain, take, reading);
      await check();
    } catch (err) {
      // Nothing of this unpack still running once it has failed (the caller removes what was written).
      await behind.settle().catch(() => undefined);
      throw failure(err, id);
    }
  }
  // Large files were flushed one by one as they were written (WriteBehind): the sync below is left
  // with the small ones, the disk having worked beside the reading instead of after it.
  await behind.settle();
  // The files were written without an fsync each: one sync of the file system makes them durable
  // at once, and the folders' fsyncs their names.
  const folders = new Set<string>([dest]);
  for (let dir of made)
    for (; dir.startsWith(`${dest}${path.sep}`); dir = path.dirname(dir)) folders.add(dir);
  await syncFileSystem(dest, [...folders], () => [...written].map((p) => path.join(dest, ...p.split('/'))));
  const missing = [...wanted.keys()].filter((p) => !written.has(p));
  if (missing.length) {
    throw new ArchiveError(
      `the chain lacks ${missing.length} file(s) its manifest lists: ${missing.slice(0, 5).join(', ')}`,
      'manifestMismatch',
    );
  }
  return { files: written.size, bytes };
}
