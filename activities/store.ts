/**
 * Activities for a "store" target: a primary file with a `<primary>.meta` JSON sidecar that holds
 * its SHA-256 (`checksum`) and counts, and timestamped backups `<stem>_YYYYMMDD_HHMMSS<ext>`, each
 * with `<stem>_YYYYMMDD_HHMMSS.meta` (procedure 002).
 */
import { Context } from '@temporalio/activity';
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import type { LifeboatConfig, StoreSettings } from '../config';
import { stopFailure } from './errors';
import { exists, fsyncDir, hashFile, preserveCopy, stageCopy, writeFileAtomic } from './lib/files';
import { runIdTail } from '../common/tags';
import { sectionOf } from './targets';
import { heartbeat } from './lib/context';

export interface FileVerdict {
  /** File name (backups) or path (primary). */
  file: string;
  valid: boolean;
  problem?: string;
  sha256?: string;
  expectedSha256?: string;
  size?: number;
}

export interface BackupChoice {
  backup: string;
  takenAt: string;
  sha256: string;
  size: number;
  /** Every backup looked at, newest first, with why it was rejected. */
  checked: FileVerdict[];
}

export interface QuarantineResult {
  folder: string;
  files: string[];
}

export interface RestoreResult {
  primary: string;
  backup: string;
  sha256: string;
  size: number;
}

const SHA256_HEX = /^[0-9a-f]{64}$/;

function countOf(value: unknown): number | undefined {
  if (Array.isArray(value)) return value.length;
  if (typeof value === 'object' && value !== null) return Object.keys(value).length;
  return undefined;
}

/**
 * Checks a store file against its sidecar: the sidecar exists and parses and holds a SHA-256, the
 * file's SHA-256 matches it, a JSON file parses, and `node_count`/`edge_count` (when present) match.
 */
export async function inspectStoreFile(file: string, metaFile: string, label = file): Promise<FileVerdict> {
  const verdict = (problem: string, extra: Partial<FileVerdict> = {}): FileVerdict => ({
    file: label,
    valid: false,
    problem,
    ...extra,
  });
  if (!(await exists(file))) return verdict('the file is missing');
  const { sha256, size } = await hashFile(file);
  let metaText: string;
  try {
    metaText = await fsp.readFile(metaFile, 'utf8');
  } catch {
    return verdict(`its checksum sidecar ${path.basename(metaFile)} is missing`, { sha256, size });
  }
  let meta: Record<string, unknown>;
  try {
    meta = JSON.parse(metaText) as Record<string, unknown>;
  } catch {
    return verdict(`its checksum sidecar ${path.basename(metaFile)} is not valid JSON`, { sha256, size });
  }
  const expected = typeof meta.checksum === 'string' ? meta.checksum.toLowerCase() : undefined;
  if (!expected || !SHA256_HEX.test(expected)) {
    return verdict(`its sidecar ${path.basename(metaFile)} holds no SHA-256 "checksum"`, { sha256, size });
  }
  if (expected !== sha256) {
    return verdict(`checksum mismatch: expected ${expected.slice(0, 16)}…, found ${sha256.slice(0, 16)}…`, {
      sha256,
      size,
      expectedSha256: expected,
    });
  }
  if (path.extname(file).toLowerCase() === '.json') {
    let data: Record<string, unknown>;
    try {
      data = JSON.parse(await fsp.readFile(file, 'utf8')) as Record<string, unknown>;
    } catch {
      return verdict('the file is not valid JSON', { sha256, size, expectedSha256: expected });
    }
    for (const [metaKey, dataKey] of [
      ['node_count', 'nodes'],
      ['edge_count', 'edges'],
    ] as const) {
      const want = meta[metaKey];
      const got = countOf(data?.[dataKey]);
      if (typeof want === 'number' && got !== undefined && want !== got) {
        return verdict(`${metaKey} is ${want} in the sidecar but the file holds ${got} ${dataKey}`, {
          sha256,
          size,
          expectedSha256: expected,
        });
      }
    }
  }
  return { file: label, valid: true, sha256, size, expectedSha256: expected };
}

/** The backups of a store, newest first by the timestamp in their names. */
export async function listBackups(
  store: StoreSettings,
): Promise<{ name: string; takenAt: string; file: string; meta: string }[]> {
  const { name: stem, ext } = path.parse(store.primary);
  const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const pattern = new RegExp(
    `^${escape(stem)}_(\\d{4})(\\d{2})(\\d{2})_(\\d{2})(\\d{2})(\\d{2})${escape(ext)}$`,
  );
  let names: string[];
  try {
    names = await fsp.readdir(store.backups);
  } catch {
    return [];
  }
  const backups = [];
  for (const name of names) {
    const m = pattern.exec(name);
    if (!m) continue;
    const takenAt = `${m[1]}-${m[2]}-${m[3]}T${m[4]}:${m[5]}:${m[6]}`;
    const base = name.slice(0, -ext.length);
    backups.push({
      name,
      takenAt,
      file: path.join(store.backups, name),
      meta: path.join(store.backups, `${base}.meta`),
    });
  }
  return backups.sort((a, b) => (a.takenAt < b.takenAt ? 1 : a.takenAt > b.takenAt ? -1 : 0));
}

function runTag(): string {
  try {
    const runId = Context.current().info.workflowExecution?.runId;
    return runId ? runIdTail(runId) : `${process.pid}`;
  } catch {
    return `${process.pid}`;
  }
}

export function createStoreActivities(config: LifeboatConfig) {
  return {
    /**
     * Verifies the primary against its sidecar. Returns the verdict; with `require`, a primary that
     * is not intact is an IntegrityFailure (a STOP).
     */
    async verifyPrimary(targetName: string, options: { require?: boolean } = {}): Promise<FileVerdict> {
      const store = sectionOf(config, targetName, 'store');
      const verdict = await inspectStoreFile(store.primary, `${store.primary}.meta`);
      if (options.require && !verdict.valid) {
        throw stopFailure(
          'IntegrityFailure',
          `the primary ${store.primary} is not intact: ${verdict.problem}`,
        );
      }
      return verdict;
    },

    /** Verifies backups newest first and returns the first valid one; none valid is a STOP. */
    async findValidBackup(targetName: string): Promise<BackupChoice> {
      const store = sectionOf(config, targetName, 'store');
      const backups = await listBackups(store);
      const { name: stem, ext } = path.parse(store.primary);
      if (backups.length === 0) {
        throw stopFailure(
          'NoValidBackup',
          `no backups in ${store.backups} (looked for ${stem}_YYYYMMDD_HHMMSS${ext}); place a backup there and retry, or stop`,
        );
      }
      const checked: FileVerdict[] = [];
      for (const [index, backup] of backups.entries()) {
        heartbeat({ checked: index, total: backups.length, current: backup.name });
        const verdict = await inspectStoreFile(backup.file, backup.meta, backup.name);
        checked.push(verdict);
        if (verdict.valid) {
          return {
            backup: backup.name,
            takenAt: backup.takenAt,
            sha256: verdict.sha256!,
            size: verdict.size!,
            checked,
          };
        }
      }
      const reasons = checked.map((v) => `${v.file}: ${v.problem}`).join('; ');
      throw stopFailure(
        'NoValidBackup',
        `no valid backup among ${checked.length} in ${store.backups} (${reasons}); place a valid backup there and retry, or stop`,
        { checked },
      );
    },

    /**
     * Keeps the corrupt primary and its sidecar in a quarantine folder named after the incident.
     * The primary itself stays in place until `restoreBackup` replaces it atomically.
     */
    async quarantinePrimary(targetName: string, incident: string): Promise<QuarantineResult> {
      const store = sectionOf(config, targetName, 'store');
      const folder = path.join(store.quarantine, incident.replace(/[^A-Za-z0-9._-]/g, '_'));
      const files: string[] = [];
      for (const file of [store.primary, `${store.primary}.meta`]) {
        if (!(await exists(file))) continue;
        const dest = path.join(folder, path.basename(file));
        if (await exists(dest)) {
          // A retry after a crash: keep what was quarantined first if it is the same file.
          const [a, b] = await Promise.all([hashFile(file), hashFile(dest)]);
          if (a.sha256 !== b.sha256) {
            throw stopFailure(
              'AmbiguousTarget',
              `${dest} already holds a different file; move it aside and retry`,
            );
          }
        } else {
          await preserveCopy(file, dest);
        }
        files.push(dest);
      }
      return { folder, files };
    },

    /**
     * Compensation for `restoreBackup`: puts the quarantined primary and sidecar back (atomically)
     * if the primary no longer matches them. Harmless when nothing was restored.
     */
    async undoRestore(targetName: string, quarantineFolder: string): Promise<{ putBack: string[] }> {
      const store = sectionOf(config, targetName, 'store');
      const putBack: string[] = [];
      for (const file of [store.primary, `${store.primary}.meta`]) {
        const kept = path.join(quarantineFolder, path.basename(file));
        if (!(await exists(kept))) continue;
        if ((await exists(file)) && (await hashFile(file)).sha256 === (await hashFile(kept)).sha256) continue;
        const staged = await stageCopy(kept, file, `undo-${runTag()}`);
        await fsp.rename(staged.tmp, file);
        await fsyncDir(path.dirname(file));
        putBack.push(file);
      }
      return { putBack };
    },

    /**
     * Replaces the primary with a backup atomically and writes a fresh sidecar: the backup is copied
     * beside the primary, its checksum checked against the one verified before, then renamed over.
     */
    async restoreBackup(
      targetName: string,
      backupName: string,
      expectedSha256: string,
      restoredBy: string,
    ): Promise<RestoreResult> {
      const store = sectionOf(config, targetName, 'store');
      const backup = (await listBackups(store)).find((b) => b.name === backupName);
      if (!backup)
        throw stopFailure('NoValidBackup', `backup ${backupName} is no longer in ${store.backups}`);
      const tag = runTag();
      const staged = await stageCopy(backup.file, store.primary, tag);
      try {
        if (staged.sha256 !== expectedSha256) {
          throw stopFailure(
            'ChecksumMismatch',
            `backup ${backupName} changed since it was verified: expected ${expectedSha256.slice(0, 16)}…, copied ${staged.sha256.slice(0, 16)}…`,
          );
        }
        heartbeat({ bytes: staged.size, file: backupName });
        let backupMeta: Record<string, unknown> = {};
        try {
          backupMeta = JSON.parse(await fsp.readFile(backup.meta, 'utf8')) as Record<string, unknown>;
        } catch {
          // Verified moments ago; if it vanished since, the fresh sidecar still has the checksum.
        }
        const meta = {
          ...backupMeta,
          timestamp: new Date().toISOString(),
          checksum: staged.sha256,
          saved_by: `Lifeboat (${restoredBy})`,
          restored_from: backupName,
        };
        await fsp.rename(staged.tmp, store.primary);
        await fsyncDir(path.dirname(store.primary));
        await writeFileAtomic(`${store.primary}.meta`, `${JSON.stringify(meta, null, 2)}\n`, tag);
      } finally {
        await fsp.rm(staged.tmp, { force: true });
      }
      return { primary: store.primary, backup: backupName, sha256: staged.sha256, size: staged.size };
    },
  };
}
