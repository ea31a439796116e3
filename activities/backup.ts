/**
 * Backups of a target's storage root (procedure 003, DESIGN §5): the target's lock and commands,
 * full and incremental backups into an encrypted archive written atomically with its signed sidecar,
 * verification, retention and the offsite copy (backupCopies.ts). Memory use does not depend on the
 * size of a file or of a backup: everything streams. The restore protocol is in restore.ts,
 * adoption in adopt.ts.
 */
import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { formatBytes } from '../common/bytes';
import type { LifeboatConfig } from '../config';
import {
  activityIds,
  backupTarget,
  catalogNameOf,
  refuseInDrill,
  resolveBackupId,
  type Catalogs,
} from './backupShared';
import { createVerifier, type VerifyOptions, type VerifyReport } from './verification';
import { createBackupCopyActivities } from './backupCopies';
import { stopFailure } from './errors';
import {
  writeArchive,
  type DatabaseStamp,
  type EntryDigest,
  type Manifest,
  type ManifestFile,
  type SourceEntry,
} from './lib/archive';
import { manifestDigest, type CatalogEntry } from './lib/catalog';
import { manifestFile } from './lib/manifest';
import { runCheckedCommand, type CommandResult } from './lib/commands';
import { activitySignal, heartbeater } from './lib/context';
import { KeyError, encryptStream } from './lib/crypto';
import { exists, flushedWhileWritten, fsyncDir, hashFile, hashingTransform, WriteBehind } from './lib/files';
import { acquireLock, breakLock, releaseLock, type LockHolder, type LockResult } from './lib/lock';
import { scanTarget, snapshotDatabase, type KnownFiles } from './lib/rootFiles';
import { archiveFile, catalogEntryOf, sidecarOf, writeSidecar } from './lib/sidecar';
import { readSigningKey } from './lib/signing';
import { findTarget } from './targets';

export type { VerifyReport };

const ENGINE_SPEC_VERSION = '1.0.0';

export interface BackupSummary {
  backupId: string;
  kind: 'full' | 'incremental';
  parent?: string;
  archive: string;
  archiveSize: number;
  archiveSha256: string;
  manifestSha256: string;
  files: number;
  bytes: number;
  storedFiles: number;
  storedBytes: number;
  deleted: number;
  databases: string[];
}

function sameStamp(a: DatabaseStamp | undefined, b: DatabaseStamp): boolean {
  return (
    !!a &&
    a.size === b.size &&
    a.mtimeMs === b.mtimeMs &&
    a.walSize === b.walSize &&
    a.walMtimeMs === b.walMtimeMs
  );
}

function mib(bytes: number): string {
  return formatBytes(bytes, 'MiB');
}

export function createBackupActivities(config: LifeboatConfig, catalogs: Catalogs) {
  const verifyOne = createVerifier(catalogs);
  // Backups, retention and offsite copies are never made by a drill (refuseInDrill): the main catalog.
  const catalog = catalogs.main;
  return {
    ...createBackupCopyActivities(config, catalogs),

    /**
     * Takes the target's lock. Held by a dead run: returned as stale. Held by a live one: a STOP, or
     * with `onBusy: 'skip'` (scheduled runs) returned, so that the run can end without a responder.
     */
    async acquireTargetLock(
      targetName: string,
      purpose: string,
      onBusy: 'stop' | 'skip' = 'stop',
    ): Promise<LockResult> {
      const target = backupTarget(config, targetName, ['repository']);
      const result = await acquireLock(target.repository, { ...activityIds(), purpose });
      if (!result.acquired && !result.stale && onBusy === 'stop')
        throw stopFailure('LockHeld', result.problem);
      return result;
    },

    async releaseTargetLock(targetName: string): Promise<boolean> {
      const target = backupTarget(config, targetName, ['repository']);
      const ids = activityIds();
      return releaseLock(target.repository, ids.workflowId, ids.runId);
    },

    /** Breaks a stale lock after a responder approved it; the old lock file is kept beside. */
    async breakTargetLock(targetName: string, holder: LockHolder | undefined): Promise<string | undefined> {
      const target = backupTarget(config, targetName, ['repository']);
      return breakLock(target.repository, holder);
    },

    /** Runs a command named in the target's config; an unconfigured one is skipped. */
    async runTargetCommand(
      targetName: string,
      name: string,
    ): Promise<CommandResult | { skipped: true; name: string }> {
      const target = findTarget(config, targetName);
      const command = target.commands[name];
      if (!command) return { skipped: true, name };
      // lifeboat-self's dump command writes the file its backup captures: its folder is made first.
      if (name === 'quiesce' && target.sources)
        for (const file of Object.values(target.sources))
          await fsp.mkdir(path.dirname(file), { recursive: true });
      return runCheckedCommand(`command '${name}'`, command);
    },

    /** Snapshots the root and writes one encrypted archive atomically; see the module comment. */
    async writeBackup(
      targetName: string,
      options: { backupId: string; kind: 'full' | 'incremental'; createdBy: string; rehash?: boolean },
    ): Promise<BackupSummary> {
      const target = backupTarget(config, targetName, ['root', 'repository', 'encryption']);
      refuseInDrill(target, 'a backup');
      const { backupId, kind } = options;
      const final = archiveFile(target.repository, backupId);
      const done = catalog.get(backupId);
      if (done && (await exists(final))) return summaryOf(done, catalog.manifest(backupId)!);
      await fsp.mkdir(target.repository, { recursive: true });

      let parentManifest: Manifest | undefined;
      if (kind === 'incremental') {
        const parent = catalog.list(targetName)[0];
        if (!parent)
          throw stopFailure(
            'MissingManifest',
            `target '${targetName}' has no backup to be the parent of an incremental; run fullBackup first`,
          );
        parentManifest = catalog.manifest(parent.backupId);
      }
      const previous = new Map((parentManifest?.files ?? []).map((f) => [f.path, f]));

      // Files unchanged since the parent keep its word on which are databases (rehash looks again).
      const known: KnownFiles = new Map(
        options.rehash
          ? []
          : (parentManifest?.files ?? []).map(
              (f): [string, { size: number; mtimeMs: number; sqlite: boolean }] =>
                f.kind === 'sqlite'
                  ? [f.path, { size: f.source?.size ?? -1, mtimeMs: f.source?.mtimeMs ?? -1, sqlite: true }]
                  : [f.path, { size: f.size, mtimeMs: f.mtimeMs, sqlite: false }],
            ),
      );
      const files = await scanTarget(target, known);
      // A signing key that cannot sign stops the backup before the long write, not after it.
      if (target.encryption.signingKey)
        await readSigningKey(
          target.encryption.signingKey,
          target.encryption.signingKeyPassphraseEnv,
          'encryption',
        );
      const work = path.join(target.repository, `.lifeboat-work-${backupId}`);
      const beat = heartbeater();
      await fsp.rm(work, { recursive: true, force: true });
      await fsp.mkdir(work, { recursive: true });
      const partial = path.join(target.repository, `.${backupId}.lbk.partial`);
      try {
        // Databases first: consistent snapshots taken with the Online Backup API.
        const sources: SourceEntry[] = [];
        const stamps = new Map<string, DatabaseStamp>();
        const reused: ManifestFile[] = [];
        // What the archive will hold, from the scan's sizes and each snapshot's: a stat per file at
        // once (100,000 promises) had cost over 100 MB.
        let storedEstimate = 0;
        for (const [i, f] of files.entries()) {
          beat({ phase: 'snapshot', files: i, total: files.length });
          const before = previous.get(f.path);
          if (f.sqlite) {
            // A database whose file and WAL are unchanged since the parent needs no new snapshot.
            const wal = await fsp.lstat(`${f.abs}-wal`).catch(() => undefined);
            const stamp: DatabaseStamp = {
              size: f.size,
              mtimeMs: f.mtimeMs,
              walSize: wal?.size ?? 0,
              walMtimeMs: wal?.mtimeMs ?? 0,
            };
            stamps.set(f.path, stamp);
            if (before?.kind === 'sqlite' && !options.rehash && sameStamp(before.source, stamp)) {
              reused.push(manifestFile(before, before.storedIn, stamp, f));
              continue;
            }
            const snap = path.join(work, `${i}.db`);
            await snapshotDatabase(f.abs, snap, () =>
              beat({ phase: 'snapshot', files: i, total: files.length, current: f.path }),
            );
            // Only an incremental compares the snapshot with its parent's; a full stores it as it is.
            // A snapshot of another size differs: it is not read a second time to say so.
            const size = (await fsp.stat(snap)).size;
            const same =
              before?.kind === 'sqlite' &&
              size === before.size &&
              (await hashFile(snap)).sha256 === before.sha256;
            if (same) reused.push(manifestFile(before, before.storedIn, stamp, f));
            else {
              sources.push({
                path: f.path,
                kind: 'sqlite',
                source: snap,
                mode: f.mode,
                mtimeMs: f.mtimeMs,
                size,
              });
              storedEstimate += size;
            }
            continue;
          }
          // Unchanged size and mtime: the parent's hash stands (rehash: true reads every file).
          if (
            before &&
            !options.rehash &&
            before.size === f.size &&
            before.mtimeMs === f.mtimeMs &&
            before.kind === 'file'
          ) {
            reused.push(manifestFile(before, before.storedIn, before.source, { mode: f.mode }));
            continue;
          }
          sources.push({
            path: f.path,
            kind: 'file',
            source: f.abs,
            mode: f.mode,
            mtimeMs: f.mtimeMs,
            size: f.size,
          });
          storedEstimate += f.size;
        }
        // 100,000 files' scan, no longer needed while the archive is written.
        files.length = 0;
        const stats = await fsp.statfs(target.repository);
        const free = stats.bavail * stats.bsize;
        const needed = storedEstimate + 64 * 1024 * 1024;
        if (free < needed) {
          throw stopFailure(
            'DiskSpace',
            `not enough space in ${target.repository}: the backup needs up to ${mib(needed)} (${mib(storedEstimate)} of data and a margin), ${mib(free)} is free`,
          );
        }

        const createdAt = new Date().toISOString();
        let manifest: Manifest | undefined;
        const manifestFor = (digests: EntryDigest[]): Manifest => {
          const stored = digests.map((d) => manifestFile(d, backupId, stamps.get(d.path)));
          // A stored file whose bytes equal the parent's keeps pointing at the parent's copy: it stays restorable either way.
          const all = [...stored, ...reused].sort((a, b) => (a.path < b.path ? -1 : 1));
          const present = new Set(all.map((f) => f.path));
          manifest = {
            specVersion: 1,
            backupId,
            kind,
            parent: parentManifest?.backupId,
            target: targetName,
            createdAt,
            createdBy: options.createdBy,
            engineVersion: target.engineVersion ?? 'unversioned',
            storageSpecVersion: target.storageSpecVersion ?? ENGINE_SPEC_VERSION,
            modules: target.modules ?? [],
            files: all,
            deleted: [...previous.keys()].filter((p) => !present.has(p)).sort(),
          } as Manifest;
          return manifest;
        };
        let manifestEntry = { sha256: '', size: 0 };
        const plain = writeArchive(
          sources,
          manifestFor,
          (p) =>
            beat({
              phase: 'archive',
              files: p.files,
              total: sources.length,
              bytes: p.bytes,
              totalBytes: storedEstimate,
            }),
          (written) => (manifestEntry = written),
        );
        const cipher = await encryptStream(plain, target.encryption);
        const hasher = hashingTransform();
        const behind = new WriteBehind();
        try {
          await pipeline(
            cipher,
            hasher.transform,
            flushedWhileWritten(partial, behind),
            fs.createWriteStream(partial),
            { signal: activitySignal() },
          );
        } catch (err) {
          await behind.settle().catch(() => undefined);
          throw err;
        }
        await behind.settle();
        const handle = await fsp.open(partial, 'r+');
        await handle.sync();
        await handle.close();
        await fsp.rename(partial, final);
        await fsyncDir(target.repository);
        const archive = hasher.digest();
        const m = manifest!;
        const sidecar = sidecarOf(m, { file: final, ...archive }, manifestEntry.sha256, target.encryption);
        const { signedBy } = await writeSidecar(target.repository, sidecar, target.encryption);
        catalog.record(catalogEntryOf(sidecar, final, 'made', signedBy), m);
        return summaryOf(catalog.get(backupId)!, m);
      } catch (err) {
        if (err instanceof KeyError) throw stopFailure('KeyProblem', err.message);
        throw err;
      } finally {
        await fsp.rm(partial, { force: true });
        await fsp.rm(work, { recursive: true, force: true });
      }
    },

    /** Reads a backup back completely; with `require`, a failure is a STOP naming it. */
    async verifyBackup(
      targetName: string,
      backupId: string,
      options: { require?: boolean } & VerifyOptions = {},
    ): Promise<VerifyReport> {
      const target = backupTarget(config, targetName, ['repository', 'encryption']);
      const report = await verifyOne(target, backupId, undefined, options);
      if (!report.ok && options.require)
        throw stopFailure(
          report.errorType ?? 'IntegrityFailure',
          report.problem ?? `backup ${backupId} failed verification`,
        );
      return report;
    },

    /** Verifies one backup, the latest, or all of a target's; any failure is a STOP naming each. */
    async verifyBackups(
      targetName: string,
      which: string,
      options: VerifyOptions = {},
    ): Promise<VerifyReport[]> {
      const target = backupTarget(config, targetName, ['repository', 'encryption']);
      const listed = catalogs.of(target);
      const ids =
        which === 'all'
          ? listed
              .list(catalogNameOf(target))
              .map((e) => e.backupId)
              .reverse()
          : [resolveBackupId(listed, catalogNameOf(target), which)];
      if (ids.length === 0)
        throw stopFailure('MissingManifest', `target '${targetName}' has no backups in the catalog`);
      const reports = [];
      for (const id of ids) reports.push(await verifyOne(target, id, undefined, options));
      const failed = reports.filter((r) => !r.ok);
      if (failed.length) {
        throw stopFailure(
          'IntegrityFailure',
          `${failed.length} of ${reports.length} backups failed verification: ${failed.map((r) => r.problem).join('; ')}`,
          { reports },
        );
      }
      return reports;
    },

    /** The id of the target's newest backup. */
    async latestBackupId(targetName: string): Promise<string> {
      const target = findTarget(config, targetName);
      return resolveBackupId(catalogs.of(target), catalogNameOf(target), 'latest');
    },
  };
}

function summaryOf(entry: CatalogEntry, manifest: Manifest): BackupSummary {
  const stored = manifest.files.filter((f) => f.storedIn === manifest.backupId);
  return {
    backupId: entry.backupId,
    kind: entry.kind,
    parent: entry.parent ?? undefined,
    archive: entry.archive,
    archiveSize: entry.archiveSize,
    archiveSha256: entry.archiveSha256,
    manifestSha256: manifestDigest(entry, manifest),
    files: manifest.files.length,
    bytes: manifest.files.reduce((n, f) => n + f.size, 0),
    storedFiles: stored.length,
    storedBytes: stored.reduce((n, f) => n + f.size, 0),
    deleted: manifest.deleted.length,
    databases: manifest.files.filter((f) => f.kind === 'sqlite').map((f) => f.path),
  };
}
