/**
 * The catalog's schema version 3 (manifests apart from the backups' rows, in parts of at most
 * 1 MiB): a version 1 or 2 catalog is read as it is when opened read-only, moved over whole when
 * opened for writing (a copy of it kept beside it), and a newer one is refused; updates of a
 * backup's row leave its manifest alone. Real SQLite files in a temp folder.
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

const manifest = (backupId: string, count = 1): Manifest => ({
  specVersion: 1,
  backupId,
  kind: 'full',
  target: 't',
  createdAt: '2026-12-01T00:00:00.000Z',
  createdBy: 'test',
  engineVersion: '1.0',
  modules: [],
  files: Array.from({ length: count }, (_, i) => ({
    path: i === 0 ? 'a.txt' : `folder-${i % 97}/a file with a longer name, number ${i}.txt`,
    kind: 'file' as const,
    size: 1,
    sha256: 'a'.repeat(64),
    mode: 0o644,
    mtimeMs: 1,
    storedIn: backupId,
  })),
  deleted: [],
});

/** More than two 1 MiB parts of JSON. */
const MANY = 12000;

/**
 * A catalog as Lifeboat wrote it at schema version 1 (manifests in the backups rows) or 2 (in a
 * table of their own, the rows keeping an empty text): one backup of its own of MANY files, and
 * one an agent reported, whose manifest stays on the agent's host.
 */
function olderCatalog(file: string, version: 1 | 2): void {
  const db = new Database(file);
  db.exec(`
    CREATE TABLE backups (backup_id TEXT PRIMARY KEY, target TEXT NOT NULL, kind TEXT NOT NULL, parent TEXT,
      created_at TEXT NOT NULL, archive TEXT NOT NULL, archive_size INTEGER NOT NULL, archive_sha256 TEXT NOT NULL,
      files INTEGER NOT NULL, bytes INTEGER NOT NULL, manifest TEXT NOT NULL, verified_at TEXT, verify_ok INTEGER,
      verify_report TEXT, offsite_copy TEXT, removed_at TEXT, origin TEXT, signed_by TEXT, manifest_sha256 TEXT,
      held_by TEXT);
    CREATE TABLE lifeboat_schema (store TEXT PRIMARY KEY, version INTEGER NOT NULL, at TEXT NOT NULL);
    ${version === 2 ? 'CREATE TABLE manifests (backup_id TEXT PRIMARY KEY, manifest TEXT NOT NULL);' : ''}
    INSERT INTO lifeboat_schema VALUES ('catalog', ${version}, '2026-11-01T00:00:00.000Z');`);
  const row = db.prepare(
    `INSERT INTO backups (backup_id, target, kind, created_at, archive, archive_size, archive_sha256, files, bytes, manifest, held_by)
     VALUES (?, 't', 'full', '2026-12-01T00:00:00.000Z', ?, 10, ?, 1, 1, ?, ?)`,
  );
  const text = JSON.stringify(manifest('own', MANY));
  row.run('own', path.join(dir, 'own.lbk'), 'b'.repeat(64), version === 1 ? text : '', null);
  row.run('agents', '/elsewhere/agents.lbk', 'c'.repeat(64), version === 1 ? 'null' : '', 'agent-1');
  if (version === 2) db.prepare("INSERT INTO manifests VALUES ('own', ?)").run(text);
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

test.each([1, 2] as const)(
  'a version %i catalog is read as it is read-only, and moved over whole when opened for writing',
  (version) => {
    const file = path.join(dir, 'catalog.sqlite');
    olderCatalog(file, version);
    const big = manifest('own', MANY);
    const reader = new Catalog(file, { readonly: true });
    expect(reader.manifest('own')).toEqual(big);
    expect(reader.manifest('agents')).toBeUndefined();
    expect(versionOf(file)).toBe(version);

    const writer = new Catalog(file);
    expect(versionOf(file)).toBe(3);
    // The way back: the file as it was, kept beside it before the move.
    const before = `${file}.before-catalog-schema-3`;
    expect(versionOf(before)).toBe(version);
    const old = new Database(before, { readonly: true });
    const where = version === 1 ? 'backups' : 'manifests';
    expect(old.prepare(`SELECT manifest FROM ${where} WHERE backup_id = 'own'`).get()).toEqual({
      manifest: JSON.stringify(big),
    });
    old.close();
    expect(fs.readdirSync(dir).filter((f) => f.endsWith('.tmp'))).toEqual([]);
    expect(writer.manifest('own')).toEqual(big);
    expect(writer.manifest('agents')).toBeUndefined();
    expect(writer.get('own')).toMatchObject({ backupId: 'own', archiveSha256: 'b'.repeat(64) });
    const raw = new Database(file, { readonly: true });
    expect(
      raw.prepare('SELECT backup_id, length(manifest) AS n FROM backups ORDER BY backup_id').all(),
    ).toEqual([
      { backup_id: 'agents', n: 0 },
      { backup_id: 'own', n: 0 },
    ]);
    // In parts of 1 MiB, the last one shorter, whose bytes are the text.
    const parts = raw
      .prepare('SELECT backup_id, part, bytes FROM manifest_parts ORDER BY backup_id, part')
      .all() as { backup_id: string; part: number; bytes: Buffer }[];
    const text = Buffer.from(JSON.stringify(big));
    expect(parts.map((p) => [p.backup_id, p.part])).toEqual(
      Array.from({ length: Math.ceil(text.length / 2 ** 20) }, (_, i) => ['own', i]),
    );
    expect(parts.length).toBeGreaterThan(2);
    expect(parts.slice(0, -1).every((p) => p.bytes.length === 2 ** 20)).toBe(true);
    expect(Buffer.concat(parts.map((p) => p.bytes)).equals(text)).toBe(true);
    expect(
      raw.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'manifests'").all(),
    ).toEqual([]);
    raw.close();
    // The reader opened before the move finds the manifest where it is now.
    expect(reader.manifest('own')).toEqual(big);
    reader.close();
    writer.close();
    // Opening it again moves nothing twice.
    const again = new Catalog(file);
    expect(again.manifest('own')).toEqual(big);
    again.close();
  },
);

test("updates of a backup's row leave its manifest in its parts; an agent's backup has none here", () => {
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
  // Recorded again (a retry): the manifest is replaced, not doubled, nor its old parts left after
  // a shorter one's.
  catalog.record(entry, manifest('b1', MANY));
  expect(catalog.manifest('b1')).toEqual(manifest('b1', MANY));
  const other = { ...manifest('b1'), createdBy: 'retry' };
  catalog.record(entry, other);
  expect(catalog.manifest('b1')).toEqual(other);
  const pieces: Buffer[] = [];
  expect(catalog.manifestPieces('b1', (piece) => pieces.push(piece))).toBe(true);
  expect(Buffer.concat(pieces).toString()).toBe(JSON.stringify(other));
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
  db.prepare("UPDATE lifeboat_schema SET version = 4 WHERE store = 'catalog'").run();
  db.close();
  const refusal =
    /the backup catalog at .* has schema version 4, newer than this Lifeboat knows \(3\): upgrade Lifeboat/;
  expect(() => new Catalog(file)).toThrow(refusal);
  expect(() => new Catalog(file, { readonly: true })).toThrow(refusal);
  expect(versionOf(file)).toBe(4);
});
