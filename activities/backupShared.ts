/**
 * What the backup, restore and adoption activities share: the target as a backup sees it, the
 * catalog that lists its backups (a host-loss drill's sandbox has one of its own), opening an archive
 * and holding it to its catalog entry, a backup's chain, and reading a backup back completely.
 */
import { ApplicationFailure, Context } from '@temporalio/activity';
import * as fsp from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import type { StopClass } from '../common/errors';
import type { LifeboatConfig, TargetConfig } from '../config';
import { invalidInput, stopFailure } from './errors';
import { ArchiveError, readArchive, type ArchiveErrorCode } from './lib/archive';
import { openArchiveStream } from './lib/archiveStream';
import { Catalog, type CatalogEntry } from './lib/catalog';
import { heartbeater, throwIfCancelled } from './lib/context';
import { KeyError, type EncryptionSettings } from './lib/crypto';
import { exists } from './lib/files';
import { isManifestJson, manifestJsonBytes, manifestJsonMatch } from './lib/manifest';
import { ManifestJsonError } from './lib/manifestParse';
import { earlierChecks, integritySinks, type DatabaseCheck } from './lib/databaseChecks';
import { sandboxPath } from './lib/sandbox';
import { archiveFile } from './lib/sidecar';
import { isWithin } from '../config/sections';
import { findTarget } from './targets';

export interface VerifyReport {
  backupId: string;
  ok: boolean;
  problem?: string;
  /** The STOP class of the problem. */
  errorType?: StopClass;
  files: number;
  bytes: number;
  databases: DatabaseCheck[];
}

export interface VerifyOptions {
  /**
   * Check every database with integrity_check, also those the backup's last verification found
   * sound in the same bytes under the same SQLite (by default their result stands: databaseChecks.ts).
   */
  recheckDatabases?: boolean;
}

export type BackupTarget = TargetConfig & {
  root: string;
  repository: string;
  encryption: EncryptionSettings;
};

export function backupTarget(
  config: LifeboatConfig,
  name: string,
  needs: ('root' | 'repository' | 'encryption')[],
): BackupTarget {
  const target = findTarget(config, name);
  // A target of named files (lifeboat-self) has them instead of a root.
  const missing = needs.filter((k) => target[k] === undefined && !(k === 'root' && target.sources));
  if (missing.length)
    throw invalidInput(`target '${name}' has no ${missing.join(', ')} in the worker's config`);
  return target as BackupTarget;
}

export function activityIds(): { workflowId: string; runId: string } {
  const info = Context.current().info;
  return {
    workflowId: info.workflowExecution?.workflowId ?? 'unknown',
    runId: info.workflowExecution?.runId ?? 'unknown',
  };
}

/**
 * The catalog a target's backups are listed in: the control plane's, or the target's own (a
 * host-loss drill's sandbox starts with an empty catalog of its own, as a new host would).
 */
export class Catalogs {
  private readonly own = new Map<string, Catalog>();
  constructor(readonly main: Catalog) {}

  of(target: TargetConfig): Catalog {
    if (!target.ownCatalog) return this.main;
    let catalog = this.own.get(target.ownCatalog);
    if (!catalog) {
      catalog = new Catalog(target.ownCatalog);
      this.own.set(target.ownCatalog, catalog);
      // Drills come and go: only the few newest sandboxes' catalogs stay open.
      for (const [file, old] of [...this.own].slice(0, Math.max(0, this.own.size - 4))) {
        old.close();
        this.own.delete(file);
      }
    }
    return catalog;
  }
}

/**
 * Opens a backup's archive for reading, mapping key problems to a STOP. `check()`, once the
 * plaintext has been read, holds the ciphertext to the size and SHA-256 its catalog entry records.
 */
export async function openArchive(
  file: string,
  encryption: EncryptionSettings,
  backupId: string,
  expected?: Pick<CatalogEntry, 'archiveSize' | 'archiveSha256'>,
) {
  if (!(await exists(file)))
    throw stopFailure('MissingManifest', `backup ${backupId}: the archive ${file} is missing`);
  let opened;
  try {
    opened = await openArchiveStream(file, encryption);
  } catch (err) {
    if (err instanceof KeyError) throw stopFailure('KeyProblem', `backup ${backupId}: ${err.message}`);
    throw stopFailure('ChecksumMismatch', `backup ${backupId}: ${(err as Error).message}`);
  }
  return {
    plain: opened.plain,
    check: async () => {
      const found = await opened.digest();
      if (expected && (found.size !== expected.archiveSize || found.sha256 !== expected.archiveSha256)) {
        throw stopFailure(
          'ChecksumMismatch',
          `backup ${backupId}: the archive ${file} is not the one recorded (${found.size} bytes, SHA-256 ${found.sha256.slice(0, 16)}…; recorded ${expected.archiveSize} bytes, ${expected.archiveSha256.slice(0, 16)}…)`,
        );
      }
    },
  };
}

/** The STOP each kind of archive problem is: a manifest that is missing or unusable, or damage. */
const ARCHIVE_STOP: Record<ArchiveErrorCode, StopClass> = {
  notLifeboat: 'ChecksumMismatch',
  damaged: 'ChecksumMismatch',
  refusedEntry: 'ChecksumMismatch',
  noManifest: 'MissingManifest',
  badManifest: 'MissingManifest',
  manifestMismatch: 'ChecksumMismatch',
};

export function archiveFailure(err: unknown, backupId: string): ApplicationFailure {
  // A cancellation is no finding about the archive: it is thrown as it is.
  throwIfCancelled();
  if (err instanceof ApplicationFailure) return err;
  if (err instanceof ArchiveError)
    return stopFailure(ARCHIVE_STOP[err.code], `backup ${backupId}: ${err.message}`);
  if (err instanceof KeyError) return stopFailure('KeyProblem', `backup ${backupId}: ${err.message}`);
  const message = (err as Error).message ?? String(err);
  // OpenPGP reports tampering and truncation while the stream is read.
  return stopFailure(
    'ChecksumMismatch',
    `backup ${backupId} is damaged: the archive does not decrypt cleanly (${message.split('\n')[0]})`,
  );
}

/** The chain of a backup, oldest (the full) first. */
export function chainOf(catalog: Catalog, backupId: string): string[] {
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
export function catalogNameOf(target: TargetConfig): string {
  return target.catalogName ?? target.name;
}

/** A catalogued archive as the target sees it: in a drill, the sandbox's copy of it. */
export function archiveOf(target: TargetConfig, entry: { archive: string }): string {
  // An archive adopted into a sandbox's own catalog is already the sandbox's copy.
  if (!target.sandbox || isWithin(entry.archive, target.sandbox)) return entry.archive;
  return sandboxPath(target.sandbox, entry.archive);
}

/** Writes to the catalog by a drill's derived target would change production's records: refused. */
export function refuseInDrill(target: TargetConfig, what: string): void {
  if (target.sandbox && !target.ownCatalog)
    throw invalidInput(
      `target '${target.name}' is a drill sandbox: ${what} would change the catalog of '${catalogNameOf(target)}', so a drill does not do it`,
    );
}

/** `latest`, a backup id, or a day (YYYY-MM-DD): the newest backup taken that day. */
export function resolveBackupId(catalog: Catalog, target: string, which: string): string {
  // A day (YYYY-MM-DD, UTC): the newest backup taken that day, as `restore.sh --date=` picks.
  if (/^\d{4}-\d{2}-\d{2}$/.test(which)) {
    const backups = catalog.list(target);
    const ofDay = backups.find((b) => b.createdAt.startsWith(which));
    if (!ofDay)
      throw invalidInput(
        `no backup of target '${target}' was taken on ${which} (UTC); backups were taken on: ${[...new Set(backups.map((b) => b.createdAt.slice(0, 10)))].join(', ') || 'no day'}`,
      );
    return ofDay.backupId;
  }
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

/** A new folder for a verification's database copies: beside the root, or in the system's temp folder. */
async function scratchFolder(target: BackupTarget): Promise<string> {
  // A host that only verifies (no root) or Lifeboat's own small stores: the system's temp folder.
  if (target.sources || !target.root) return fsp.mkdtemp(path.join(os.tmpdir(), 'lifeboat-verify-'));
  await fsp.mkdir(path.dirname(target.root), { recursive: true });
  return fsp.mkdtemp(`${target.root}.lifeboat-verify-`);
}

/** Reads one archive completely, checking everything; databases are checked with integrity_check. */
export function createVerifier(catalogs: Catalogs) {
  return async function verifyOne(
    target: BackupTarget,
    backupId: string,
    /** Another copy of the archive to read (an offsite or moved copy); default: the catalogued one. */
    copy?: string,
    options: VerifyOptions = {},
  ): Promise<VerifyReport> {
    const catalog = catalogs.of(target);
    const entry = catalog.get(backupId);
    const file = copy ?? (entry ? archiveOf(target, entry) : archiveFile(target.repository, backupId));
    const beat = heartbeater();
    // Databases are checked on a copy beside the root (where a restore stages too), never in the
    // repository: it may be another host's, or a read-only mount of the offsite disk. Those the last
    // verification found sound are not checked again while their bytes are the same (databaseChecks.ts).
    const scratch = await scratchFolder(target);
    const sinks = integritySinks(
      scratch,
      options.recheckDatabases || entry?.verifyOk !== 1 ? undefined : earlierChecks(entry.verifyReport),
    );
    let databases: DatabaseCheck[] = sinks.checked;
    try {
      const { plain, check } = await openArchive(file, target.encryption, backupId, entry);
      const result = await readArchive(plain, sinks.open, (p) =>
        beat({
          phase: 'verify',
          backupId,
          files: p.files,
          total: entry?.files,
          bytes: p.bytes,
          totalBytes: entry?.bytes,
        }),
      );
      if (result.manifest.backupId !== backupId)
        throw new ArchiveError(
          `the manifest names backup ${result.manifest.backupId}, not ${backupId}`,
          'badManifest',
        );
      // The manifest recorded in the catalog, the one restores plan from, is the archive's: an
      // edited row would otherwise go unnoticed (the catalog's SHA-256 column says nothing of it).
      // The recorded text is compared first: for a row recorded here it is the archive's manifest
      // serialised the same way, and 100,000 files' manifest is not parsed again to tell (nor
      // serialised whole: manifestJsonMatch compares it with the catalog's piece by piece).
      const match = manifestJsonMatch(result.manifest);
      const recorded = catalog.manifestPieces(backupId, (piece) => match.write(piece));
      const rowMatches = (): boolean => {
        if (match.end()) return true;
        try {
          return isManifestJson(manifestJsonBytes(catalog.manifest(backupId)!), result.manifest);
        } catch (err) {
          // A row that is no longer JSON was edited too.
          if (err instanceof ManifestJsonError) return false;
          throw err;
        }
      };
      if (recorded && !rowMatches()) {
        throw new ArchiveError(
          "the archive's manifest differs from the one recorded when the backup was made (manifest edited)",
          'manifestMismatch',
        );
      }
      await check();
      await sinks.settled();
      databases = sinks.results(result.entries);
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
      if (!copy && (!target.sandbox || target.ownCatalog))
        catalog.recordVerification(backupId, report.ok, report);
      return report;
    } catch (err) {
      // Cancelled: thrown, so that a good backup is never recorded as failing its verification.
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
      if (!copy && catalog.get(backupId) && (!target.sandbox || target.ownCatalog))
        catalog.recordVerification(backupId, false, report);
      return report;
    } finally {
      // A check still running reads a copy in the scratch folder: it ends before the folder goes.
      await sinks.settled().catch(() => undefined);
      await fsp.rm(scratch, { recursive: true, force: true });
    }
  };
}

/**
 * Verifies a catalogued backup. When its archive is missing or fails, the other copies are tried —
 * the offsite copy the catalog recorded, then the target's configured repository and offsite folder
 * (a catalog brought back by `lifeboat self restore` may name another host's paths) — each held to
 * the catalog's size, SHA-256 and manifest; the first that verifies is what the catalog reads from
 * then on, and the result says so.
 */
export function createCopyVerifier(catalogs: Catalogs) {
  const verifyOne = createVerifier(catalogs);
  return async function verifyOrCopy(
    target: BackupTarget,
    backupId: string,
  ): Promise<{ report: VerifyReport; fromCopy?: { copy: string; problem: string } }> {
    const report = await verifyOne(target, backupId);
    const catalog = catalogs.of(target);
    const entry = catalog.get(backupId);
    const mayRecord = !target.sandbox || !!target.ownCatalog;
    if (report.ok || !entry || !mayRecord) return { report };
    const recorded = archiveOf(target, entry);
    const copies = [
      entry.offsiteCopy ? archiveOf(target, { archive: entry.offsiteCopy }) : undefined,
      archiveFile(target.repository, backupId),
      target.offsite ? archiveFile(target.offsite, backupId) : undefined,
    ].filter((c, i, all): c is string => !!c && c !== recorded && all.indexOf(c) === i);
    const problems = [report.problem];
    for (const copy of copies) {
      if (!(await exists(copy))) continue;
      const second = await verifyOne(target, backupId, copy);
      if (!second.ok) {
        problems.push(`the copy ${copy} fails too: ${second.problem}`);
        continue;
      }
      catalog.useArchive(backupId, copy);
      catalog.recordVerification(backupId, true, second);
      return { report: second, fromCopy: { copy, problem: report.problem ?? 'failed' } };
    }
    return { report: { ...report, problem: problems.join('; ') } };
  };
}
