/**
 * The catalog's schema version 2 (manifests in a table of their own): a version 1 catalog is read
 * as it is when opened read-only, moved over whole when opened for writing, and a newer one is
 * refused; updates of a backup's row leave its manifest alone. Real SQLite files in a temp folder.
 */
import Database from 'better-sqlite3';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Catalog } from '../activities/lib/catalog';
import type { Manifest } from '../activities/lib/manifest';

let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lifeboat-catalog-schema-'));
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

const manifest = (backupId: string): Manifest => ({
  specVersion: 1,
  backupId,
  kind: 'full',
  target: 't',
  createdAt: '2026-12-01T00:00:00.000Z',
  createdBy: 'test',
  engineVersion: '1.0',
  modules: [],
  files: [
    {
      path: 'a.txt',
      kind: 'file',
      size: 1,
      sha256: 'a'.repeat(64),
      mode: 0o644,
      mtimeMs: 1,
      storedIn: backupId,
    },
  ],
  deleted: [],
});

/** A catalog as Lifeboat wrote it at schema version 1: manifests in the backups rows. */
function versionOneCatalog(file: string): void {
  const db = new Database(file);
  db.exec(`
    CREATE TABLE backups (backup_id TEXT PRIMARY KEY, target TEXT NOT NULL, kind TEXT NOT NULL, parent TEXT,
      created_at TEXT NOT NULL, archive TEXT NOT NULL, archive_size INTEGER NOT NULL, archive_sha256 TEXT NOT NULL,
      files INTEGER NOT NULL, bytes INTEGER NOT NULL, manifest TEXT NOT NULL, verified_at TEXT, verify_ok INTEGER,
      verify_report TEXT, offsite_copy TEXT, removed_at TEXT, origin TEXT, signed_by TEXT, manifest_sha256 TEXT,
      held_by TEXT);
    CREATE TABLE lifeboat_schema (store TEXT PRIMARY KEY, version INTEGER NOT NULL, at TEXT NOT NULL);
    INSERT INTO lifeboat_schema VALUES ('catalog', 1, '2026-11-01T00:00:00.000Z');`);
  const row = db.prepare(
    `INSERT INTO backups (backup_id, target, kind, created_at, archive, archive_size, archive_sha256, files, bytes, manifest, held_by)
     VALUES (?, 't', 'full', '2026-12-01T00:00:00.000Z', ?, 10, ?, 1, 1, ?, ?)`,
  );
  row.run('own', path.join(dir, 'own.lbk'), 'b'.repeat(64), JSON.stringify(manifest('own')), null);
  row.run('agents', '/elsewhere/agents.lbk', 'c'.repeat(64), 'null', 'agent-1');
  db.close();
}

function versionOf(file: string): number {
  const db = new Database(file, { readonly: true });
  try {
    return (
      db.prepare("SELECT version FROM lifeboat_schema WHERE store = 'catalog'").get() as { version: number }
    ).version;
  } finally {
    db.close();
  }
}

test('a version 1 catalog is read as it is read-only, and moved over whole when opened for writing', () => {
  const file = path.join(dir, 'catalog.sqlite');
  versionOneCatalog(file);
  const reader = new Catalog(file, { readonly: true });
  expect(reader.manifest('own')).toEqual(manifest('own'));
  expect(reader.manifest('agents')).toBeUndefined();
  expect(versionOf(file)).toBe(1);

  const writer = new Catalog(file);
  expect(versionOf(file)).toBe(2);
  // The way back: the file as version 1 had it, kept beside it before the move.
  const before = `${file}.before-catalog-schema-2`;
  expect(versionOf(before)).toBe(1);
  const old = new Database(before, { readonly: true });
  expect(old.prepare("SELECT manifest FROM backups WHERE backup_id = 'own'").get()).toEqual({
    manifest: JSON.stringify(manifest('own')),
  });
  old.close();
  expect(fs.readdirSync(dir).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  expect(writer.manifest('own')).toEqual(manifest('own'));
  expect(writer.manifest('agents')).toBeUndefined();
  expect(writer.get('own')).toMatchObject({ backupId: 'own', archiveSha256: 'b'.repeat(64) });
  const raw = new Database(file, { readonly: true });
  expect(
    raw.prepare('SELECT backup_id, length(manifest) AS n FROM backups ORDER BY backup_id').all(),
  ).toEqual([
    { backup_id: 'agents', n: 0 },
    { backup_id: 'own', n: 0 },
  ]);
  expect(raw.prepare('SELECT backup_id FROM manifests').all()).toEqual([{ backup_id: 'own' }]);
  raw.close();
  // The reader opened before the move still finds the manifest.
  expect(reader.manifest('own')).toEqual(manifest('own'));
  reader.close();
  writer.close();
  // Opening it again moves nothing twice.
  const again = new Catalog(file);
  expect(again.manifest('own')).toEqual(manifest('own'));
  again.close();
});

test("updates of a backup's row leave its manifest in its own table; an agent's backup has none here", () => {
  const file = path.join(dir, 'catalog.sqlite');
  const catalog = new Catalog(file);
  const entry = {
    backupId: 'b1',
    target: 't',
    kind: 'full' as const,
    parent: null,
    createdAt: '2026-12-01T00:00:00.000Z',
    archive: '/r/b1.lbk',
    archiveSize: 10,
    archiveSha256: 'd'.repeat(64),
    files: 1,
    bytes: 1,
  };
  catalog.record(entry, manifest('b1'));
  catalog.recordVerification('b1', true, { ok: true });
  catalog.recordOffsite('b1', '/offsite/b1.lbk');
  catalog.useArchive('b1', '/offsite/b1.lbk');
  expect(catalog.get('b1')).toMatchObject({
    verifyOk: 1,
    offsiteCopy: '/offsite/b1.lbk',
    archive: '/offsite/b1.lbk',
  });
  expect(catalog.manifest('b1')).toEqual(manifest('b1'));
  // Its summary: the manifest's other fields, and its files counted, not kept.
  const { files, ...rest } = manifest('b1');
  expect(catalog.manifestSummary('b1')).toEqual({ ...rest, fileCount: files.length, fileBytes: 1 });
  expect(catalog.manifestSummary('nothing')).toBeUndefined();
  // Recorded again (a retry): the manifest is replaced, not doubled.
  const other = { ...manifest('b1'), createdBy: 'retry' };
  catalog.record(entry, other);
  expect(catalog.manifest('b1')).toEqual(other);
  // The control plane mirrors the row of an agent's backup: the manifest stays on the agent's host.
  catalog.mirror(catalog.get('b1')!, 'agent-1');
  expect(catalog.manifest('b1')).toBeUndefined();
  expect(catalog.get('b1')).toMatchObject({ heldBy: 'agent-1', archive: '/r/b1.lbk', verifyOk: 1 });
  catalog.close();
});

test('a catalog of a newer schema is refused, read-only or not, and left as it is', () => {
  const file = path.join(dir, 'catalog.sqlite');
  new Catalog(file).close();
  const db = new Database(file);
  db.prepare("UPDATE lifeboat_schema SET version = 3 WHERE store = 'catalog'").run();
  db.close();
  const refusal =
    /the backup catalog at .* has schema version 3, newer than this Lifeboat knows \(2\): upgrade Lifeboat/;
  expect(() => new Catalog(file)).toThrow(refusal);
  expect(() => new Catalog(file, { readonly: true })).toThrow(refusal);
  expect(versionOf(file)).toBe(3);
});
