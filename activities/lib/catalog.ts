/**
 * The backup catalog (SQLite): every backup with its chain, size, checksum, manifest and latest
 * verification, so that retention, listing and incrementals need not decrypt archives; and every
 * drill with its result, RTO/RPO against the objectives, and its signed proof.
 *
 * Manifests are kept apart from the backups' rows (in version 1, a 20 MB manifest of 100,000 files
 * was read and written again by every update of its row: a verification's record took 340 ms and
 * 58 MB), in parts (catalogSchema.ts), written and read a part at a time. An older catalog is moved
 * over when first opened for writing; opened read-only, its manifests are read where its version
 * keeps them. An older Lifeboat refuses a newer catalog (SchemaTooNew) rather than read manifests
 * that are not there.
 */
import type Database from 'better-sqlite3';
import { createHash } from 'node:crypto';
import type { DrillRecord } from '../../common/drill';
import { openDatabase, recordedVersion } from './sqlite';
import type { Manifest } from './archive';
import { bufferedPieces, manifestJsonPieces } from './manifest';
import { ManifestParser } from './manifestParse';
import {
  CATALOG_VERSION,
  drillFromRow,
  dropManifest,
  MANIFEST_PART,
  moveManifests,
  readManifest,
  SCHEMA,
  writeManifest,
  type DrillRow,
} from './catalogSchema';

/** What the manifest parser is given at a time. */
const PARSE_PIECE = 256 * 1024;

export interface CatalogEntry {
  backupId: string;
  target: string;
  kind: 'full' | 'incremental';
  parent: string | null;
  createdAt: string;
  archive: string;
  archiveSize: number;
  archiveSha256: string;
  files: number;
  bytes: number;
  verifiedAt: string | null;
  verifyOk: number | null;
  verifyReport: string | null;
  offsiteCopy: string | null;
  removedAt: string | null;
  /** `made` by this host, or `adopted` from a repository (adoptRepository); null: made before either was recorded. */
  origin: 'made' | 'adopted' | null;
  /** Fingerprint of the key that signed the backup's sidecar, when it was signed. */
  signedBy: string | null;
  /** SHA-256 of the manifest entry's bytes in the archive (as in the sidecar); null on older rows. */
  manifestSha256: string | null;
  /**
   * The agent whose host holds the archive, on the control plane's catalog (a row its agent reported:
   * no manifest here, the agent keeps it); null for the control plane's own targets and on agents.
   */
  heldBy: string | null;
}

/** What a backup is recorded with (the rest is filled in by later events). */
export type NewCatalogEntry = Omit<
  CatalogEntry,
  | 'verifiedAt'
  | 'verifyOk'
  | 'verifyReport'
  | 'offsiteCopy'
  | 'removedAt'
  | 'origin'
  | 'signedBy'
  | 'manifestSha256'
  | 'heldBy'
> &
  Partial<Pick<CatalogEntry, 'origin' | 'signedBy' | 'manifestSha256'>>;

const BASE_COLUMNS = `backup_id AS backupId, target, kind, parent, created_at AS createdAt, archive, archive_size AS archiveSize,
  archive_sha256 AS archiveSha256, files, bytes, verified_at AS verifiedAt, verify_ok AS verifyOk,
  verify_report AS verifyReport, offsite_copy AS offsiteCopy, removed_at AS removedAt`;
/** Columns added since the first catalog: added to an older file opened for writing, read as NULL otherwise. */
const ADDED_COLUMNS: [column: string, alias: string][] = [
  ['origin', 'origin'],
  ['signed_by', 'signedBy'],
  ['manifest_sha256', 'manifestSha256'],
  ['held_by', 'heldBy'],
];

/** A write to the catalog: what an agent reports to the control plane's catalog (worker/catalogMirror.ts). */
export type CatalogChange = { backup: string } | { drill: string };

/**
 * A backup's manifest SHA-256 as its sidecar names it (the manifest entry's bytes). Rows recorded
 * before sidecars had no such column: for them, the SHA-256 of the parsed manifest re-serialised.
 */
export function manifestDigest(
  entry: Pick<CatalogEntry, 'manifestSha256'> | undefined,
  manifest: Manifest,
): string {
  return entry?.manifestSha256 ?? createHash('sha256').update(JSON.stringify(manifest)).digest('hex');
}

export class Catalog {
  private readonly db: Database.Database;
  private readonly columns: string;
  private readonly changed: (change: CatalogChange) => void;
  private readonly readonly: boolean;

  constructor(
    readonly file: string,
    options: { readonly?: boolean; onChange?: (change: CatalogChange) => void } = {},
  ) {
    this.changed = options.onChange ?? (() => undefined);
    this.db = openDatabase(file, 'backup catalog', SCHEMA, options, {
      store: 'catalog',
      current: CATALOG_VERSION,
      migrate: moveManifests,
    });
    this.readonly = options.readonly === true;
    const have = new Set(
      (this.db.prepare('PRAGMA table_info(backups)').all() as { name: string }[]).map((c) => c.name),
    );
    const added = ADDED_COLUMNS.map(([column, alias]) => {
      if (have.has(column)) return `${column} AS ${alias}`;
      if (options.readonly) return `NULL AS ${alias}`;
      try {
        this.db.exec(`ALTER TABLE backups ADD COLUMN ${column} TEXT`);
      } catch (err) {
        // Another worker opening the same older catalog added it first.
        if (!/duplicate column/i.test((err as Error).message)) throw err;
      }
      return `${column} AS ${alias}`;
    });
    this.columns = [BASE_COLUMNS, ...added].join(', ');
  }

  /** Records a backup (again, after a retry or a re-adoption: the row is brought up to date). */
  record(entry: NewCatalogEntry, manifest: Manifest): void {
    this.db.transaction(() => {
      this.db
        .prepare(
          `INSERT INTO backups (backup_id, target, kind, parent, created_at, archive, archive_size, archive_sha256, files, bytes, manifest,
             origin, signed_by, manifest_sha256)
           VALUES (@backupId, @target, @kind, @parent, @createdAt, @archive, @archiveSize, @archiveSha256, @files, @bytes, '',
             @origin, @signedBy, @manifestSha256)
           ON CONFLICT (backup_id) DO UPDATE SET archive = excluded.archive, archive_size = excluded.archive_size,
             archive_sha256 = excluded.archive_sha256, removed_at = NULL,
             origin = COALESCE(excluded.origin, origin), signed_by = COALESCE(excluded.signed_by, signed_by),
             manifest_sha256 = COALESCE(excluded.manifest_sha256, manifest_sha256)`,
        )
        .run({
          ...entry,
          origin: entry.origin ?? null,
          signedBy: entry.signedBy ?? null,
          manifestSha256: entry.manifestSha256 ?? null,
        });
      // JSON.stringify's text (20 MB for 100,000 files) as UTF-8, made and stored a part at a time.
      writeManifest(this.db, entry.backupId, bufferedPieces(manifestJsonPieces(manifest), MANIFEST_PART));
    })();
    this.changed({ backup: entry.backupId });
  }

  recordVerification(backupId: string, ok: boolean, report: unknown): void {
    this.db
      .prepare('UPDATE backups SET verified_at = ?, verify_ok = ?, verify_report = ? WHERE backup_id = ?')
      .run(new Date().toISOString(), ok ? 1 : 0, JSON.stringify(report), backupId);
    this.changed({ backup: backupId });
  }

  recordOffsite(backupId: string, copy: string): void {
    this.db.prepare('UPDATE backups SET offsite_copy = ? WHERE backup_id = ?').run(copy, backupId);
    this.changed({ backup: backupId });
  }

  /** Reads the backup from another copy from now on (its offsite copy, when the primary is lost or damaged). */
  useArchive(backupId: string, archive: string): void {
    this.db.prepare('UPDATE backups SET archive = ? WHERE backup_id = ?').run(archive, backupId);
    this.changed({ backup: backupId });
  }

  markRemoved(backupId: string): void {
    this.db
      .prepare('UPDATE backups SET removed_at = ? WHERE backup_id = ?')
      .run(new Date().toISOString(), backupId);
    this.changed({ backup: backupId });
  }

  /**
   * Records a backup as the agent holding it reported it (the control plane's catalog): every field
   * as the agent's catalog has it, without the manifest, which stays on the agent's host. `agent`
   * null: a row of the control plane's own target (`store migrate`); a manifest already here stays.
   */
  mirror(entry: CatalogEntry, agent: string | null): void {
    this.db.transaction(() => {
      this.db
        .prepare(
          `INSERT INTO backups (backup_id, target, kind, parent, created_at, archive, archive_size, archive_sha256, files, bytes, manifest,
             verified_at, verify_ok, verify_report, offsite_copy, removed_at, origin, signed_by, manifest_sha256, held_by)
           VALUES (@backupId, @target, @kind, @parent, @createdAt, @archive, @archiveSize, @archiveSha256, @files, @bytes, '',
             @verifiedAt, @verifyOk, @verifyReport, @offsiteCopy, @removedAt, @origin, @signedBy, @manifestSha256, @agent)
           ON CONFLICT (backup_id) DO UPDATE SET target = excluded.target, kind = excluded.kind, parent = excluded.parent,
             created_at = excluded.created_at, archive = excluded.archive, archive_size = excluded.archive_size,
             archive_sha256 = excluded.archive_sha256, files = excluded.files, bytes = excluded.bytes,
             verified_at = excluded.verified_at, verify_ok = excluded.verify_ok, verify_report = excluded.verify_report,
             offsite_copy = excluded.offsite_copy, removed_at = excluded.removed_at, origin = excluded.origin,
             signed_by = excluded.signed_by, manifest_sha256 = excluded.manifest_sha256, held_by = excluded.held_by`,
        )
        .run({ ...entry, agent });
      // An agent's backup: its manifest stays on its host (a manifest recorded here before goes).
      if (agent !== null) dropManifest(this.db, entry.backupId);
    })();
  }

  get(backupId: string): CatalogEntry | undefined {
    return this.db.prepare(`SELECT ${this.columns} FROM backups WHERE backup_id = ?`).get(backupId) as
      CatalogEntry | undefined;
  }

  manifest(backupId: string): Manifest | undefined {
    // Parsed a piece at a time (manifestParse.ts): for 100,000 files its text would be a 20 MB
    // string beside the parsed manifest.
    const parser = new ManifestParser();
    if (!this.manifestPieces(backupId, (piece) => parser.write(piece))) return undefined;
    return parser.end() as Manifest;
  }

  /**
   * The manifest without its files, with their count and total size: read like `manifest` but
   * without keeping a file's object (a restore's inspection needs five fields of 100,000 files'
   * manifest, at the moment its verification's objects are still about).
   */
  manifestSummary(
    backupId: string,
  ): (Omit<Manifest, 'files'> & { fileCount: number; fileBytes: number }) | undefined {
    let fileCount = 0;
    let fileBytes = 0;
    const count = (items: unknown[]) => {
      fileCount += items.length;
      for (const f of items as { size: number }[]) fileBytes += f.size;
    };
    const parser = new ManifestParser(count);
    if (!this.manifestPieces(backupId, (piece) => parser.write(piece))) return undefined;
    const { files, ...rest } = parser.end() as Manifest;
    // A text not read as items (not an object at the top): its files were parsed whole.
    if (Array.isArray(files)) count(files);
    return { ...rest, fileCount, fileBytes };
  }

  /**
   * Hands the manifest's JSON as recorded (JSON.stringify's, for rows this catalog recorded), as
   * UTF-8 bytes, to `each` in order a piece of at most 256 KiB at a time, all from one snapshot of
   * the catalog; false when the catalog holds none (a row an agent reported: its host keeps it).
   * The whole text is never in memory at once.
   */
  manifestPieces(backupId: string, each: (piece: Buffer) => void): boolean {
    return this.db.transaction(() => {
      // Read-only, an older catalog is read as it is (its version read in the same snapshot).
      const version = this.readonly ? recordedVersion(this.db, 'catalog') : CATALOG_VERSION;
      return readManifest(this.db, version, backupId, (part) => {
        for (let at = 0; at < part.length; at += PARSE_PIECE) each(part.subarray(at, at + PARSE_PIECE));
      });
    })();
  }

  /** Every backup's id, removed ones too. */
  backupIds(): string[] {
    return (
      this.db.prepare('SELECT backup_id FROM backups ORDER BY created_at').all() as { backup_id: string }[]
    ).map((r) => r.backup_id);
  }

  /** Backups present (not removed), newest first; all targets when `target` is undefined. */
  list(target?: string): CatalogEntry[] {
    const where = target === undefined ? 'removed_at IS NULL' : 'removed_at IS NULL AND target = ?';
    const stmt = this.db.prepare(
      `SELECT ${this.columns} FROM backups WHERE ${where} ORDER BY created_at DESC, backup_id DESC`,
    );
    return (target === undefined ? stmt.all() : stmt.all(target)) as CatalogEntry[];
  }

  /** Records a drill, or replaces the record with the same drill id (activity retries). */
  recordDrill(record: DrillRecord): void {
    this.db
      .prepare(
        `INSERT INTO drills (drill_id, workflow_id, target, scenario, passed, started_at, finished_at, rto_seconds,
           rto_objective_minutes, rpo_seconds, rpo_objective_minutes, proof_path)
         VALUES (@drillId, @workflowId, @target, @scenario, @passed, @startedAt, @finishedAt, @rtoSeconds,
           @rtoObjectiveMinutes, @rpoSeconds, @rpoObjectiveMinutes, @proofPath)
         ON CONFLICT (drill_id) DO UPDATE SET workflow_id = excluded.workflow_id, target = excluded.target,
           scenario = excluded.scenario, passed = excluded.passed, started_at = excluded.started_at,
           finished_at = excluded.finished_at, rto_seconds = excluded.rto_seconds,
           rto_objective_minutes = excluded.rto_objective_minutes, rpo_seconds = excluded.rpo_seconds,
           rpo_objective_minutes = excluded.rpo_objective_minutes, proof_path = excluded.proof_path`,
      )
      .run({
        drillId: record.drillId,
        workflowId: record.workflowId,
        target: record.target,
        scenario: record.scenario,
        passed: record.passed ? 1 : 0,
        startedAt: record.startedAt,
        finishedAt: record.finishedAt,
        rtoSeconds: record.rtoSeconds,
        rtoObjectiveMinutes: record.rtoObjectiveMinutes ?? null,
        rpoSeconds: record.rpoSeconds ?? null,
        rpoObjectiveMinutes: record.rpoObjectiveMinutes ?? null,
        proofPath: record.proofPath,
      });
    this.changed({ drill: record.drillId });
  }

  drill(drillId: string): DrillRecord | undefined {
    const row = this.db.prepare('SELECT * FROM drills WHERE drill_id = ?').get(drillId) as
      DrillRow | undefined;
    return row ? drillFromRow(row) : undefined;
  }

  /** Drills, newest first; all targets when `target` is undefined. */
  listDrills(target?: string): DrillRecord[] {
    // A catalog written before drills existed, opened read-only, has no drills table yet.
    const table = this.db
      .prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'drills'")
      .get();
    if (!table) return [];
    const where = target === undefined ? '' : 'WHERE target = ?';
    const stmt = this.db.prepare(`SELECT * FROM drills ${where} ORDER BY finished_at DESC, drill_id DESC`);
    const rows = (target === undefined ? stmt.all() : stmt.all(target)) as DrillRow[];
    return rows.map(drillFromRow);
  }

  close(): void {
    this.db.close();
  }
}
