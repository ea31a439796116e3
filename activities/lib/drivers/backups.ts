/**
 * Driver backups on disk and how they are judged (procedure 000 §2.3):
 *
 * - pre-update backups: `<backups>/pre-update/<safe device id>/<tag>/`, one package folder;
 * - full backup sets:    `<backups>/sets/<tag>/`, one folder per package;
 *
 * each with `driver-backup.json` (what was exported, the expected package count). A backup is
 * written into `.<tag>.partial` beside its final folder, validated, then renamed into place, so a
 * folder under its final name is always complete. Valid means: every package folder holds at least
 * one `.inf`, every file is larger than 0 bytes, and the number of package folders is the count
 * expected.
 */
import { createHash } from 'node:crypto';
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import { listTree } from './tree';
import type { DeviceState, DriverPackage } from './types';

export const MANIFEST = 'driver-backup.json';

export interface BackupManifest {
  kind: 'pre-update' | 'set';
  createdAt: string;
  createdBy: string;
  adapter: 'pnputil' | 'directory';
  /** pre-update backups: the device and the package it used. */
  device?: Pick<DeviceState, 'instanceId' | 'description' | 'driver'>;
  /** Package folder names in this backup (pre-update: the published name). */
  folders?: string[];
  drivers: DriverPackage[];
  /** The number of package folders this backup must hold. */
  packages: number;
}

export interface BackupVerdict {
  folder: string;
  valid: boolean;
  problem?: string;
  packages: number;
  files: number;
  bytes: number;
  manifest?: BackupManifest;
}

export function preUpdateRoot(backups: string, device: string): string {
  return path.join(backups, 'pre-update', safeDeviceId(device));
}

export function setsRoot(backups: string): string {
  return path.join(backups, 'sets');
}

/**
 * A folder name for a device instance id (`PCI\VEN_8086&DEV_15BC\3&11583659&0&FE` →
 * `PCI_VEN_8086_DEV_15BC_3_11583659_0_FE`); long ids keep a hash of the whole id. The exact id is in
 * the manifest, which is what a search compares.
 */
export function safeDeviceId(device: string): string {
  const safe = device.replace(/[^A-Za-z0-9._-]+/g, '_').replace(/^[._]+/, '');
  if (safe.length <= 100) return safe || 'device';
  const hash = createHash('sha256').update(device).digest('hex').slice(0, 12);
  return `${safe.slice(0, 87)}_${hash}`;
}

export async function readManifest(folder: string): Promise<BackupManifest | undefined> {
  try {
    const parsed = JSON.parse(await fsp.readFile(path.join(folder, MANIFEST), 'utf8')) as BackupManifest;
    return typeof parsed === 'object' && parsed !== null && typeof parsed.packages === 'number'
      ? parsed
      : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Judges a backup folder. `expected` overrides the count in the manifest (used right after an
 * export, when the count comes from the store itself).
 */
export async function validateBackup(folder: string, expected?: number): Promise<BackupVerdict> {
  const verdict = (problem: string | undefined, extra: Partial<BackupVerdict> = {}): BackupVerdict => ({
    folder,
    valid: problem === undefined,
    problem,
    packages: 0,
    files: 0,
    bytes: 0,
    ...extra,
  });
  let entries;
  try {
    entries = await fsp.readdir(folder, { withFileTypes: true });
  } catch (err) {
    return verdict(`cannot read the folder: ${(err as Error).message}`);
  }
  const manifest = await readManifest(folder);
  const want = expected ?? manifest?.packages;
  if (want === undefined)
    return verdict(`${MANIFEST} is missing or unreadable, so the expected count is unknown`);
  const packages = entries.filter((e) => e.isDirectory() && !e.name.startsWith('.')).map((e) => e.name);
  let files = 0;
  let bytes = 0;
  const problems: string[] = [];
  for (const name of packages.sort()) {
    let tree;
    try {
      tree = await listTree(path.join(folder, name));
    } catch (err) {
      problems.push(`${name}: ${(err as Error).message}`);
      continue;
    }
    if (!tree.some((f) => !f.path.includes('/') && f.path.toLowerCase().endsWith('.inf'))) {
      problems.push(`package folder ${name} has no .inf file`);
    }
    for (const f of tree) {
      if (f.size === 0) problems.push(`${name}/${f.path} is empty (0 bytes)`);
    }
    files += tree.length;
    bytes += tree.reduce((sum, f) => sum + f.size, 0);
  }
  if (packages.length !== want) {
    problems.push(`it holds ${packages.length} package folder(s) but ${want} were expected`);
  }
  return verdict(problems.length ? problems.join('; ') : undefined, {
    packages: packages.length,
    files,
    bytes,
    manifest,
  });
}

/**
 * Judges a full driver backup set before a restore (procedure 000 §2.3, §3.2): a folder without any
 * `.inf` is no driver backup at all; otherwise `validateBackup`, and the manifest must say `set`.
 */
export async function validateDriverSet(folder: string): Promise<BackupVerdict> {
  const invalid = (problem: string): BackupVerdict => ({
    folder,
    valid: false,
    problem,
    packages: 0,
    files: 0,
    bytes: 0,
  });
  let tree;
  try {
    tree = await listTree(folder);
  } catch (err) {
    return invalid(
      (err as NodeJS.ErrnoException).code === 'ENOENT'
        ? 'the folder is not there (is the drive or share connected?)'
        : `cannot read the folder: ${(err as Error).message}`,
    );
  }
  if (!tree.some((f) => f.path.toLowerCase().endsWith('.inf')))
    return invalid('it holds no .inf file, so it is no driver backup');
  const verdict = await validateBackup(folder);
  if (verdict.valid && verdict.manifest?.kind !== 'set')
    return {
      ...verdict,
      valid: false,
      problem: `it is a ${verdict.manifest?.kind ?? 'unknown'} backup, not a full driver backup set`,
    };
  return verdict;
}

/**
 * Backup folders under `root`, newest first: by the manifest's `createdAt` (names start with a UTC
 * time to the second only, so two backups in one second would otherwise sort by chance), then by
 * name. Folders without a readable manifest come last.
 */
export async function listBackupFolders(root: string): Promise<string[]> {
  let entries;
  try {
    entries = await fsp.readdir(root, { withFileTypes: true });
  } catch {
    return [];
  }
  const folders = await Promise.all(
    entries
      .filter((e) => e.isDirectory() && !e.name.startsWith('.'))
      .map(async (e) => ({
        name: e.name,
        at: (await readManifest(path.join(root, e.name)))?.createdAt ?? '',
      })),
  );
  return folders
    .sort((a, b) => (a.at !== b.at ? (a.at < b.at ? 1 : -1) : a.name < b.name ? 1 : a.name > b.name ? -1 : 0))
    .map((f) => f.name);
}
