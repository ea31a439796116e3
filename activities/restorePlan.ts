/**
 * What approving a restore will do, computed before its gate (restic's `restore --dry-run`, put in
 * front of the approver): how many files of the live root the backup replaces, adds and removes, and
 * what the approver stands to lose — the files that changed after the backup was taken (count,
 * bytes, the newest few by path and time) and the databases whose content differs. Read-only.
 */
import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { humanBytes } from '../common/bytes';
import type { GatePlan } from '../common/types';
import { catalogNameOf, resolveBackupId, type Catalogs } from './backupShared';
import type { LifeboatConfig } from '../config';
import { heartbeater } from './lib/context';
import { exists, hashFile } from './lib/files';
import type { ManifestFile } from './lib/manifest';
import { scanRoot, snapshotDatabase, type ScannedFile } from './lib/rootFiles';
import { wantedFiles } from './lib/unpack';
import { restorableTarget } from './restore';

/** How many of the newest changed files the plan names. */
const NEWEST = 5;

function inScope(file: string, paths?: string[]): boolean {
  return !paths || paths.some((p) => file === p || file.startsWith(`${p}/`));
}

/** A database's stamp now, as the manifest keeps it. */
function stampOf(abs: string): { size: number; mtimeMs: number; walSize: number; walMtimeMs: number } {
  const st = fs.statSync(abs);
  const wal = fs.statSync(`${abs}-wal`, { throwIfNoEntry: false });
  return { size: st.size, mtimeMs: st.mtimeMs, walSize: wal?.size ?? 0, walMtimeMs: wal?.mtimeMs ?? 0 };
}

/** Whether the live file holds what the backup holds: size and mtime first, then the bytes. */
async function sameAsBackup(live: ScannedFile, saved: ManifestFile, scratch: string): Promise<boolean> {
  if (saved.kind === 'sqlite' || live.sqlite) {
    if (saved.kind !== 'sqlite' || !live.sqlite) return false;
    const now = stampOf(live.abs);
    const then = saved.source;
    if (then && JSON.stringify(now) === JSON.stringify(then)) return true;
    // Written since: compare a snapshot, taken the way the backup took it.
    const copy = path.join(scratch, 'snapshot.db');
    await snapshotDatabase(live.abs, copy, () => undefined);
    const { sha256 } = await hashFile(copy);
    await fsp.rm(copy, { force: true });
    return sha256 === saved.sha256;
  }
  if (live.size !== saved.size) return false;
  if (Math.trunc(live.mtimeMs) === Math.trunc(saved.mtimeMs)) return true;
  return (await hashFile(live.abs)).sha256 === saved.sha256;
}

export function createRestorePlanActivities(config: LifeboatConfig, catalogs: Catalogs) {
  return {
    /**
     * Compares the backup with the live root (or the listed paths) and says what the restore will
     * change. Into an inspection folder, the live root is not touched and the plan says so.
     */
    async planRestore(
      targetName: string,
      which: string,
      options: { paths?: string[]; into?: string } = {},
    ): Promise<GatePlan> {
      const target = restorableTarget(config, targetName);
      const catalog = catalogs.of(target);
      const backupId = resolveBackupId(catalog, catalogNameOf(target), which);
      const manifest = catalog.manifest(backupId)!;
      const saved = wantedFiles(manifest.files, options.paths);
      const savedBytes = [...saved.values()].reduce((n, f) => n + f.size, 0);
      const taken = Date.parse(manifest.createdAt);
      if (options.into)
        return {
          summary: `writes ${saved.size} files (${humanBytes(savedBytes)}) of backup ${backupId} into the inspection folder '${options.into}'; the live root is not touched`,
          effects: [],
        };
      if (!(await exists(target.root)))
        return {
          summary: `creates the root ${target.root}, which does not exist, with ${saved.size} files (${humanBytes(savedBytes)}) of backup ${backupId}; nothing is lost`,
          effects: [],
        };
      const live = (await scanRoot(target.root)).filter((f) => inScope(f.path, options.paths));
      const beat = heartbeater();
      const scratch = await fsp.mkdtemp(path.join(os.tmpdir(), 'lifeboat-plan-'));
      const replaced: ScannedFile[] = [];
      const removed: ScannedFile[] = [];
      const databases: string[] = [];
      let unchanged = 0;
      try {
        let done = 0;
        for (const file of live) {
          beat({ step: 'planRestore', files: ++done, total: live.length });
          const backed = saved.get(file.path);
          if (!backed) removed.push(file);
          else if (await sameAsBackup(file, backed, scratch)) unchanged += 1;
          else {
            replaced.push(file);
            if (file.sqlite || backed.kind === 'sqlite') databases.push(file.path);
          }
        }
      } finally {
        await fsp.rm(scratch, { recursive: true, force: true });
      }
      const livePaths = new Set(live.map((f) => f.path));
      const added = [...saved.keys()].filter((p) => !livePaths.has(p)).length;
      const lost = [...replaced, ...removed]
        .filter((f) => f.mtimeMs > taken)
        .sort((a, b) => b.mtimeMs - a.mtimeMs);
      const lostBytes = lost.reduce((n, f) => n + f.size, 0);
      const bytesOf = (files: ScannedFile[]) => humanBytes(files.reduce((n, f) => n + f.size, 0));
      const scope = options.paths ? `${options.paths.join(', ')} in the live root` : 'the live root';
      const kept = options.paths
        ? 'what each path replaces is kept beside the root'
        : 'the current root is kept beside it as the previous root';
      const effects = [
        `${replaced.length} files replaced (${bytesOf(replaced)}), ${added} added, ${removed.length} removed (${bytesOf(removed)}), ${unchanged} unchanged`,
        databases.length
          ? `databases whose content differs from the backup: ${databases.join(', ')}`
          : 'no database differs from the backup',
        lost.length
          ? `${lost.length} files (${humanBytes(lostBytes)}) changed after the backup was taken (${manifest.createdAt}): their newer content leaves the live root`
          : `nothing in ${scope} changed after the backup was taken (${manifest.createdAt})`,
        `the way back: ${kept}, and a stop puts it back`,
      ];
      return {
        summary: `replaces ${scope} with backup ${backupId}: ${replaced.length} files replaced, ${added} added, ${removed.length} removed; ${lost.length ? `${lost.length} files (${humanBytes(lostBytes)}) changed after the backup and their changes are lost` : 'no file changed after the backup'}${databases.length ? `; ${databases.length} databases differ` : ''}`,
        effects,
        newest: lost.slice(0, NEWEST).map((f) => ({
          path: f.path,
          modifiedAt: new Date(f.mtimeMs).toISOString(),
          bytes: f.size,
        })),
      };
    },
  };
}
