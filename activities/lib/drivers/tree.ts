/** Folder copies for driver packages: durable (every file fsynced), and comparable by content. */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import { fsyncDir, fsyncFile, hashFile } from '../files';

export interface TreeFile {
  /** Relative to the folder, with `/` separators. */
  path: string;
  size: number;
}

/** Every regular file under `dir`, sorted; symlinks and other special files are refused. */
export async function listTree(dir: string): Promise<TreeFile[]> {
  const out: TreeFile[] = [];
  const walk = async (at: string, rel: string) => {
    const entries = await fsp.readdir(at, { withFileTypes: true });
    for (const entry of entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
      const full = path.join(at, entry.name);
      const relPath = rel ? `${rel}/${entry.name}` : entry.name;
      if (entry.isDirectory()) await walk(full, relPath);
      else if (entry.isFile()) out.push({ path: relPath, size: (await fsp.stat(full)).size });
      else throw new Error(`${full} is not a regular file or folder; driver packages hold plain files only`);
    }
  };
  await walk(dir, '');
  return out;
}

/** Copies the contents of `from` into `to` (created), fsyncing every file and folder. */
export async function copyTree(
  from: string,
  to: string,
  options: { skip?: (name: string) => boolean; onFile?: (file: string) => void } = {},
): Promise<void> {
  await fsp.mkdir(to, { recursive: true });
  for (const entry of await fsp.readdir(from, { withFileTypes: true })) {
    if (options.skip?.(entry.name)) continue;
    const src = path.join(from, entry.name);
    const dest = path.join(to, entry.name);
    if (entry.isDirectory()) await copyTree(src, dest, { onFile: options.onFile });
    else if (entry.isFile()) {
      await fsp.copyFile(src, dest, fs.constants.COPYFILE_FICLONE);
      await fsyncFile(dest);
      options.onFile?.(dest);
    } else throw new Error(`${src} is not a regular file or folder; driver packages hold plain files only`);
  }
  await fsyncDir(to);
}

/** SHA-256 over every file's path and content: equal digests mean equal folders. */
export async function treeDigest(dir: string): Promise<string> {
  const hash = createHash('sha256');
  for (const file of await listTree(dir)) {
    const { sha256 } = await hashFile(path.join(dir, ...file.path.split('/')));
    hash.update(`${file.path}\0${sha256}\n`);
  }
  return hash.digest('hex');
}

export async function isDirectory(dir: string): Promise<boolean> {
  try {
    return (await fsp.stat(dir)).isDirectory();
  } catch {
    return false;
  }
}
