/**
 * A verification's database checks (activities/lib/databaseChecks.ts), on real archives and real
 * SQLite files: a database the backup's last verification found sound keeps that result while its
 * bytes (SHA-256) and the SQLite library are the same; anything else is checked again, and bytes that
 * differ from the checked ones fail the verification.
 */
import Database from 'better-sqlite3';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createStorageActivities } from '../activities';
import { Catalog } from '../activities/lib/catalog';
import { earlierChecks, sqliteVersion, type DatabaseCheck } from '../activities/lib/databaseChecks';
import { writeStorageRoot } from '../scripts/storage-root';
import { tempDir, writeConfig } from './helpers';

const PASSPHRASE_ENV = 'LIFEBOAT_TEST_CHECKS_PASSPHRASE';
let dir: string;
let root: string;
let catalog: Catalog;
let acts: ReturnType<typeof createStorageActivities>;

/** A database that opens but fails integrity_check: its index was redefined over another column. */
function writeDamagedDatabase(file: string): void {
  const db = new Database(file);
  db.exec('CREATE TABLE t (a INTEGER, b INTEGER); CREATE INDEX i ON t (a);');
  const insert = db.prepare('INSERT INTO t VALUES (?, ?)');
  for (let k = 0; k < 50; k += 1) insert.run(k, 1000 - k);
  db.unsafeMode(true);
  db.pragma('writable_schema = ON');
  db.prepare("UPDATE sqlite_master SET sql = 'CREATE INDEX i ON t (b)' WHERE name = 'i'").run();
  db.pragma('writable_schema = OFF');
  db.close();
}

/** Rewrites the catalog's record of a backup's last verification. */
function setReport(backupId: string, ok: boolean, report: unknown): void {
  const db = new Database(path.join(dir, 'catalog.sqlite'));
  db.prepare('UPDATE backups SET verify_ok = ?, verify_report = ? WHERE backup_id = ?').run(
    ok ? 1 : 0,
    JSON.stringify(report),
    backupId,
  );
  db.close();
}

function reportOf(backupId: string): { ok: boolean; databases: DatabaseCheck[] } {
  return JSON.parse(catalog.get(backupId)!.verifyReport!) as { ok: boolean; databases: DatabaseCheck[] };
}

beforeAll(() => {
  process.env[PASSPHRASE_ENV] = 'checks-test-passphrase';
  dir = tempDir('checks');
  root = path.join(dir, 'root');
  writeStorageRoot(root, { seed: 3 });
  const { config } = writeConfig(dir, {
    auditLedger: 'audit.sqlite',
    catalog: 'catalog.sqlite',
    targets: {
      checks: {
        root,
        repository: path.join(dir, 'repo'),
        encryption: { passphraseEnv: PASSPHRASE_ENV },
        restoreInto: { out: path.join(dir, 'out') },
      },
    },
  });
  catalog = new Catalog(config.catalog);
  acts = createStorageActivities(config, catalog);
});

afterAll(() => {
  catalog.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

test("a second verification keeps the first one's database checks for the same bytes; recheckDatabases checks again", async () => {
  await acts.writeBackup('checks', { backupId: 'reuse-full', kind: 'full', createdBy: 'test' });
  const manifest = catalog.manifest('reuse-full')!;
  const shaOf = (p: string) => manifest.files.find((f) => f.path === p)!.sha256;

  const first = await acts.verifyBackup('checks', 'reuse-full');
  expect(first.ok).toBe(true);
  expect(first.databases.length).toBeGreaterThanOrEqual(3);
  for (const d of first.databases) {
    expect(d).toMatchObject({ integrity: 'ok', sha256: shaOf(d.path), sqlite: sqliteVersion() });
    expect(d.reused).toBeUndefined();
    expect(Date.parse(d.checkedAt!)).toBeGreaterThan(Date.now() - 60_000);
  }
  // In archive order, as the archive holds them.
  const paths = first.databases.map((d) => d.path);
  expect(paths).toEqual(manifest.files.filter((f) => f.kind === 'sqlite').map((f) => f.path));

  const second = await acts.verifyBackup('checks', 'reuse-full');
  expect(second.ok).toBe(true);
  expect(second.databases).toEqual(first.databases.map((d) => ({ ...d, reused: true })));
  // What is recorded keeps the time of the real check, so a third reading still names it.
  expect(reportOf('reuse-full').databases.every((d, i) => d.checkedAt === first.databases[i].checkedAt)).toBe(
    true,
  );

  const again = await acts.verifyBackup('checks', 'reuse-full', { recheckDatabases: true });
  expect(again.ok).toBe(true);
  expect(again.databases.some((d) => d.reused)).toBe(false);
  expect(again.databases.map((d) => d.sha256)).toEqual(first.databases.map((d) => d.sha256));
});

test('a check made under another SQLite, or by a failed verification, is not reused; other bytes fail', async () => {
  await acts.writeBackup('checks', { backupId: 'stale-full', kind: 'full', createdBy: 'test' });
  const first = await acts.verifyBackup('checks', 'stale-full');
  expect(first.ok).toBe(true);
  const [one, ...rest] = first.databases;

  // Another SQLite library checked the first database: checked again; the others keep their result.
  setReport('stale-full', true, { ...first, databases: [{ ...one, sqlite: '3.0.0' }, ...rest] });
  const afterUpgrade = await acts.verifyBackup('checks', 'stale-full');
  expect(afterUpgrade.ok).toBe(true);
  expect(afterUpgrade.databases[0].reused).toBeUndefined();
  expect(afterUpgrade.databases[0].checkedAt).not.toBe(one.checkedAt);
  expect(afterUpgrade.databases.slice(1).every((d) => d.reused)).toBe(true);

  // A failed verification's findings are never taken over.
  setReport('stale-full', false, first);
  const afterFailure = await acts.verifyBackup('checks', 'stale-full');
  expect(afterFailure.databases.some((d) => d.reused)).toBe(false);

  // Recorded bytes other than the archive's: there is nothing to check, the verification fails.
  const other = { ...one, sha256: 'ab'.repeat(32) };
  setReport('stale-full', true, { ...first, databases: [other, ...rest] });
  const mismatch = await acts.verifyBackup('checks', 'stale-full');
  expect(mismatch.ok).toBe(false);
  expect(mismatch.errorType).toBe('ChecksumMismatch');
  expect(mismatch.problem).toContain(
    `database ${JSON.stringify(one.path)} is not the one checked at ${one.checkedAt}`,
  );
  // That failure is recorded: the next verification checks every database itself, and passes.
  const recovered = await acts.verifyBackup('checks', 'stale-full');
  expect(recovered.ok).toBe(true);
  expect(recovered.databases.some((d) => d.reused)).toBe(false);
});

test('a database that fails integrity_check fails every verification, never reused', async () => {
  const damaged = path.join(root, 'damaged.db');
  writeDamagedDatabase(damaged);
  try {
    await acts.writeBackup('checks', { backupId: 'damaged-full', kind: 'full', createdBy: 'test' });
    for (let i = 0; i < 2; i += 1) {
      const report = await acts.verifyBackup('checks', 'damaged-full');
      expect(report.ok).toBe(false);
      expect(report.errorType).toBe('IntegrityFailure');
      expect(report.problem).toMatch(
        /database integrity check failed: damaged\.db: row \d+ missing from index i/,
      );
      expect(report.databases.find((d) => d.path === 'damaged.db')!.reused).toBeUndefined();
    }
  } finally {
    fs.rmSync(damaged, { force: true });
  }
});

test('restored databases in the bytes a verification found sound keep its check, unless a journal with content lies beside them', async () => {
  await acts.writeBackup('checks', { backupId: 'restored-full', kind: 'full', createdBy: 'test' });
  const staged = await acts.stageRestore('checks', 'restored-full', 'before-verify', { into: 'out' });
  const count = catalog.manifest('restored-full')!.files.filter((f) => f.kind === 'sqlite').length;
  // Not verified yet: every database is checked.
  expect(await acts.verifyRestoredRoot('checks', 'restored-full', { dir: staged.staging })).toMatchObject({
    databases: count,
    databasesCheckedBefore: 0,
  });
  expect((await acts.verifyBackup('checks', 'restored-full')).ok).toBe(true);
  expect(await acts.verifyRestoredRoot('checks', 'restored-full', { dir: staged.staging })).toMatchObject({
    databases: count,
    databasesCheckedBefore: count,
  });
  // A journal with content beside a database: SQLite reads it too, so that database is checked in
  // place (here SQLite refuses to open it read-only with what it takes for a hot journal).
  fs.writeFileSync(path.join(staged.staging, 'core.db-journal'), 'x');
  await expect(
    acts.verifyRestoredRoot('checks', 'restored-full', { dir: staged.staging, paths: ['core.db'] }),
  ).rejects.toThrow(/attempt to write a readonly database/);
  await expect(
    acts.verifyRestoredRoot('checks', 'restored-full', {
      dir: staged.staging,
      paths: ['projects/p0/project.db'],
    }),
  ).resolves.toMatchObject({ databases: 1, databasesCheckedBefore: 1 });
  fs.rmSync(path.join(staged.staging, 'core.db-journal'));
  // What the backup does not hold is named (the WAL and shared-memory files the checks of these WAL
  // databases left beside them are not).
  fs.writeFileSync(path.join(staged.staging, 'stray.txt'), 'not restored');
  await expect(acts.verifyRestoredRoot('checks', 'restored-full', { dir: staged.staging })).rejects.toThrow(
    /^the restored root does not match backup restored-full: stray\.txt is not in the backup$/,
  );
  fs.rmSync(path.join(staged.staging, 'stray.txt'));
  // Other bytes are checked, and reported as differing.
  const db = new Database(path.join(staged.staging, 'core.db'));
  db.exec('CREATE TABLE added (x)');
  db.close();
  await expect(
    acts.verifyRestoredRoot('checks', 'restored-full', { dir: staged.staging, paths: ['core.db'] }),
  ).rejects.toThrow(/core\.db differs from the backup/);
});

test('verifyRestoredRoot names files missing or differing, small ones (read synchronously) and large ones alike', async () => {
  await acts.writeBackup('checks', { backupId: 'files-full', kind: 'full', createdBy: 'test' });
  const staged = await acts.stageRestore('checks', 'files-full', 'files', { into: 'out' });
  const files = catalog.manifest('files-full')!.files.filter((f) => f.kind === 'file');
  const small = files.filter((f) => f.size <= 64 * 1024);
  const large = files.filter((f) => f.size > 64 * 1024);
  expect(small.length).toBeGreaterThanOrEqual(2);
  expect(large.length).toBeGreaterThanOrEqual(2);
  const at = (p: string) => path.join(staged.staging, ...p.split('/'));
  fs.rmSync(at(small[0].path));
  fs.appendFileSync(at(small[1].path), ' ');
  fs.rmSync(at(large[0].path));
  fs.appendFileSync(at(large[1].path), ' ');
  const failure = await acts
    .verifyRestoredRoot('checks', 'files-full', { dir: staged.staging })
    .catch((e: Error) => e);
  expect(failure).toBeInstanceOf(Error);
  const listed = (failure as Error).message.replace(
    /^the restored root does not match backup files-full: /,
    '',
  );
  expect(listed.split('; ')).toEqual(
    [
      `${small[0].path} is missing`,
      `${small[1].path} differs from the backup`,
      `${large[0].path} is missing`,
      `${large[1].path} differs from the backup`,
    ].sort(),
  );
});

test('earlierChecks takes only sound, complete records of this SQLite', () => {
  const sha = 'cd'.repeat(32);
  const good = {
    path: 'a.db',
    integrity: 'ok',
    sha256: sha,
    sqlite: sqliteVersion(),
    checkedAt: '2026-01-01T00:00:00.000Z',
  };
  const report = (databases: unknown[], ok: unknown = true) => JSON.stringify({ ok, databases });
  expect([...earlierChecks(report([good])).values()]).toEqual([good]);
  for (const text of [
    null,
    '',
    'not json',
    'null',
    '[]',
    report([good], false),
    report([good], 'true'),
    JSON.stringify({ ok: true, databases: 'a.db' }),
    report([{ ...good, integrity: 'row 1 missing from index i' }]),
    report([{ ...good, sha256: 'CD'.repeat(32) }]),
    report([{ ...good, sha256: sha.slice(1) }]),
    report([{ ...good, sqlite: '3.0.0' }]),
    report([{ ...good, checkedAt: undefined }]),
    report([{ ...good, path: 7 }]),
    report([null, 5, 'a.db']),
  ])
    expect(earlierChecks(text).size).toBe(0);
});
