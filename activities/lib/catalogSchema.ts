/**
 * The backup catalog's schema (catalog.ts): its tables, its version, where each version keeps a
 * backup's manifest and the steps from the older ones, and the drills' rows.
 *
 * Version 1 kept each manifest in its backup's row, version 2 in a row of its own (`manifests`);
 * version 3 keeps it in parts of at most MANIFEST_PART bytes (`manifest_parts`): SQLite copies a
 * value it is given, casts and records it whole, so storing 100,000 files' 20 MB manifest in one
 * value held four copies of it at once (80 MB of a full backup's peak); reading it back, two.
 */
import type Database from 'better-sqlite3';
import type { DrillRecord } from '../../common/drill';

/** The catalog's schema version (1: manifests in the backups rows; 2: in `manifests`; 3: in parts). */
export const CATALOG_VERSION = 3;
/** A manifest part's size in bytes (the last one shorter). */
export const MANIFEST_PART = 1024 * 1024;
/** A manifest's text for a row an agent reported, in version 1 (its host keeps the manifest). */
const NO_MANIFEST = Buffer.from('null');

export const SCHEMA = `
CREATE TABLE IF NOT EXISTS backups (
  backup_id TEXT PRIMARY KEY,
  target TEXT NOT NULL,
  kind TEXT NOT NULL,
  parent TEXT,
  created_at TEXT NOT NULL,
  archive TEXT NOT NULL,
  archive_size INTEGER NOT NULL,
  archive_sha256 TEXT NOT NULL,
  files INTEGER NOT NULL,
  bytes INTEGER NOT NULL,
  manifest TEXT NOT NULL,
  verified_at TEXT,
  verify_ok INTEGER,
  verify_report TEXT,
  offsite_copy TEXT,
  removed_at TEXT,
  origin TEXT,
  signed_by TEXT,
  manifest_sha256 TEXT
);
CREATE INDEX IF NOT EXISTS backups_target ON backups (target, created_at);
CREATE TABLE IF NOT EXISTS manifest_parts (
  backup_id TEXT NOT NULL,
  part INTEGER NOT NULL,
  bytes BLOB NOT NULL,
  PRIMARY KEY (backup_id, part)
);
CREATE TABLE IF NOT EXISTS drills (
  drill_id TEXT PRIMARY KEY,
  workflow_id TEXT NOT NULL,
  target TEXT NOT NULL,
  scenario TEXT NOT NULL,
  passed INTEGER NOT NULL,
  started_at TEXT NOT NULL,
  finished_at TEXT NOT NULL,
  rto_seconds REAL NOT NULL,
  rto_objective_minutes REAL,
  rpo_seconds REAL,
  rpo_objective_minutes REAL,
  proof_path TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS drills_target ON drills (target, finished_at);
`;

export interface DrillRow {
  drill_id: string;
  workflow_id: string;
  target: string;
  scenario: DrillRecord['scenario'];
  passed: number;
  started_at: string;
  finished_at: string;
  rto_seconds: number;
  rto_objective_minutes: number | null;
  rpo_seconds: number | null;
  rpo_objective_minutes: number | null;
  proof_path: string;
}

export function drillFromRow(row: DrillRow): DrillRecord {
  const record: DrillRecord = {
    drillId: row.drill_id,
    workflowId: row.workflow_id,
    target: row.target,
    scenario: row.scenario,
    passed: row.passed === 1,
    startedAt: row.started_at,
    finishedAt: row.finished_at,
    rtoSeconds: row.rto_seconds,
    proofPath: row.proof_path,
  };
  if (row.rto_objective_minutes !== null) record.rtoObjectiveMinutes = row.rto_objective_minutes;
  if (row.rpo_seconds !== null) record.rpoSeconds = row.rpo_seconds;
  if (row.rpo_objective_minutes !== null) record.rpoObjectiveMinutes = row.rpo_objective_minutes;
  return record;
}

/** Stores a backup's manifest, given in parts of at most MANIFEST_PART bytes, instead of any before. */
export function writeManifest(db: Database.Database, backupId: string, parts: Iterable<Buffer>): void {
  dropManifest(db, backupId);
  const insert = db.prepare('INSERT INTO manifest_parts (backup_id, part, bytes) VALUES (?, ?, ?)');
  let part = 0;
  for (const bytes of parts) insert.run(backupId, part++, bytes);
}

export function dropManifest(db: Database.Database, backupId: string): void {
  db.prepare('DELETE FROM manifest_parts WHERE backup_id = ?').run(backupId);
}

/** A value's bytes in parts of MANIFEST_PART bytes. */
function* cut(bytes: Buffer): Generator<Buffer> {
  for (let at = 0; at < bytes.length; at += MANIFEST_PART) yield bytes.subarray(at, at + MANIFEST_PART);
}

/**
 * Hands the manifest's bytes to `each` a part at a time, in order, as the catalog's `version` keeps
 * them (a catalog opened read-only is read as it is); false when it holds none (an agent's backup).
 * Called inside a read transaction: the parts come from one snapshot.
 */
export function readManifest(
  db: Database.Database,
  version: number | undefined,
  backupId: string,
  each: (bytes: Buffer) => void,
): boolean {
  if (version === CATALOG_VERSION) {
    const part = db.prepare('SELECT bytes FROM manifest_parts WHERE backup_id = ? AND part = ?').pluck();
    let n = 0;
    for (let bytes: Buffer | undefined; (bytes = part.get(backupId, n) as Buffer | undefined); n++)
      each(bytes);
    return n > 0;
  }
  const table = version === 2 ? 'manifests' : 'backups';
  const bytes = db
    .prepare(`SELECT CAST(manifest AS BLOB) FROM ${table} WHERE backup_id = ?`)
    .pluck()
    .get(backupId) as Buffer | undefined;
  if (!bytes || bytes.length === 0 || bytes.equals(NO_MANIFEST)) return false;
  for (const part of cut(bytes)) each(part);
  return true;
}

/**
 * To version 3 from 1 (or a file from before versions: manifests in the backups rows, which keep
 * an empty text) or 2 (manifests in `manifests`, which goes): each manifest is cut into parts, one
 * manifest in memory at a time. Rows an agent reported have none here ('null' in version 1).
 */
export function moveManifests(db: Database.Database, from?: number): void {
  const table = from === 2 ? 'manifests' : 'backups';
  const found = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?").get(table);
  if (!found) return;
  const ids = db
    .prepare(`SELECT backup_id FROM ${table} WHERE manifest <> '' AND manifest <> 'null'`)
    .pluck()
    .all() as string[];
  for (const id of ids) {
    const parts: Buffer[] = [];
    if (readManifest(db, from, id, (part) => parts.push(part))) writeManifest(db, id, parts);
  }
  if (from === 2) db.exec('DROP TABLE manifests');
  else db.exec("UPDATE backups SET manifest = '' WHERE manifest <> ''");
}
