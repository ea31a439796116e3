/**
 * Reading a backup back completely (verifyBackup, and the copies a restore falls back to): every
 * entry, the manifest, the catalog's record of both, and each database with integrity_check.
 */
import * as fsp from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import type { StopClass } from '../common/errors';
import { ArchiveError, readArchive } from './lib/archive';
import { readRecordedArchive } from './lib/archiveReader';
import { warmArchiveRead } from './lib/archiveStream';
import type { EntryDigest, WriteProgress } from './lib/archiveFormat';
import { Catalog, type CatalogEntry } from './lib/catalog';
import { heartbeater } from './lib/context';
import { exists } from './lib/files';
import { isManifestJson, manifestJsonBytes, manifestJsonMatch } from './lib/manifest';
import { ManifestJsonError } from './lib/manifestParse';
import { earlierChecks, integritySinks, type DatabaseCheck, type IntegritySinks } from './lib/databaseChecks';
import { RecordedFiles } from './lib/manifestRecord';
import { archiveFile } from './lib/sidecar';
import { archiveFailure, archiveOf, openArchive, type BackupTarget, type Catalogs } from './backupShared';

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

/** A new folder for a verification's database copies: beside the root, or in the system's temp folder. */
async function scratchFolder(target: BackupTarget): Promise<string> {
  // A host that only verifies (no root) or Lifeboat's own small stores: the system's temp folder.
  if (target.sources || !target.root) return fsp.mkdtemp(path.join(os.tmpdir(), 'lifeboat-verify-'));
  await fsp.mkdir(path.dirname(target.root), { recursive: true });
  return fsp.mkdtemp(`${target.root}.lifeboat-verify-`);
}

/** What a verification's read found: the entries' count and bytes, and the databases among them. */
interface ReadFound {
  files: number;
  bytes: number;
  databases: EntryDigest[];
}

/**
 * Reads one archive completely, checking everything; databases are checked with integrity_check.
 * Where the catalog holds the manifest recorded when the backup was made, the archive is first read
 * the short way (manifestRecord.ts says what it vouches for); when that way cannot vouch for it, it
 * is read again the full way, which says what differs.
 */
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
    // Its threads boot while the recorded manifest is read.
    if (entry) warmArchiveRead(entry.archiveSize);
    const beat = heartbeater();
    const progress = (p: WriteProgress) =>
      beat({
        phase: 'verify',
        backupId,
        files: p.files,
        total: entry?.files,
        bytes: p.bytes,
        totalBytes: entry?.bytes,
      });
    // Databases are checked on a copy beside the root (where a restore stages too), never in the
    // repository: it may be another host's, or a read-only mount of the offsite disk. Those the last
    // verification found sound are not checked again while their bytes are the same (databaseChecks.ts).
    const earlier =
      options.recheckDatabases || entry?.verifyOk !== 1 ? undefined : earlierChecks(entry.verifyReport);
    let scratch = await scratchFolder(target);
    let sinks = integritySinks(scratch, earlier);
    const cleanUp = async () => {
      // A check still running reads a copy in the scratch folder: it ends before the folder goes.
      await sinks.settled().catch(() => undefined);
      await fsp.rm(scratch, { recursive: true, force: true });
    };
    let databases: DatabaseCheck[] = sinks.checked;
    try {
      const recorded = entry
        ? RecordedFiles.read((each) => catalog.manifestPieces(backupId, each), backupId)
        : undefined;
      let found =
        recorded && (await readShort(file, target, backupId, entry, recorded, sinks.open, progress));
      if (!found) {
        if (recorded) {
          // Read again the full way, with copies of its own.
          await cleanUp();
          scratch = await scratchFolder(target);
          sinks = integritySinks(scratch, earlier);
          databases = sinks.checked;
        }
        found = await readFull(file, target, backupId, entry, catalog, sinks.open, progress);
      }
      await sinks.settled();
      databases = sinks.results(found.databases);
      const bad = databases.filter((d) => d.integrity !== 'ok');
      const report: VerifyReport = {
        backupId,
        ok: bad.length === 0,
        errorType: bad.length ? 'IntegrityFailure' : undefined,
        problem: bad.length
          ? `database integrity check failed: ${bad.map((d) => `${d.path}: ${d.integrity}`).join('; ')}`
          : undefined,
        files: found.files,
        bytes: found.bytes,
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
      await cleanUp();
    }
  };
}

/**
 * The short way: the entries held to the recorded manifest's files as they are read, the archive's
 * manifest to the recorded text's SHA-256. Undefined when they differ (the full way reads again).
 */
async function readShort(
  file: string,
  target: BackupTarget,
  backupId: string,
  entry: CatalogEntry | undefined,
  recorded: RecordedFiles,
  open: IntegritySinks['open'],
  progress: (p: WriteProgress) => void,
): Promise<ReadFound | undefined> {
  const { plain, check } = await openArchive(file, target.encryption, backupId, entry);
  const found: ReadFound = { files: 0, bytes: 0, databases: [] };
  const onEntry = (d: EntryDigest) => {
    recorded.check(d);
    found.files += 1;
    found.bytes += d.size;
    if (d.kind === 'sqlite') found.databases.push(d);
  };
  try {
    await readRecordedArchive(plain, open, progress, recorded.manifestSha256, { onEntry });
  } catch (err) {
    // The archive's manifest is not the recorded text: the full way compares them.
    if (err instanceof ArchiveError && err.code === 'manifestMismatch') return undefined;
    throw err;
  }
  if (!recorded.matched) return undefined;
  await check();
  return found;
}

/** The full way: every entry kept and held to the archive's manifest, and that to the catalog's. */
async function readFull(
  file: string,
  target: BackupTarget,
  backupId: string,
  entry: CatalogEntry | undefined,
  catalog: Catalog,
  open: IntegritySinks['open'],
  progress: (p: WriteProgress) => void,
): Promise<ReadFound> {
  const { plain, check } = await openArchive(file, target.encryption, backupId, entry);
  const result = await readArchive(plain, open, progress);
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
  const { entries } = result;
  return {
    files: entries.length,
    bytes: entries.reduce((n, e) => n + e.size, 0),
    databases: entries.filter((e) => e.kind === 'sqlite'),
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
