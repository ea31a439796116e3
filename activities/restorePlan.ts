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
export async function sameAsBackup(
  live: ScannedFile,
  saved: ManifestFile,
  scratch: string,
): Promise<boolean> {
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

/** One version of a file in a merge conflict. */
export interface FileVersion {
  size: number;
  modifiedAt: string;
  sha256: string;
}

/** A file the backup and the live root both hold, with different contents. */
export interface MergeConflict {
  path: string;
  database: boolean;
  live: FileVersion;
  backup: FileVersion;
  /** What the merge does with it: the policy's choice (databases are never merged). */
  resolution: 'keepLive' | 'takeBackup';
}

export interface MergePlan {
  backupId: string;
  /** Every path the merge writes into the live root: files added, and conflicts taken from the backup. */
  write: string[];
  added: string[];
  conflicts: MergeConflict[];
  plan: GatePlan;
}

/** How many conflicts the gate's plan names one by one. */
const LISTED_CONFLICTS = 10;

export function createRestorePlanActivities(config: LifeboatConfig, catalogs: Catalogs) {
  return {
    /**
     * A merge restore's plan (procedure 003 §6): files of the backup absent from the live root are
     * added; files both hold with different contents are conflicts, resolved by `policy`; files
     * only in the live root are left alone. A database is never merged: it is a conflict like any
     * differing file. Read-only.
     */
    async planMerge(
      targetName: string,
      which: string,
      policy: 'keepLive' | 'takeBackup',
    ): Promise<MergePlan> {
      const target = restorableTarget(config, targetName);
      const catalog = catalogs.of(target);
      const backupId = resolveBackupId(catalog, catalogNameOf(target), which);
      const manifest = catalog.manifest(backupId)!;
      const live = new Map(
        ((await exists(target.root)) ? await scanRoot(target.root) : []).map((f) => [f.path, f]),
      );
      const beat = heartbeater();
      const scratch = await fsp.mkdtemp(path.join(os.tmpdir(), 'lifeboat-merge-'));
      const added: string[] = [];
      const conflicts: MergeConflict[] = [];
      try {
        let done = 0;
        for (const saved of manifest.files) {
          beat({ step: 'planMerge', files: ++done, total: manifest.files.length });
          const file = live.get(saved.path);
          if (!file) added.push(saved.path);
          else if (!(await sameAsBackup(file, saved, scratch)))
            conflicts.push({
              path: saved.path,
              database: file.sqlite || saved.kind === 'sqlite',
              live: {
                size: file.size,
                modifiedAt: new Date(file.mtimeMs).toISOString(),
                sha256: (await hashFile(file.abs)).sha256,
              },
              backup: {
                size: saved.size,
                modifiedAt: new Date(saved.mtimeMs).toISOString(),
                sha256: saved.sha256,
              },
              resolution: policy,
            });
        }
      } finally {
        await fsp.rm(scratch, { recursive: true, force: true });
      }
      const taken = conflicts.filter((c) => c.resolution === 'takeBackup').map((c) => c.path);
      const version = (v: FileVersion) =>
        `${humanBytes(v.size)}, ${v.modifiedAt}, sha256 ${v.sha256.slice(0, 12)}…`;
      const effects = [
        `${added.length} files added from the backup (absent from the live root); files only in the live root are left alone`,
        conflicts.length
          ? `${conflicts.length} conflicts (${conflicts.filter((c) => c.database).length} databases, never merged): ${policy === 'keepLive' ? 'the live version is KEPT (policy keepLive)' : "the backup's version REPLACES the live one, which is kept beside the root (policy takeBackup)"}`
          : 'no conflicts: no file differs between the backup and the live root',
        ...conflicts
          .slice(0, LISTED_CONFLICTS)
          .map(
            (c) =>
              `conflict ${c.path}${c.database ? ' (database)' : ''}: live ${version(c.live)}; backup ${version(c.backup)}`,
          ),
        ...(conflicts.length > LISTED_CONFLICTS
          ? [`and ${conflicts.length - LISTED_CONFLICTS} more conflicts (all in the status's plan facts)`]
          : []),
        'the way back: what the merge replaces is kept beside the root, and a stop puts everything back',
      ];
      return {
        backupId,
        write: [...added, ...taken],
        added,
        conflicts,
        plan: {
          summary: `merges backup ${backupId} into the live root: adds ${added.length} files; ${conflicts.length} conflicts, ${taken.length ? `${taken.length} replaced by the backup's version` : 'all kept live'}; removes nothing`,
          effects,
        },
      };
    },

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
