/**
 * The backup catalog (SQLite): every backup with its chain, size, checksum, manifest and latest
 * verification, so that retention, listing and incrementals need not decrypt archives.
 */
import type Database from 'better-sqlite3';
import { openDatabase } from './sqlite';
import type { Manifest } from './archive';

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
}

const SCHEMA = `
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
  removed_at TEXT
);
CREATE INDEX IF NOT EXISTS backups_target ON backups (target, created_at);
`;

const COLUMNS = `backup_id AS backupId, target, kind, parent, created_at AS createdAt, archive, archive_size AS archiveSize,
  archive_sha256 AS archiveSha256, files, bytes, verified_at AS verifiedAt, verify_ok AS verifyOk,
  verify_report AS verifyReport, offsite_copy AS offsiteCopy, removed_at AS removedAt`;

export class Catalog {
  private readonly db: Database.Database;

  constructor(file: string, options: { readonly?: boolean } = {}) {
    this.db = openDatabase(file, 'backup catalog', SCHEMA, options);
  }

  record(
    entry: Omit<CatalogEntry, 'verifiedAt' | 'verifyOk' | 'verifyReport' | 'offsiteCopy' | 'removedAt'>,
    manifest: Manifest,
  ): void {
    this.db
      .prepare(
        `INSERT INTO backups (backup_id, target, kind, parent, created_at, archive, archive_size, archive_sha256, files, bytes, manifest)
         VALUES (@backupId, @target, @kind, @parent, @createdAt, @archive, @archiveSize, @archiveSha256, @files, @bytes, @manifest)
         ON CONFLICT (backup_id) DO UPDATE SET archive = excluded.archive, archive_size = excluded.archive_size,
           archive_sha256 = excluded.archive_sha256, manifest = excluded.manifest, removed_at = NULL`,
      )
      .run({ ...entry, manifest: JSON.stringify(manifest) });
  }

  recordVerification(backupId: string, ok: boolean, report: unknown): void {
    this.db
      .prepare('UPDATE backups SET verified_at = ?, verify_ok = ?, verify_report = ? WHERE backup_id = ?')
      .run(new Date().toISOString(), ok ? 1 : 0, JSON.stringify(report), backupId);
  }

  recordOffsite(backupId: string, copy: string): void {
    this.db.prepare('UPDATE backups SET offsite_copy = ? WHERE backup_id = ?').run(copy, backupId);
  }

  markRemoved(backupId: string): void {
    this.db
      .prepare('UPDATE backups SET removed_at = ? WHERE backup_id = ?')
      .run(new Date().toISOString(), backupId);
  }

  get(backupId: string): CatalogEntry | undefined {
    return this.db.prepare(`SELECT ${COLUMNS} FROM backups WHERE backup_id = ?`).get(backupId) as
      CatalogEntry | undefined;
  }

  manifest(backupId: string): Manifest | undefined {
    const row = this.db.prepare('SELECT manifest FROM backups WHERE backup_id = ?').get(backupId) as
      { manifest: string } | undefined;
    return row ? (JSON.parse(row.manifest) as Manifest) : undefined;
  }

  /** Backups present (not removed), newest first; all targets when `target` is undefined. */
  list(target?: string): CatalogEntry[] {
    const where = target === undefined ? 'removed_at IS NULL' : 'removed_at IS NULL AND target = ?';
    const stmt = this.db.prepare(
      `SELECT ${COLUMNS} FROM backups WHERE ${where} ORDER BY created_at DESC, backup_id DESC`,
    );
    return (target === undefined ? stmt.all() : stmt.all(target)) as CatalogEntry[];
  }

  close(): void {
    this.db.close();
  }
}
