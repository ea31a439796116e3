/**
 * The recovery runbooks' one way to replace a damaged file: keep the damaged one in quarantine (a
 * hard link or a synced copy, never deleted), stage the replacement beside the file, and rename it
 * into place, so the file is never missing or half-written. `putBack` is the way back;
 * `replaceKeepingOriginal` and `undoReplace` are the pair that also undoes a replace where there was
 * no file before.
 */
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import { stopFailure } from '../errors';
import { exists, fsyncDir, hashFile, preserveCopy, safeName, stageCopy, writeFileAtomic } from './files';

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

/** The incident's quarantine folder: `<quarantine>/<incident>`. */
export function incidentFolder(quarantine: string, incident: string): string {
  return path.join(quarantine, safeName(incident));
}

/** What {@link replaceKeepingOriginal} did (its old name; the same shape as a {@link Replacement}). */
export type ReplaceResult = Replacement;

/**
 * `quarantineAndReplace`, plus a marker `<basename>.absent` in the quarantine folder when there was
 * no file to keep, so that {@link undoReplace} knows to take the new file away again. A retry of a
 * replace that already happened finds the kept file (or the marker) and does not keep the new one.
 */
export async function replaceKeepingOriginal(
  file: string,
  source: string,
  folder: string,
  tag: string,
): Promise<ReplaceResult> {
  const kept = path.join(folder, path.basename(file));
  const absent = `${kept}.absent`;
  if (!(await exists(file)) && !(await exists(kept)) && !(await exists(absent))) {
    await fsp.mkdir(folder, { recursive: true });
    await writeFileAtomic(
      absent,
      `${JSON.stringify({ file, note: 'there was no file here before Lifeboat replaced it' })}\n`,
      tag,
    );
  }
  if (await exists(absent)) {
    await fsp.mkdir(path.dirname(file), { recursive: true });
    const staged = await stageCopy(source, file, tag);
    await fsp.rename(staged.tmp, file);
    await fsyncDir(path.dirname(file));
    return { file, sha256: staged.sha256, size: staged.size };
  }
  const replaced = await quarantineAndReplace(file, source, folder, tag);
  return {
    file,
    quarantined: replaced.quarantined,
    sha256: replaced.sha256,
    size: replaced.size,
  };
}

/**
 * Undoes {@link replaceKeepingOriginal}: puts the kept file back over `file`, or, when there was no
 * file before, moves the new one into the quarantine folder as `<basename>.installed` (kept, not
 * deleted). Harmless when nothing was replaced.
 */
export async function undoReplace(
  file: string,
  folder: string,
  tag: string,
): Promise<{ action: 'putBack' | 'removed' | 'none' }> {
  const kept = path.join(folder, path.basename(file));
  if (await exists(kept)) return { action: (await putBack(file, kept, tag)) ? 'putBack' : 'none' };
  if (!(await exists(`${kept}.absent`)) || !(await exists(file))) return { action: 'none' };
  const installed = `${kept}.installed`;
  if (!(await exists(installed))) await preserveCopy(file, installed);
  else if ((await hashFile(installed)).sha256 !== (await hashFile(file)).sha256) {
    throw stopFailure(
      'AmbiguousTarget',
      `${installed} already holds a different file; move it aside and retry`,
    );
  }
  await fsp.rm(file);
  await fsyncDir(path.dirname(file));
  return { action: 'removed' };
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
