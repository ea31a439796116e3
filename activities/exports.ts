/**
 * Exports (procedure 003 §3.3 project-level, §3.4 module-level, §12): one project (`projects/<id>`:
 * its `project.db` and `map.db` files, tiles, assets and templates) or one module (`modules/<id>`:
 * its module data, settings and `module.db`) of a target's root, written as a self-contained,
 * encrypted, signed archive into one of the target's named export destinations — a scoped
 * mini-backup: databases snapshotted with the Online Backup API, every file's SHA-256, a manifest that
 * says it is an export and of what, the archive written atomically with its sidecar, then read back.
 * Imports are in imports.ts.
 */
import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { formatBytes } from '../common/bytes';
import type { LifeboatConfig } from '../config';
import { backupTarget, type BackupTarget } from './backupShared';
import { invalidInput, stopFailure } from './errors';
import {
  exportDestination,
  readExport,
  SCOPE_FOLDERS,
  SCOPE_ID,
  type ExportScope,
  type ExportSidecar,
  type ScopeKind,
} from './exportShared';
import { writeArchive, type EntryDigest, type Manifest, type SourceEntry } from './lib/archive';
import { manifestFile } from './lib/manifest';
import { activitySignal, heartbeater } from './lib/context';
import { KeyError, encryptStream } from './lib/crypto';
import { exists, fsyncDir, hashingTransform } from './lib/files';
import { scanRoot, snapshotDatabase, type ScannedFile } from './lib/rootFiles';
import { archiveFile, parseSidecar, sidecarFile, sidecarOf, writeSidecar } from './lib/sidecar';
import { readSigningKey } from './lib/signing';

/** What an export run asks for: one project or one module, and a destination by name. */
export interface ExportRequest {
  project?: string;
  module?: string;
  /** A name in the target's `exports`. */
  to: string;
}

/** What `planExport` found: the scope, where it goes, and what it holds now. */
export interface ExportPlan extends ExportScope {
  destination: string;
  files: number;
  bytes: number;
  databases: string[];
}

export interface ExportSummary extends ExportScope {
  exportId: string;
  archive: string;
  sidecar: string;
  archiveSize: number;
  archiveSha256: string;
  files: number;
  bytes: number;
  databases: string[];
  signedBy?: string;
}

/** The target an export reads: a root of projects and modules (not Lifeboat's own stores). */
function exportingTarget(config: LifeboatConfig, name: string): BackupTarget {
  const target = backupTarget(config, name, ['root', 'repository', 'encryption']);
  if (target.sources)
    throw invalidInput(`target '${name}' holds Lifeboat's own stores: it has no projects or modules`);
  return target;
}

/** The scope a request names, checked against the root: an unknown id is bad input naming what exists. */
async function scopeOf(target: BackupTarget, request: ExportRequest): Promise<ExportScope> {
  const named = (['project', 'module'] as const).filter((k) => request[k] !== undefined);
  if (named.length !== 1)
    throw invalidInput('input: give exactly one of project and module (the one project or module to export)');
  const scope: ScopeKind = named[0];
  const id = request[scope]!;
  const folder = path.join(target.root, SCOPE_FOLDERS[scope]);
  const present = (await exists(folder))
    ? (await fsp.readdir(folder, { withFileTypes: true }))
        .filter((e) => e.isDirectory())
        .map((e) => e.name)
        .sort()
    : [];
  if (!SCOPE_ID.test(id) || !present.includes(id))
    throw invalidInput(
      `input.${scope}: target '${target.name}' has no ${scope} '${id}'; its ${scope}s (${SCOPE_FOLDERS[scope]}/ under ${target.root}): ${present.join(', ') || 'none'}`,
    );
  return { scope, id, path: `${SCOPE_FOLDERS[scope]}/${id}` };
}

/** The scope's files, with paths relative to the root; symlinks and special files STOP (scanRoot). */
async function scopeFiles(target: BackupTarget, scope: ExportScope): Promise<ScannedFile[]> {
  const files = await scanRoot(path.join(target.root, ...scope.path.split('/')));
  return files.map((f) => ({ ...f, path: `${scope.path}/${f.path}` }));
}

function summaryOf(
  sidecar: ExportSidecar,
  dir: string,
  databases: string[],
  signedBy?: string,
): ExportSummary {
  return {
    ...sidecar.export,
    exportId: sidecar.backupId,
    archive: archiveFile(dir, sidecar.backupId),
    sidecar: sidecarFile(dir, sidecar.backupId),
    archiveSize: sidecar.archiveSize,
    archiveSha256: sidecar.archiveSha256,
    files: sidecar.files,
    bytes: sidecar.bytes,
    databases,
    ...(signedBy ? { signedBy } : {}),
  };
}

export function createExportActivities(config: LifeboatConfig) {
  return {
    /** Checks the request against the config and the root (read-only): the scope and its destination. */
    async planExport(targetName: string, request: ExportRequest): Promise<ExportPlan> {
      const target = exportingTarget(config, targetName);
      const destination = exportDestination(target, request.to, 'input.to');
      const scope = await scopeOf(target, request);
      const files = await scopeFiles(target, scope);
      if (files.length === 0)
        throw invalidInput(`input.${scope.scope}: ${scope.scope} '${scope.id}' holds no files to export`);
      return {
        ...scope,
        destination,
        files: files.length,
        bytes: files.reduce((n, f) => n + f.size, 0),
        databases: files.filter((f) => f.sqlite).map((f) => f.path),
      };
    },

    /**
     * Snapshots the scope and writes the export atomically (temp, fsync, rename, fsync the folder),
     * then its sidecar and signature. Repeated after a crash once the sidecar is written, it returns
     * what was written.
     */
    async writeExport(
      targetName: string,
      options: ExportRequest & { exportId: string; createdBy: string },
    ): Promise<ExportSummary> {
      const target = exportingTarget(config, targetName);
      const dir = exportDestination(target, options.to, 'input.to');
      const { exportId } = options;
      const final = archiveFile(dir, exportId);
      if ((await exists(final)) && (await exists(sidecarFile(dir, exportId)))) {
        const done = parseSidecar(await fsp.readFile(sidecarFile(dir, exportId)));
        if ('sidecar' in done) return summaryOf(done.sidecar as ExportSidecar, dir, []);
      }
      const scope = await scopeOf(target, options);
      const files = await scopeFiles(target, scope);
      // A signing key that cannot sign stops the export before the long write, not after it.
      if (target.encryption.signingKey)
        await readSigningKey(
          target.encryption.signingKey,
          target.encryption.signingKeyPassphraseEnv,
          'encryption',
        ).catch((err: unknown) => {
          throw err instanceof KeyError ? stopFailure('KeyProblem', err.message) : err;
        });
      await fsp.mkdir(dir, { recursive: true });
      // Database snapshots are taken beside the root (its file system), never on the destination.
      const work = `${target.root}.lifeboat-work-${exportId}`;
      const partial = path.join(dir, `.${exportId}.lbk.partial`);
      const beat = heartbeater();
      await fsp.rm(work, { recursive: true, force: true });
      await fsp.mkdir(work, { recursive: true });
      try {
        const sources: SourceEntry[] = [];
        for (const [i, f] of files.entries()) {
          beat({ phase: 'snapshot', files: i, total: files.length });
          if (!f.sqlite) {
            sources.push({ path: f.path, kind: 'file', source: f.abs, mode: f.mode, mtimeMs: f.mtimeMs });
            continue;
          }
          const snap = path.join(work, `${i}.db`);
          await snapshotDatabase(f.abs, snap, () => beat({ phase: 'snapshot', current: f.path }));
          sources.push({ path: f.path, kind: 'sqlite', source: snap, mode: f.mode, mtimeMs: f.mtimeMs });
        }
        const estimate = (await Promise.all(sources.map((s) => fsp.stat(s.source)))).reduce(
          (n, st) => n + st.size,
          0,
        );
        const stats = await fsp.statfs(dir);
        const free = stats.bavail * stats.bsize;
        const needed = estimate + 16 * 1024 * 1024;
        if (free < needed)
          throw stopFailure(
            'DiskSpace',
            `not enough space in ${dir}: the export needs up to ${formatBytes(needed, 'MiB')} (${formatBytes(estimate, 'MiB')} of data and a margin), ${formatBytes(free, 'MiB')} is free`,
          );
        let manifest: Manifest | undefined;
        const manifestFor = (digests: EntryDigest[]): Manifest =>
          (manifest = {
            specVersion: 1,
            backupId: exportId,
            kind: 'full',
            target: targetName,
            createdAt: new Date().toISOString(),
            createdBy: options.createdBy,
            engineVersion: target.engineVersion ?? 'unversioned',
            storageSpecVersion: target.storageSpecVersion ?? '1.0.0',
            modules: target.modules ?? [],
            files: digests.map((d) => manifestFile(d, exportId, undefined)),
            deleted: [],
            export: scope,
          });
        let manifestEntry = { sha256: '', size: 0 };
        const plain = writeArchive(
          sources,
          manifestFor,
          (p) => beat({ phase: 'archive', files: p.files, total: sources.length, bytes: p.bytes }),
          (written) => (manifestEntry = written),
        );
        const hasher = hashingTransform();
        await pipeline(
          await encryptStream(plain, target.encryption),
          hasher.transform,
          fs.createWriteStream(partial),
          { signal: activitySignal() },
        );
        const handle = await fsp.open(partial, 'r+');
        await handle.sync();
        await handle.close();
        await fsp.rename(partial, final);
        await fsyncDir(dir);
        const sidecar: ExportSidecar = {
          ...sidecarOf(
            manifest!,
            { file: final, ...hasher.digest() },
            manifestEntry.sha256,
            target.encryption,
          ),
          export: scope,
        };
        const { signedBy } = await writeSidecar(dir, sidecar, target.encryption);
        return summaryOf(
          sidecar,
          dir,
          sources.filter((s) => s.kind === 'sqlite').map((s) => s.path),
          signedBy,
        );
      } catch (err) {
        if (err instanceof KeyError) throw stopFailure('KeyProblem', err.message);
        throw err;
      } finally {
        await fsp.rm(partial, { force: true });
        await fsp.rm(work, { recursive: true, force: true });
      }
    },

    /** Reads the export back completely (see `readExport`); any problem STOPs naming it. */
    async verifyExport(
      targetName: string,
      to: string,
      exportId: string,
    ): Promise<{ exportId: string; files: number; databases: { path: string; integrity: string }[] }> {
      const target = exportingTarget(config, targetName);
      const read = await readExport(target, exportDestination(target, to, 'input.to'), exportId);
      return { exportId, files: read.manifest.files.length, databases: read.databases };
    },
  };
}
