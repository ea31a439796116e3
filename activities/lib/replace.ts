/**
 * The recovery runbooks' one way to replace a damaged file: keep the damaged one in quarantine (a
 * hard link or a synced copy, never deleted), stage the replacement beside the file, and rename it
 * into place, so the file is never missing or half-written. `putBack` is the way back.
 */
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import { exists, fsyncDir, hashFile, preserveCopy, stageCopy } from './files';

export interface Replacement {
  file: string;
  /** Where the file that was replaced is kept; absent when there was no file. */
  quarantined?: string;
  sha256: string;
  size: number;
}

/**
 * Replaces `file` by a copy of `source`. The current file (if any) is kept at
 * `<quarantineDir>/<basename>` first; a retry finds it there and does not copy it again.
 */
export async function quarantineAndReplace(
  file: string,
  source: string,
  quarantineDir: string,
  tag: string,
): Promise<Replacement> {
  let quarantined: string | undefined = path.join(quarantineDir, path.basename(file));
  if (await exists(file)) {
    if (!(await exists(quarantined))) await preserveCopy(file, quarantined);
  } else if (!(await exists(quarantined))) {
    quarantined = undefined;
  }
  await fsp.mkdir(path.dirname(file), { recursive: true });
  const staged = await stageCopy(source, file, tag);
  await fsp.rename(staged.tmp, file);
  await fsyncDir(path.dirname(file));
  return { file, quarantined, sha256: staged.sha256, size: staged.size };
}

/**
 * Puts the quarantined file back over `file` (atomically) unless they are already the same.
 * Harmless when nothing was replaced. Returns whether anything changed.
 */
export async function putBack(file: string, quarantined: string | undefined, tag: string): Promise<boolean> {
  if (!quarantined || !(await exists(quarantined))) return false;
  if ((await exists(file)) && (await hashFile(file)).sha256 === (await hashFile(quarantined)).sha256)
    return false;
  const staged = await stageCopy(quarantined, file, tag);
  await fsp.rename(staged.tmp, file);
  await fsyncDir(path.dirname(file));
  return true;
}

/** Free bytes for an unprivileged writer on the file system holding `dir` (or its nearest parent). */
export async function freeBytes(dir: string): Promise<number> {
  let at = path.resolve(dir);
  for (;;) {
    try {
      const stats = await fsp.statfs(at);
      return stats.bavail * stats.bsize;
    } catch (err) {
      const parent = path.dirname(at);
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT' || parent === at) throw err;
      at = parent;
    }
  }
}
