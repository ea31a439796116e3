/**
 * Backups of a target's storage root (procedure 003, DESIGN §5): full and incremental backups into
 * an encrypted archive written atomically, verification, and the restore protocol (staging beside
 * the root, swap by rename, verify, keep the previous root). Memory use does not depend on the size
 * of a file or of a backup: everything streams.
 */
import { ApplicationFailure, Context } from '@temporalio/activity';
import Database from 'better-sqlite3';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { StopClass } from '../common/errors';
import type { LifeboatConfig, TargetConfig } from '../worker/config';
import { invalidInput, stopFailure } from './errors';
import {
  ArchiveError,
  CHUNK_SIZE,
  pathProblem,
  readArchive,
  writeArchive,
  type EntryDigest,
  type Manifest,
  type DatabaseStamp,
  type ManifestFile,
  type SourceEntry,
} from './lib/archive';
import { Catalog } from './lib/catalog';
import { runCheckedCommand, type CommandResult } from './lib/commands';
import { KeyError, decryptStream, encryptStream, type EncryptionSettings } from './lib/crypto';
import { exists, fsyncDir, hashFile, writeFileAtomic } from './lib/files';
import { acquireLock, breakLock, releaseLock, type LockHolder, type LockResult } from './lib/lock';
import { planRetention, type RetentionPlan } from './lib/retention';
import { sandboxPath } from './lib/sandbox';
import { findTarget } from './targets';
import { activitySignal, heartbeater } from './lib/context';

const SQLITE_HEADER = Buffer.from('SQLite format 3\0');
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

export interface VerifyReport {
  backupId: string;
  ok: boolean;
  problem?: string;
  /** The STOP class of the problem. */
  errorType?: StopClass;
  files: number;
  bytes: number;
  databases: { path: string; integrity: string }[];
}

interface ScannedFile {
  path: string;
  abs: string;
  size: number;
  mode: number;
  mtimeMs: number;
  sqlite: boolean;
}

// ---------- helpers ----------

/** Runs tasks with at most `limit` in flight; `add` waits for a free place, `drain` for all (first error wins). */
class Bounded {
  private readonly running = new Set<Promise<void>>();
  private error: unknown;
  constructor(private readonly limit: number) {}

  async add(task: () => Promise<void>): Promise<void> {
    if (this.error) throw this.error;
    while (this.running.size >= this.limit) await Promise.race(this.running);
    const p: Promise<void> = task()
      .catch((err: unknown) => {
        this.error ??= err;
      })
      .finally(() => this.running.delete(p));
    this.running.add(p);
  }

  async drain(): Promise<void> {
    await Promise.all(this.running);
    if (this.error) throw this.error;
  }
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

function backupTarget(config: LifeboatConfig, name: string, needs: ('root' | 'repository' | 'encryption')[]) {
  const target = findTarget(config, name);
  const missing = needs.filter((k) => target[k] === undefined);
  if (missing.length)
    throw invalidInput(`target '${name}' has no ${missing.join(', ')} in the worker's config`);
  return target as TargetConfig & { root: string; repository: string; encryption: EncryptionSettings };
}

function activityIds(): { workflowId: string; runId: string } {
  const info = Context.current().info;
  return {
    workflowId: info.workflowExecution?.workflowId ?? 'unknown',
    runId: info.workflowExecution?.runId ?? 'unknown',
  };
}

/** Heartbeats at most once a second (progress for `lifeboat watch`, liveness for Temporal). */

function mib(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}

async function isSqlite(file: string, size: number): Promise<boolean> {
  if (size < 100) return false;
  const handle = await fsp.open(file, 'r');
  try {
    const buf = Buffer.alloc(16);
    await handle.read(buf, 0, 16, 0);
    return buf.equals(SQLITE_HEADER);
  } finally {
    await handle.close();
  }
}

/** Every regular file under the root; symlinks and special files are a STOP naming them. */
async function scanRoot(root: string): Promise<ScannedFile[]> {
  const files: ScannedFile[] = [];
  const refused: string[] = [];
  const walk = async (dir: string): Promise<void> => {
    const entries = await fsp.readdir(dir, { withFileTypes: true });
    // Look at a directory's entries a few dozen at a time: the file system answers in parallel.
    for (let i = 0; i < entries.length; i += 32) {
      await Promise.all(
        entries.slice(i, i + 32).map(async (entry) => {
          const abs = path.join(dir, entry.name);
          const rel = path.relative(root, abs).split(path.sep).join('/');
          if (entry.isDirectory()) return walk(abs);
          if (!entry.isFile()) {
            refused.push(`${rel} (${entry.isSymbolicLink() ? 'a symbolic link' : 'a special file'})`);
            return;
          }
          const problem = pathProblem(rel);
          if (problem) {
            refused.push(`${rel} (${problem})`);
            return;
          }
          const st = await fsp.lstat(abs);
          files.push({
            path: rel,
            abs,
            size: st.size,
            mode: st.mode & 0o7777,
            mtimeMs: st.mtimeMs,
            sqlite: await isSqlite(abs, st.size),
          });
        }),
      );
    }
  };
  if (!(await exists(root))) throw stopFailure('AmbiguousTarget', `the root ${root} does not exist`);
  await walk(root);
  if (refused.length) {
    throw stopFailure(
      'UnsupportedFile',
      `the root holds what a backup may not contain: ${refused.slice(0, 20).join(', ')}${refused.length > 20 ? ` and ${refused.length - 20} more` : ''}`,
    );
  }
  // A database's WAL and journal are captured by its snapshot.
  const dbs = new Set(files.filter((f) => f.sqlite).map((f) => f.path));
  return files
    .filter(
      (f) =>
        !['-wal', '-shm', '-journal'].some((s) => f.path.endsWith(s) && dbs.has(f.path.slice(0, -s.length))),
    )
    .sort((a, b) => (a.path < b.path ? -1 : 1));
}

async function snapshotDatabase(source: string, dest: string, onProgress: () => void): Promise<void> {
  await fsp.mkdir(path.dirname(dest), { recursive: true });
  const db = new Database(source, { readonly: true, fileMustExist: true });
  try {
    // The Online Backup API: a consistent copy even while the application writes.
    await db.backup(dest, {
      progress: () => {
        onProgress();
        return 25_000; // pages per step (about 100 MB): few round trips, still regular heartbeats
      },
    });
  } finally {
    db.close();
  }
}

function integrityOf(file: string): string {
  const db = new Database(file, { readonly: true, fileMustExist: true });
  try {
    const rows = db.pragma('integrity_check') as { integrity_check: string }[];
    return rows.map((r) => r.integrity_check).join('; ');
  } finally {
    db.close();
  }
}

function hashingTransform(): { transform: Transform; digest: () => { sha256: string; size: number } } {
  const hash = createHash('sha256');
  let size = 0;
  const transform = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      hash.update(chunk);
      size += chunk.length;
      cb(null, chunk);
    },
  });
  return { transform, digest: () => ({ sha256: hash.digest('hex'), size }) };
}

function archivePath(repository: string, backupId: string): string {
  return path.join(repository, `${backupId}.lbk`);
}

/** Opens a backup's archive and yields its plaintext, mapping key problems to a STOP. */
async function openArchive(file: string, encryption: EncryptionSettings, backupId: string) {
  if (!(await exists(file)))
    throw stopFailure('MissingManifest', `backup ${backupId}: the archive ${file} is missing`);
  try {
    return await decryptStream(fs.createReadStream(file), encryption);
  } catch (err) {
    if (err instanceof KeyError) throw stopFailure('KeyProblem', `backup ${backupId}: ${err.message}`);
    throw stopFailure('ChecksumMismatch', `backup ${backupId}: ${(err as Error).message}`);
  }
}

function archiveFailure(err: unknown, backupId: string): ApplicationFailure {
  if (err instanceof ApplicationFailure) return err;
  if (err instanceof ArchiveError) {
    const type =
      /manifest/.test(err.message) && !/differs|lists|holds/.test(err.message)
        ? 'MissingManifest'
        : 'ChecksumMismatch';
    return stopFailure(type, `backup ${backupId}: ${err.message}`);
  }
  if (err instanceof KeyError) return stopFailure('KeyProblem', `backup ${backupId}: ${err.message}`);
  const message = (err as Error).message ?? String(err);
  // OpenPGP reports tampering and truncation while the stream is read.
  return stopFailure(
    'ChecksumMismatch',
    `backup ${backupId} is damaged: the archive does not decrypt cleanly (${message.split('\n')[0]})`,
  );
}

/** The chain of a backup, oldest (the full) first. */
function chainOf(catalog: Catalog, backupId: string): string[] {
  const chain: string[] = [];
  for (let id: string | null = backupId; id;) {
    const entry = catalog.get(id);
    if (!entry)
      throw stopFailure(
        'MissingManifest',
        `backup ${id} is not in the catalog${chain.length ? ` (needed by ${chain[0]})` : ''}`,
      );
    if (entry.removedAt)
      throw stopFailure('MissingManifest', `backup ${id} was removed by retention but ${chain[0]} needs it`);
    chain.unshift(id);
    id = entry.parent;
  }
  return chain;
}

/** The name the catalog lists a target's backups under: a drill's derived target reads its base target's. */
function catalogNameOf(target: TargetConfig): string {
  return target.catalogName ?? target.name;
}

/** A catalogued archive as the target sees it: in a drill, the sandbox's copy of it. */
function archiveOf(target: TargetConfig, entry: { archive: string }): string {
  return target.sandbox ? sandboxPath(target.sandbox, entry.archive) : entry.archive;
}

/** Writes to the catalog by a drill's derived target would change production's records: refused. */
function refuseInDrill(target: TargetConfig, what: string): void {
  if (target.sandbox)
    throw invalidInput(
      `target '${target.name}' is a drill sandbox: ${what} would change the catalog of '${catalogNameOf(target)}', so a drill does not do it`,
    );
}

function resolveBackupId(catalog: Catalog, target: string, which: string): string {
  if (which !== 'latest') {
    const entry = catalog.get(which);
    if (!entry || entry.target !== target)
      throw invalidInput(`no backup '${which}' of target '${target}' in the catalog`);
    return which;
  }
  const latest = catalog.list(target)[0];
  if (!latest) throw stopFailure('MissingManifest', `target '${target}' has no backups in the catalog`);
  return latest.backupId;
}

// ---------- activities ----------

export function createBackupActivities(config: LifeboatConfig, catalog: Catalog) {
  /** Reads one archive completely, checking everything; databases are checked with integrity_check. */
  async function verifyOne(target: ReturnType<typeof backupTarget>, backupId: string): Promise<VerifyReport> {
    const entry = catalog.get(backupId);
    const file = entry ? archiveOf(target, entry) : archivePath(target.repository, backupId);
    const beat = heartbeater();
    const scratch = await fsp.mkdtemp(path.join(target.repository, `.lifeboat-verify-`));
    const databases: { path: string; integrity: string }[] = [];
    try {
      const plain = await openArchive(file, target.encryption, backupId);
      const result = await readArchive(
        plain,
        async (header) => {
          if (header.kind !== 'sqlite') return undefined;
          const dest = path.join(scratch, `${databases.length}.db`);
          const out = fs.createWriteStream(dest);
          return {
            write: (chunk) => new Promise<void>((res, rej) => out.write(chunk, (e) => (e ? rej(e) : res()))),
            close: async (digest) => {
              await new Promise<void>((res) => out.end(res));
              databases.push({ path: digest.path, integrity: integrityOf(dest) });
              await fsp.rm(dest, { force: true });
            },
          };
        },
        (p) =>
          beat({
            phase: 'verify',
            backupId,
            files: p.files,
            total: entry?.files,
            bytes: p.bytes,
            totalBytes: entry?.bytes,
          }),
      );
      const manifestSha = createHash('sha256').update(JSON.stringify(result.manifest)).digest('hex');
      const recorded = catalog.manifest(backupId);
      if (result.manifest.backupId !== backupId)
        throw new ArchiveError(`the manifest names backup ${result.manifest.backupId}, not ${backupId}`);
      if (recorded && createHash('sha256').update(JSON.stringify(recorded)).digest('hex') !== manifestSha) {
        throw new ArchiveError(
          "the archive's manifest differs from the one recorded when the backup was made (manifest edited)",
        );
      }
      const bad = databases.filter((d) => d.integrity !== 'ok');
      const report: VerifyReport = {
        backupId,
        ok: bad.length === 0,
        errorType: bad.length ? 'IntegrityFailure' : undefined,
        problem: bad.length
          ? `database integrity check failed: ${bad.map((d) => `${d.path}: ${d.integrity}`).join('; ')}`
          : undefined,
        files: result.entries.length,
        bytes: result.entries.reduce((n, e) => n + e.size, 0),
        databases,
      };
      // A drill verifies the sandbox's copy: production's record is left as it is.
      if (!target.sandbox) catalog.recordVerification(backupId, report.ok, report);
      return report;
    } catch (err) {
      const failure = archiveFailure(err, backupId);
      const report: VerifyReport = {
        backupId,
        ok: false,
        problem: failure.message,
        errorType: (failure.type ?? 'ChecksumMismatch') as StopClass,
        files: 0,
        bytes: 0,
        databases,
      };
      if (catalog.get(backupId) && !target.sandbox) catalog.recordVerification(backupId, false, report);
      return report;
    } finally {
      await fsp.rm(scratch, { recursive: true, force: true });
    }
  }

  return {
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
      const final = archivePath(target.repository, backupId);
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

      const files = await scanRoot(target.root);
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
              reused.push({ ...before, mode: f.mode, mtimeMs: f.mtimeMs, source: stamp });
              continue;
            }
            const snap = path.join(work, `${i}.db`);
            await snapshotDatabase(f.abs, snap, () =>
              beat({ phase: 'snapshot', files: i, total: files.length, current: f.path }),
            );
            // Only an incremental compares the snapshot with its parent's; a full stores it as it is.
            const same = before?.kind === 'sqlite' && (await hashFile(snap)).sha256 === before.sha256;
            if (same) reused.push({ ...before, mode: f.mode, mtimeMs: f.mtimeMs, source: stamp });
            else
              sources.push({ path: f.path, kind: 'sqlite', source: snap, mode: f.mode, mtimeMs: f.mtimeMs });
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
            reused.push({ ...before, mode: f.mode });
            continue;
          }
          sources.push({ path: f.path, kind: 'file', source: f.abs, mode: f.mode, mtimeMs: f.mtimeMs });
        }
        const storedEstimate = (await Promise.all(sources.map((s) => fsp.stat(s.source)))).reduce(
          (n, st) => n + st.size,
          0,
        );
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
          const stored: ManifestFile[] = digests.map((d) => ({
            ...d,
            storedIn: backupId,
            source: stamps.get(d.path),
          }));
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
        const plain = writeArchive(sources, manifestFor, (p) =>
          beat({
            phase: 'archive',
            files: p.files,
            total: sources.length,
            bytes: p.bytes,
            totalBytes: storedEstimate,
          }),
        );
        const cipher = await encryptStream(plain, target.encryption);
        const hasher = hashingTransform();
        await pipeline(cipher, hasher.transform, fs.createWriteStream(partial), {
          signal: activitySignal(),
        });
        const handle = await fsp.open(partial, 'r+');
        await handle.sync();
        await handle.close();
        await fsp.rename(partial, final);
        await fsyncDir(target.repository);
        const archive = hasher.digest();
        const m = manifest!;
        const manifestSha256 = createHash('sha256').update(JSON.stringify(m)).digest('hex');
        const index = {
          backupId,
          target: targetName,
          kind,
          parent: m.parent ?? null,
          createdAt,
          archiveSha256: archive.sha256,
          archiveSize: archive.size,
          manifestSha256,
        };
        await writeFileAtomic(
          path.join(target.repository, `${backupId}.json`),
          `${JSON.stringify(index, null, 2)}\n`,
        );
        const entry = {
          backupId,
          target: targetName,
          kind,
          parent: m.parent ?? null,
          createdAt,
          archive: final,
          archiveSize: archive.size,
          archiveSha256: archive.sha256,
          files: m.files.length,
          bytes: m.files.reduce((n, f) => n + f.size, 0),
        };
        catalog.record(entry, m);
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
      options: { require?: boolean } = {},
    ): Promise<VerifyReport> {
      const target = backupTarget(config, targetName, ['repository', 'encryption']);
      const report = await verifyOne(target, backupId);
      if (!report.ok && options.require)
        throw stopFailure(
          report.errorType ?? 'IntegrityFailure',
          report.problem ?? `backup ${backupId} failed verification`,
        );
      return report;
    },

    /** Verifies one backup, the latest, or all of a target's; any failure is a STOP naming each. */
    async verifyBackups(targetName: string, which: string): Promise<VerifyReport[]> {
      const target = backupTarget(config, targetName, ['repository', 'encryption']);
      const ids =
        which === 'all'
          ? catalog
              .list(catalogNameOf(target))
              .map((e) => e.backupId)
              .reverse()
          : [resolveBackupId(catalog, catalogNameOf(target), which)];
      if (ids.length === 0)
        throw stopFailure('MissingManifest', `target '${targetName}' has no backups in the catalog`);
      const reports = [];
      for (const id of ids) reports.push(await verifyOne(target, id));
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

    /** Applies the target's retention; `dryRun` only says what would go. */
    async applyRetention(
      targetName: string,
      dryRun: boolean,
    ): Promise<RetentionPlan & { removedFiles: string[] }> {
      const target = backupTarget(config, targetName, ['repository']);
      refuseInDrill(target, 'retention');
      const entries = catalog.list(targetName);
      const plan = planRetention(
        entries.map((e) => ({
          backupId: e.backupId,
          createdAt: e.createdAt,
          kind: e.kind,
          parent: e.parent ?? undefined,
          verified: e.verifyOk === 1,
        })),
        target.retention ?? {},
        new Date(),
      );
      const removedFiles: string[] = [];
      if (!dryRun) {
        for (const item of plan.remove) {
          for (const file of [
            archivePath(target.repository, item.backupId),
            path.join(target.repository, `${item.backupId}.json`),
          ]) {
            if (await exists(file)) {
              await fsp.rm(file);
              removedFiles.push(file);
            }
          }
          catalog.markRemoved(item.backupId);
        }
        await fsyncDir(target.repository);
      }
      return { ...plan, removedFiles };
    },

    /** The id of the target's newest backup. */
    async latestBackupId(targetName: string): Promise<string> {
      return resolveBackupId(catalog, catalogNameOf(findTarget(config, targetName)), 'latest');
    },

    /** Copies a backup to the target's offsite repository and checks the copy by its hash. */
    async replicateOffsite(
      targetName: string,
      backupId: string,
    ): Promise<{ copied: string[] } | { skipped: true }> {
      const target = backupTarget(config, targetName, ['repository']);
      if (!target.offsite) return { skipped: true };
      refuseInDrill(target, 'an offsite copy');
      const entry = catalog.get(backupId);
      if (!entry) throw invalidInput(`no backup '${backupId}' in the catalog`);
      await fsp.mkdir(target.offsite, { recursive: true });
      const copied: string[] = [];
      for (const name of [`${backupId}.lbk`, `${backupId}.json`]) {
        const from = path.join(target.repository, name);
        const to = path.join(target.offsite, name);
        const tmp = path.join(target.offsite, `.${name}.partial`);
        await pipeline(fs.createReadStream(from), fs.createWriteStream(tmp));
        const handle = await fsp.open(tmp, 'r+');
        await handle.sync();
        await handle.close();
        const [a, b] = await Promise.all([hashFile(from), hashFile(tmp)]);
        if (a.sha256 !== b.sha256) {
          await fsp.rm(tmp, { force: true });
          throw stopFailure('ChecksumMismatch', `the offsite copy of ${name} does not match the original`);
        }
        await fsp.rename(tmp, to);
        copied.push(to);
      }
      await fsyncDir(target.offsite);
      catalog.recordOffsite(backupId, path.join(target.offsite, `${backupId}.lbk`));
      return { copied };
    },

    /**
     * Step 1–5 of the restore protocol: verify every archive of the backup's chain (manifest,
     * checksums, databases), then compare engine version and module set with the target's.
     */
    async inspectRestore(
      targetName: string,
      which: string,
    ): Promise<{ backupId: string; chain: string[]; files: number; bytes: number; createdAt: string }> {
      const target = backupTarget(config, targetName, ['repository', 'encryption']);
      const backupId = resolveBackupId(catalog, catalogNameOf(target), which);
      const chain = chainOf(catalog, backupId);
      for (const id of chain) {
        const report = await verifyOne(target, id);
        if (!report.ok)
          throw stopFailure(
            report.errorType ?? 'ChecksumMismatch',
            report.problem ?? `backup ${id} failed verification`,
          );
      }
      const manifest = catalog.manifest(backupId)!;
      const expectVersion = target.engineVersion ?? 'unversioned';
      if (manifest.engineVersion !== expectVersion) {
        throw stopFailure(
          'VersionMismatch',
          `engine version mismatch: the target runs ${expectVersion}, the backup was made by ${manifest.engineVersion}`,
        );
      }
      const want = (target.modules ?? []).join(', ') || '(none)';
      const found = [...manifest.modules].sort().join(', ') || '(none)';
      if (want !== found)
        throw stopFailure(
          'ModuleSetMismatch',
          `module set mismatch: the target has ${want}, the backup has ${found}`,
        );
      return {
        backupId,
        chain,
        files: manifest.files.length,
        bytes: manifest.files.reduce((n, f) => n + f.size, 0),
        createdAt: manifest.createdAt,
      };
    },

    /**
     * Unpacks the backup (replaying its chain) into a staging folder beside the root, or into a
     * named inspection folder. Each entry is checked against the manifest before its bytes are
     * written; modes and mtimes are restored.
     */
    async stageRestore(
      targetName: string,
      backupId: string,
      tag: string,
      options: { paths?: string[]; into?: string } = {},
    ): Promise<{ staging: string; files: number; bytes: number }> {
      const target = backupTarget(config, targetName, ['root', 'repository', 'encryption']);
      const manifest = catalog.manifest(backupId);
      if (!manifest) throw stopFailure('MissingManifest', `backup ${backupId} is not in the catalog`);
      const wanted = new Map(
        manifest.files
          .filter(
            (f) => !options.paths || options.paths.some((p) => f.path === p || f.path.startsWith(`${p}/`)),
          )
          .map((f) => [f.path, f]),
      );
      if (options.paths && wanted.size === 0)
        throw invalidInput(`none of ${options.paths.join(', ')} is in backup ${backupId}`);
      let staging: string;
      if (options.into) {
        const dir = target.restoreInto[options.into];
        if (!dir)
          throw invalidInput(
            `target '${targetName}' has no restoreInto folder named '${options.into}'; configured: ${Object.keys(target.restoreInto).join(', ') || 'none'}`,
          );
        staging = path.join(dir, backupId);
      } else staging = `${target.root}.lifeboat-staging-${tag}`;
      await fsp.rm(staging, { recursive: true, force: true });
      await fsp.mkdir(staging, { recursive: true });
      const beat = heartbeater();
      const written = new Set<string>();
      const finishing = new Bounded(16);
      const made = new Set<string>();
      const totalBytes = [...wanted.values()].reduce((n, f) => n + f.size, 0);
      let bytes = 0;
      for (const id of chainOf(catalog, backupId)) {
        const plain = await openArchive(archiveOf(target, catalog.get(id)!), target.encryption, id);
        try {
          await readArchive(plain, async (header) => {
            const want = wanted.get(header.path);
            if (!want || want.storedIn !== id) return undefined;
            if (want.size !== header.size || want.kind !== header.kind) {
              throw new ArchiveError(
                `entry ${JSON.stringify(header.path)} does not match the manifest (${header.size} bytes, expected ${want.size})`,
              );
            }
            const dest = path.join(staging, ...header.path.split('/'));
            if (!dest.startsWith(`${staging}${path.sep}`))
              throw new ArchiveError(`entry ${JSON.stringify(header.path)} would leave the staging folder`);
            const dir = path.dirname(dest);
            if (!made.has(dir)) {
              await fsp.mkdir(dir, { recursive: true });
              made.add(dir);
            }
            const finish = async (out: fsp.FileHandle) => {
              await out.sync();
              await out.close();
              await fsp.chmod(dest, want.mode);
              // Seconds as a number keep the sub-millisecond part (a Date would drop it).
              await fsp.utimes(dest, want.mtimeMs / 1000, want.mtimeMs / 1000);
              written.add(header.path);
            };
            const checked = (digest: EntryDigest) => {
              if (digest.sha256 !== want.sha256) {
                throw new ArchiveError(
                  `${JSON.stringify(header.path)} does not match the manifest's checksum`,
                );
              }
            };
            if (header.size <= CHUNK_SIZE) {
              // A small file is kept in memory and written whole in the background (a few at a
              // time), so decryption does not wait for its open, write, fsync, mode and mtime.
              const parts: Buffer[] = [];
              return {
                write: async (chunk) => {
                  parts.push(chunk);
                  bytes += chunk.length;
                },
                close: async (digest) => {
                  checked(digest);
                  await finishing.add(async () => {
                    const out = await fsp.open(dest, 'wx');
                    try {
                      await out.writeFile(Buffer.concat(parts));
                    } catch (err) {
                      await out.close();
                      throw err;
                    }
                    await finish(out);
                  });
                  beat({ phase: 'restore', files: written.size, total: wanted.size, bytes, totalBytes });
                },
              };
            }
            const out = await fsp.open(dest, 'wx');
            return {
              write: async (chunk) => {
                await out.write(chunk);
                bytes += chunk.length;
                beat({ phase: 'restore', files: written.size, total: wanted.size, bytes, totalBytes });
              },
              close: async (digest) => {
                try {
                  checked(digest);
                } catch (err) {
                  await out.close();
                  throw err;
                }
                // fsync, mode and mtime run while the next entries are decrypted.
                await finishing.add(() => finish(out));
              },
            };
          });
        } catch (err) {
          await finishing.drain().catch(() => undefined);
          await fsp.rm(staging, { recursive: true, force: true });
          throw archiveFailure(err, id);
        }
      }
      try {
        await finishing.drain();
      } catch (err) {
        await fsp.rm(staging, { recursive: true, force: true });
        throw err;
      }
      const missing = [...wanted.keys()].filter((p) => !written.has(p));
      if (missing.length) {
        await fsp.rm(staging, { recursive: true, force: true });
        throw stopFailure(
          'ChecksumMismatch',
          `the backup chain of ${backupId} lacks ${missing.length} file(s) its manifest lists: ${missing.slice(0, 5).join(', ')}`,
        );
      }
      await fsyncDir(path.dirname(staging));
      return { staging, files: written.size, bytes };
    },

    /** Compensation for stageRestore: removes the staging folder. */
    async removeStaging(targetName: string, tag: string): Promise<boolean> {
      const target = backupTarget(config, targetName, ['root']);
      const staging = `${target.root}.lifeboat-staging-${tag}`;
      const had = await exists(staging);
      await fsp.rm(staging, { recursive: true, force: true });
      return had;
    },

    /**
     * Swaps the staged root in by rename, keeping the old root as `<root>.lifeboat-previous-<tag>`.
     * Safe to repeat after a crash at any point: it finishes the swap it finds half done.
     */
    async swapInRestore(targetName: string, tag: string): Promise<{ root: string; previous?: string }> {
      const target = backupTarget(config, targetName, ['root']);
      const root = target.root;
      const staging = `${root}.lifeboat-staging-${tag}`;
      const previous = `${root}.lifeboat-previous-${tag}`;
      const [hasRoot, hasStaging, hasPrevious] = await Promise.all([
        exists(root),
        exists(staging),
        exists(previous),
      ]);
      if (!hasStaging) {
        if (hasRoot && hasPrevious) return { root, previous };
        throw stopFailure(
          'AmbiguousTarget',
          `the staged restore ${staging} is gone and the swap did not happen; retry restages nothing — stop and start the restore again`,
        );
      }
      if (hasRoot) {
        if (hasPrevious)
          throw stopFailure(
            'AmbiguousTarget',
            `both ${root} and ${previous} exist beside the staging folder; move one aside and retry`,
          );
        await fsp.rename(root, previous);
        await fsyncDir(path.dirname(root));
      }
      await fsp.rename(staging, root);
      await fsyncDir(path.dirname(root));
      return { root, previous: hasRoot || hasPrevious ? previous : undefined };
    },

    /** Compensation for swapInRestore: puts the previous root back (the restored copy is discarded). */
    async undoRestoreSwap(targetName: string, tag: string): Promise<{ putBack: boolean }> {
      const target = backupTarget(config, targetName, ['root']);
      const root = target.root;
      const previous = `${root}.lifeboat-previous-${tag}`;
      if (!(await exists(previous))) return { putBack: false };
      if (await exists(root)) {
        const discarded = `${root}.lifeboat-discarded-${tag}`;
        await fsp.rename(root, discarded);
        await fsp.rename(previous, root);
        await fsyncDir(path.dirname(root));
        await fsp.rm(discarded, { recursive: true, force: true });
      } else {
        await fsp.rename(previous, root);
        await fsyncDir(path.dirname(root));
      }
      return { putBack: true };
    },

    /**
     * Puts a staged subset into the live root path by path, moving what each replaces into
     * `<root>.lifeboat-previous-<tag>/`. A journal written first records which paths existed, so
     * a repeat after a crash finishes the swap and `undoSubsetSwap` can put everything back.
     */
    async swapInSubset(
      targetName: string,
      tag: string,
      paths: string[],
    ): Promise<{ root: string; previous: string; replaced: string[]; added: string[] }> {
      const target = backupTarget(config, targetName, ['root']);
      const root = target.root;
      const staging = `${root}.lifeboat-staging-${tag}`;
      const previous = `${root}.lifeboat-previous-${tag}`;
      const journalFile = `${root}.lifeboat-subset-${tag}.json`;
      const at = (base: string, p: string) => path.join(base, ...p.split('/'));
      let journal: Record<string, boolean>;
      if (await exists(journalFile))
        journal = JSON.parse(await fsp.readFile(journalFile, 'utf8')) as Record<string, boolean>;
      else {
        journal = {};
        for (const p of paths) journal[p] = await exists(at(root, p));
        await writeFileAtomic(journalFile, JSON.stringify(journal));
      }
      for (const p of paths) {
        const [live, staged, kept] = [at(root, p), at(staging, p), at(previous, p)];
        if (!(await exists(staged))) continue; // already swapped in
        if (journal[p] && !(await exists(kept))) {
          await fsp.mkdir(path.dirname(kept), { recursive: true });
          await fsp.rename(live, kept);
        }
        await fsp.mkdir(path.dirname(live), { recursive: true });
        await fsp.rename(staged, live);
        await fsyncDir(path.dirname(live));
      }
      await fsp.rm(staging, { recursive: true, force: true });
      return {
        root,
        previous,
        replaced: paths.filter((p) => journal[p]),
        added: paths.filter((p) => !journal[p]),
      };
    },

    /** Compensation for swapInSubset: every path goes back to what it was before the run. */
    async undoSubsetSwap(targetName: string, tag: string): Promise<{ putBack: string[] }> {
      const target = backupTarget(config, targetName, ['root']);
      const root = target.root;
      const previous = `${root}.lifeboat-previous-${tag}`;
      const journalFile = `${root}.lifeboat-subset-${tag}.json`;
      if (!(await exists(journalFile))) return { putBack: [] };
      const journal = JSON.parse(await fsp.readFile(journalFile, 'utf8')) as Record<string, boolean>;
      const at = (base: string, p: string) => path.join(base, ...p.split('/'));
      const putBack: string[] = [];
      for (const [p, existed] of Object.entries(journal)) {
        const [live, kept] = [at(root, p), at(previous, p)];
        if (existed && (await exists(kept))) {
          await fsp.rm(live, { recursive: true, force: true });
          await fsp.rename(kept, live);
          putBack.push(p);
        } else if (!existed) {
          await fsp.rm(live, { recursive: true, force: true });
          putBack.push(p);
        }
      }
      await fsyncDir(root);
      await fsp.rm(previous, { recursive: true, force: true });
      await fsp.rm(journalFile, { force: true });
      return { putBack };
    },

    /** Checks the live root against the manifest: same files, same bytes, databases intact. */
    async verifyRestoredRoot(
      targetName: string,
      backupId: string,
      options: { paths?: string[]; dir?: string } = {},
    ): Promise<{ files: number; databases: number }> {
      const target = backupTarget(config, targetName, ['root']);
      const manifest = catalog.manifest(backupId);
      if (!manifest) throw stopFailure('MissingManifest', `backup ${backupId} is not in the catalog`);
      const dir = options.dir ?? target.root;
      const inScope = (p: string) =>
        !options.paths || options.paths.some((q) => p === q || p.startsWith(`${q}/`));
      const want = manifest.files.filter((f) => inScope(f.path));
      const problems: string[] = [];
      const beat = heartbeater();
      let databases = 0;
      for (const [i, f] of want.entries()) {
        beat({ phase: 'verify', files: i, total: want.length });
        const abs = path.join(dir, ...f.path.split('/'));
        if (!(await exists(abs))) {
          problems.push(`${f.path} is missing`);
          continue;
        }
        const { sha256 } = await hashFile(abs);
        if (sha256 !== f.sha256) problems.push(`${f.path} differs from the backup`);
        if (f.kind === 'sqlite') {
          databases += 1;
          const integrity = integrityOf(abs);
          if (integrity !== 'ok') problems.push(`${f.path}: integrity check: ${integrity}`);
        }
      }
      if (!options.paths) {
        const present = (await scanRoot(dir).catch(() => [] as ScannedFile[])).map((f) => f.path);
        const listed = new Set(want.map((f) => f.path));
        for (const p of present) if (!listed.has(p)) problems.push(`${p} is not in the backup`);
      }
      if (problems.length)
        throw stopFailure(
          'IntegrityFailure',
          `the restored root does not match backup ${backupId}: ${problems.slice(0, 10).join('; ')}`,
        );
      return { files: want.length, databases };
    },
  };
}

function summaryOf(entry: NonNullable<ReturnType<Catalog['get']>>, manifest: Manifest): BackupSummary {
  const stored = manifest.files.filter((f) => f.storedIn === manifest.backupId);
  return {
    backupId: entry.backupId,
    kind: entry.kind,
    parent: entry.parent ?? undefined,
    archive: entry.archive,
    archiveSize: entry.archiveSize,
    archiveSha256: entry.archiveSha256,
    manifestSha256: createHash('sha256').update(JSON.stringify(manifest)).digest('hex'),
    files: manifest.files.length,
    bytes: manifest.files.reduce((n, f) => n + f.size, 0),
    storedFiles: stored.length,
    storedBytes: stored.reduce((n, f) => n + f.size, 0),
    deleted: manifest.deleted.length,
    databases: manifest.files.filter((f) => f.kind === 'sqlite').map((f) => f.path),
  };
}
