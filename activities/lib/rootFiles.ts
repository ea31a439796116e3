/**
 * The files of a storage root as a backup sees them: every regular file under the root (symlinks and
 * special files refused), SQLite databases told by their header and snapshotted with the Online
 * Backup API, and a database's `PRAGMA integrity_check`.
 */
import Database from 'better-sqlite3';
import * as fs from 'node:fs';
import type { Stats } from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import type { TargetConfig } from '../../config';
import { stopFailure } from '../errors';
import { pathProblem } from './archive';
import { exists } from './files';
import { SQLITE_SIDECARS, isSqliteSync } from './sqlite';
import { streamed } from './youngGc';

export interface ScannedFile {
  path: string;
  abs: string;
  size: number;
  mode: number;
  mtimeMs: number;
  sqlite: boolean;
}

/**
 * What an earlier backup saw of a file: a file whose size and mtime are still these is not opened
 * to tell whether it is a database (an incremental of many files would otherwise open them all).
 */
export type KnownFiles = Map<string, { size: number; mtimeMs: number; sqlite: boolean }>;

function scanned(rel: string, abs: string, st: Stats, known?: KnownFiles): ScannedFile {
  const before = known?.get(rel);
  const same = before !== undefined && before.size === st.size && before.mtimeMs === st.mtimeMs;
  return {
    path: rel,
    abs,
    size: st.size,
    mode: st.mode & 0o7777,
    mtimeMs: st.mtimeMs,
    // A database is at least its 100-byte header.
    sqlite: same ? before.sqlite : st.size >= 100 && isSqliteSync(abs),
  };
}

/** The files a backup of the target captures: its root's, or its named files (lifeboat-self). */
export async function scanTarget(
  target: TargetConfig & { root: string },
  known?: KnownFiles,
): Promise<ScannedFile[]> {
  if (!target.sources) return scanRoot(target.root, known);
  const files: ScannedFile[] = [];
  for (const [rel, abs] of Object.entries(target.sources)) {
    const st = await fsp.lstat(abs).catch(() => undefined);
    if (!st?.isFile())
      throw stopFailure('AmbiguousTarget', `${abs} (${rel} of target '${target.name}') is not a file`);
    files.push(scanned(rel, abs, st, known));
  }
  return files.sort((a, b) => (a.path < b.path ? -1 : 1));
}

/** Every regular file under the root; symlinks and special files are a STOP naming them. */
export async function scanRoot(root: string, known?: KnownFiles): Promise<ScannedFile[]> {
  const files: ScannedFile[] = [];
  const refused: string[] = [];
  // One folder at a time with synchronous calls, yielding to the event loop between folders
  // (heartbeats go on): a promise per lstat and per sniff cost more than the calls themselves
  // (100,000 files took seconds of this thread).
  // Paths joined as strings (a name holds no separator): path.join and path.relative normalise
  // every path again, 45 ms of 10,000 files' 200.
  const walk = async (dir: string, prefix: string): Promise<void> => {
    const folders: [string, string][] = [];
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      const abs = dir.endsWith(path.sep) ? `${dir}${entry.name}` : `${dir}${path.sep}${entry.name}`;
      const rel = `${prefix}${entry.name}`;
      if (entry.isDirectory()) {
        folders.push([abs, `${rel}/`]);
        continue;
      }
      if (!entry.isFile()) {
        refused.push(`${rel} (${entry.isSymbolicLink() ? 'a symbolic link' : 'a special file'})`);
        continue;
      }
      const problem = pathProblem(rel);
      if (problem) {
        refused.push(`${rel} (${problem})`);
        continue;
      }
      files.push(scanned(rel, abs, fs.lstatSync(abs), known));
    }
    for (const [folder, under] of folders) {
      await new Promise<void>((resolve) => setImmediate(resolve));
      await walk(folder, under);
    }
  };
  if (!(await exists(root))) throw stopFailure('AmbiguousTarget', `the root ${root} does not exist`);
  await walk(path.resolve(root), '');
  // Names equal after Unicode normalisation could not be told apart on restore (nor by a reader).
  const byForm = new Map<string, string>();
  for (const f of files) {
    const form = f.path.normalize('NFC');
    const other = byForm.get(form);
    if (other !== undefined)
      refused.push(
        `${f.path} (its name collides with ${other} after Unicode normalisation: they differ only in how their characters are encoded)`,
      );
    else byForm.set(form, f.path);
  }
  if (refused.length) {
    throw stopFailure(
      'UnsupportedFile',
      `the root holds what a backup may not contain: ${refused.slice(0, 20).join(', ')}${refused.length > 20 ? ` and ${refused.length - 20} more` : ''}`,
    );
  }
  // A database's WAL and journal are captured by its snapshot.
  const dbs = new Set(files.filter((f) => f.sqlite).map((f) => f.path));
  return files
    .filter((f) => !SQLITE_SIDECARS.some((s) => f.path.endsWith(s) && dbs.has(f.path.slice(0, -s.length))))
    .sort((a, b) => (a.path < b.path ? -1 : 1));
}

/**
 * What lies under `root` that `listed` does not name: files, links and special files (a database's
 * journal, WAL and shared-memory files beside a listed database aside: checking it makes them).
 * Only names are compared: nothing is opened or stat'ed, and nothing kept but what is not listed
 * (100,000 restored files' scan objects were the largest memory of a restore's checks).
 */
export async function unlistedFiles(root: string, listed: ReadonlySet<string>): Promise<string[]> {
  const unlisted: string[] = [];
  const walk = async (dir: string, prefix: string): Promise<void> => {
    const folders: [string, string][] = [];
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      const rel = `${prefix}${entry.name}`;
      if (entry.isDirectory()) folders.push([path.join(dir, entry.name), `${rel}/`]);
      else if (
        !listed.has(rel) &&
        !SQLITE_SIDECARS.some((s) => rel.endsWith(s) && listed.has(rel.slice(0, -s.length)))
      )
        unlisted.push(rel);
    }
    for (const [folder, under] of folders) {
      await new Promise<void>((resolve) => setImmediate(resolve));
      await walk(folder, under);
    }
  };
  await walk(root, '');
  return unlisted.sort();
}

/**
 * Databases up to this size (pages, WAL included) are snapshotted in memory. sqlite3_serialize reads
 * every page in one read transaction, as consistent as the Online Backup API, and the snapshot is
 * written without a sync: it is a scratch file the archive is made from, and the backup API's sync of
 * its destination cost 0.15 s for 39 MB here, of 0.25 s. Larger ones go through the backup API, page
 * by page, so that memory stays bounded. Both give the same bytes but for page 1's change counter.
 */
const IN_MEMORY = 64 * 1024 * 1024;

/**
 * Writes the database's image to `dest` (a new file); its size. Written synchronously, in the turn
 * that made it: an image (SQLite's memory, up to 64 MiB) alive across the young generation's
 * collections during an asynchronous write was promoted, and then waited for a full collection:
 * three databases of 25-58 MB held 50-107 MB for 1.5 s at the start of a 100,000-file backup, its
 * peak RSS. Young, it goes at the next minor collection (`streamed`).
 */
function writeImage(db: Database.Database, dest: string): number {
  const image = db.serialize();
  fs.writeFileSync(dest, image, { flag: 'wx', mode: 0o600 });
  return image.length;
}

export async function snapshotDatabase(
  source: string,
  dest: string,
  onProgress: () => void,
  inMemoryUpTo = IN_MEMORY,
): Promise<void> {
  await fsp.mkdir(path.dirname(dest), { recursive: true });
  const db = new Database(source, { readonly: true, fileMustExist: true });
  try {
    const pages = db.pragma('page_count', { simple: true }) as number;
    const pageSize = db.pragma('page_size', { simple: true }) as number;
    if (pages * pageSize <= inMemoryUpTo) {
      // A beat naming it, as the backup API's steps give.
      onProgress();
      // Young and let go once written: collected now rather than after 64 MB more.
      streamed(writeImage(db, dest));
      return;
    }
    // The Online Backup API: a consistent copy even while the application writes.
    await db.backup(dest, {
      progress: () => {
        onProgress();
        return 25_000; // pages per step (about 100 MB): few round trips, still regular heartbeats
      },
    });
  } finally {
    db.close();
  }
}

export function integrityOf(file: string): string {
  const db = new Database(file, { readonly: true, fileMustExist: true });
  try {
    const rows = db.pragma('integrity_check') as { integrity_check: string }[];
    return rows.map((r) => r.integrity_check).join('; ');
  } finally {
    db.close();
  }
}
