/**
 * What the backup, restore and adoption activities share: the target as a backup sees it, the
 * catalog that lists its backups (a host-loss drill's sandbox has one of its own), opening an archive
 * and holding it to its catalog entry, and a backup's chain (verification.ts reads one back completely).
 */
import { ApplicationFailure, Context } from '@temporalio/activity';
import type { StopClass } from '../common/errors';
import type { LifeboatConfig, TargetConfig } from '../config';
import { invalidInput, stopFailure } from './errors';
import { ArchiveError, type ArchiveErrorCode } from './lib/archive';
import { openArchiveStream } from './lib/archiveStream';
import { Catalog, type CatalogEntry } from './lib/catalog';
import { throwIfCancelled } from './lib/context';
import { KeyError, type EncryptionSettings } from './lib/crypto';
import { exists } from './lib/files';
import { sandboxPath } from './lib/sandbox';
import { isWithin } from '../config/sections';
import { findTarget } from './targets';

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
