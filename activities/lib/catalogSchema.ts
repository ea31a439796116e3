/**
 * The backup catalog's schema (catalog.ts): its tables, its version and the step from version 1
 * (manifests in the backup rows) to 2 (manifests in a table of their own), and the drills' rows.
 */
import type Database from 'better-sqlite3';
import type { DrillRecord } from '../../common/drill';

/** The catalog's schema version (1: manifests in the backups rows). */
export const CATALOG_VERSION = 2;
export const MANIFESTS_QUERY = 'SELECT CAST(manifest AS BLOB) AS bytes FROM manifests WHERE backup_id = ?';

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
CREATE TABLE IF NOT EXISTS manifests (
  backup_id TEXT PRIMARY KEY,
  manifest TEXT NOT NULL
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

/**
 * Version 1 to 2: each manifest moves from its backup's row to `manifests` (rows an agent reported
 * have none here: 'null'), and the rows keep an empty text in the old column.
 */
export function moveManifests(db: Database.Database): void {
  db.exec(`INSERT OR REPLACE INTO manifests (backup_id, manifest)
             SELECT backup_id, manifest FROM backups WHERE manifest <> 'null' AND manifest <> '';
           UPDATE backups SET manifest = '' WHERE manifest <> '';`);
}
