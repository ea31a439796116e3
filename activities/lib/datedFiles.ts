/**
 * Backups named by the time they were taken (`<config_dir>/backups/<timestamp>.toml`,
 * `chain_backups/<timestamp>.json`): reading the time in a name, and listing a folder of them
 * newest first. Shared by the config-file and audit-chain activities.
 */
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';

/** A backup file and the time it was taken. */
export interface DatedFile {
  name: string;
  file: string;
  /** ISO time. */
  takenAt: string;
  /** `name`: the name is a timestamp (the backup naming); `mtime`: it is not, so the file's mtime. */
  datedBy: 'name' | 'mtime';
}

const STAMP =
  /^(\d{4})-?(\d{2})-?(\d{2})(?:[T_ -]?(\d{2})[:-]?(\d{2})(?:[:-]?(\d{2})(?:[.,](\d{1,9}))?)?)?(Z|[+-]\d{2}(?::?\d{2})?)?$/i;

/**
 * The time in a backup's name (without extension), or undefined when the name is not a timestamp.
 * Accepted: ISO-like `2026-01-05T10:20:30Z`, `2026-01-05T10-20-30.123+02:00`, `2026-01-05`;
 * compact `20260105_102030`, `20260105T102030Z`; Unix time in seconds (10 digits) or ms (13).
 * A stamp without a zone is read as UTC.
 */
export function timeOfStamp(stem: string): Date | undefined {
  if (/^\d{10}$/.test(stem)) return new Date(Number(stem) * 1000);
  if (/^\d{13}$/.test(stem)) return new Date(Number(stem));
  const m = STAMP.exec(stem);
  if (!m) return undefined;
  const [y, mo, d, h = '0', mi = '0', s = '0'] = m.slice(1, 7);
  const ms = m[7] ? Number(m[7].slice(0, 3).padEnd(3, '0')) : 0;
  const parts = [Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(s)];
  const utc = Date.UTC(parts[0], parts[1], parts[2], parts[3], parts[4], parts[5], ms);
  const check = new Date(utc);
  // Date.UTC rolls over (month 13, day 32): such a name is not a timestamp.
  if (
    check.getUTCFullYear() !== parts[0] ||
    check.getUTCMonth() !== parts[1] ||
    check.getUTCDate() !== parts[2] ||
    check.getUTCHours() !== parts[3] ||
    check.getUTCMinutes() !== parts[4] ||
    check.getUTCSeconds() !== parts[5]
  ) {
    return undefined;
  }
  let offsetMinutes = 0;
  const zone = m[8];
  if (zone && zone.toUpperCase() !== 'Z') {
    const zm = /^([+-])(\d{2}):?(\d{2})?$/.exec(zone)!;
    offsetMinutes = (zm[1] === '-' ? -1 : 1) * (Number(zm[2]) * 60 + Number(zm[3] ?? 0));
  }
  return new Date(utc - offsetMinutes * 60000);
}

/**
 * Regular files in `dir` ending in one of `exts`, newest first: by the timestamp in the name where
 * the name is one (the procedure's `<timestamp>.toml`), else by the file's mtime; ties by name.
 * Hidden files (temp files start with a dot) are left out. A missing folder lists nothing.
 */
export async function listDatedFiles(
  dir: string,
  exts: string[],
): Promise<{ files: DatedFile[]; folderMissing: boolean }> {
  let names: string[];
  try {
    names = await fsp.readdir(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { files: [], folderMissing: true };
    throw err;
  }
  const files: (DatedFile & { ms: number })[] = [];
  for (const name of names) {
    const ext = exts.find((e) => name.toLowerCase().endsWith(e));
    if (!ext || name.startsWith('.') || name.length === ext.length) continue;
    const file = path.join(dir, name);
    const stats = await fsp.lstat(file);
    if (!stats.isFile()) continue;
    const stamp = timeOfStamp(name.slice(0, -ext.length));
    const when = stamp ?? stats.mtime;
    files.push({
      name,
      file,
      takenAt: when.toISOString(),
      datedBy: stamp ? 'name' : 'mtime',
      ms: when.getTime(),
    });
  }
  files.sort((a, b) => b.ms - a.ms || (a.name < b.name ? 1 : a.name > b.name ? -1 : 0));
  return { files: files.map(({ ms: _ms, ...f }) => f), folderMissing: false };
}

/** How a listing with no usable backup is described: the folder, and each backup with its problem. */
export function describeNoBackup(
  dir: string,
  folderMissing: boolean,
  tried: { name: string; problem?: string }[],
): string {
  if (folderMissing) return `the folder ${dir} does not exist`;
  if (tried.length === 0) return `the folder ${dir} is empty`;
  return tried.map((t) => `${t.name}: ${t.problem}`).join('; ');
}
