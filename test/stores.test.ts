/**
 * The control plane's stores, one suite run against each engine (SQLite files; a real PostgreSQL 15
 * started by the test): the ledger's chain, idempotent appends, appends from several writers at once
 * staying one chain, UPDATE and DELETE refused by the database itself, a row edited around that
 * caught by verify, nonces; the records (catalog of record and registry); a schema newer than this
 * Lifeboat refused at open.
 */
import Database from 'better-sqlite3';
import * as path from 'node:path';
import { Client } from 'pg';
import type { AuditEventInput } from '../common/types';
import type { LifeboatConfig } from '../config';
import { openStores, type Stores } from '../activities/lib/stores';
import type { CatalogEntry } from '../activities/lib/catalog';
import { startPostgres, type TestPostgres } from './postgres';
import { lifeboat, storeTargetConfig, tempDir, writeConfig } from './helpers';

const PASSWORD_ENV = 'LIFEBOAT_TEST_STORES_PASSWORD';
let pg: TestPostgres;
let databases = 0;

beforeAll(async () => {
  pg = await startPostgres('stores');
  process.env[PASSWORD_ENV] = pg.password;
}, 60_000);

afterAll(() => pg?.stop());

/** A control plane's config on `engine`: a fresh folder, and a fresh database for PostgreSQL. */
async function configOn(engine: string): Promise<LifeboatConfig> {
  const dir = tempDir(`stores-${engine}`);
  const raw: Record<string, unknown> = {
    auditLedger: 'audit.sqlite',
    targets: { own: storeTargetConfig(path.join(dir, 'own')) },
  };
  if (engine === 'postgres') {
    const db = `stores_${(databases += 1)}`;
    await pg.createDatabase(db);
    raw.database = { url: pg.url(db), passwordEnv: PASSWORD_ENV };
  }
  return writeConfig(dir, raw).config;
}

const event = (key: string, n = 0): AuditEventInput => ({
  eventKey: key,
  at: new Date(Date.UTC(2026, 10, 30, 12, 0, n)).toISOString(),
  workflowId: `wf-${key.split('/')[0]}`,
  runId: 'run-1',
  runbook: 'restore',
  target: 'own',
  step: 'swap',
  event: 'step.succeeded',
  actor: 'system',
  details: { n },
});

const entry = (id: string, target: string, createdAt: string): CatalogEntry => ({
  backupId: id,
  target,
  kind: 'full',
  parent: null,
  createdAt,
  archive: `/backups/${id}.lbk`,
  archiveSize: 5_000_000_000,
  archiveSha256: 'a'.repeat(64),
  files: 12,
  bytes: 4_000_000_000,
  verifiedAt: null,
  verifyOk: null,
  verifyReport: null,
  offsiteCopy: null,
  removedAt: null,
  origin: 'made',
  signedBy: null,
  manifestSha256: 'b'.repeat(64),
  heldBy: 'host-a',
});

/** Runs SQL on the engine's store directly, as someone going around Lifeboat would. */
async function rawly(config: LifeboatConfig, sql: string, asSuperuser = false): Promise<void> {
  if (!config.database) {
    const db = new Database(config.auditLedger);
    try {
      db.exec(sql);
    } catch (err) {
      // Why a new Error: the native module, loaded once per jest worker, builds its errors in the
      // realm of the first test file that loaded it, which `rejects.toThrow` in another file does
      // not take for an error ("did not throw": two fresh-clone runs failed so).
      throw new Error((err as Error).message);
    } finally {
      db.close();
    }
    return;
  }
  const db = new URL(config.database.url).pathname.slice(1);
  if (asSuperuser) return pg.superuser(sql, db);
  const client = new Client({
    host: '127.0.0.1',
    port: pg.port,
    user: 'lifeboat',
    password: pg.password,
    database: db,
  });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

describe.each(['sqlite', 'postgres'])('the stores on %s', (engine) => {
  let config: LifeboatConfig;
  let stores: Stores;

  beforeEach(async () => {
    config = await configOn(engine);
    stores = await openStores(config);
    expect(stores.engine).toBe(engine);
  });
  afterEach(async () => stores?.close());

  test('appends chain, and an event whose key is present is written once (activity retries)', async () => {
    expect(await stores.ledger.append([event('a/1', 1), event('a/2', 2), event('a/1', 1)])).toEqual({
      appended: 2,
      present: 1,
    });
    expect(await stores.ledger.append([event('a/2', 2), event('a/3', 3)])).toEqual({
      appended: 1,
      present: 1,
    });
    expect(await stores.ledger.count()).toBe(3);
    expect(await stores.ledger.has('a/3')).toBe(true);
    expect(await stores.ledger.has('a/4')).toBe(false);
    const rows = await stores.ledger.forWorkflow('wf-a');
    expect(rows.map((r) => [r.seq, r.eventKey])).toEqual([
      [1, 'a/1'],
      [2, 'a/2'],
      [3, 'a/3'],
    ]);
    expect(rows[1].prevHash).toBe(rows[0].hash);
    expect((await stores.ledger.head())?.seq).toBe(3);
    expect(await stores.ledger.verify()).toEqual({ ok: true, rows: 3 });
    expect((await stores.ledger.page(1, 1)).map((r) => r.seq)).toEqual([2]);
  });

  test('several writers at once stay one chain', async () => {
    // Three more connections (three "control-plane workers"), appending at the same time.
    const writers = await Promise.all([1, 2, 3].map(() => openStores(config)));
    try {
      await Promise.all(
        [stores, ...writers].flatMap((w, i) =>
          Array.from({ length: 25 }, (_, n) => w.ledger.append([event(`w${i}/${n}`, n)])),
        ),
      );
      // And the same events again (every activity retried): nothing more is written.
      await Promise.all(writers.map((w, i) => w.ledger.append([event(`w${i}/0`)])));
    } finally {
      await Promise.all(writers.map((w) => w.close()));
    }
    expect(await stores.ledger.verify()).toEqual({ ok: true, rows: 100 });
  }, 60_000);

  test('UPDATE and DELETE are refused by the database itself; a row edited around that is caught', async () => {
    await stores.ledger.append([event('t/1', 1), event('t/2', 2), event('t/3', 3)]);
    await expect(rawly(config, "UPDATE audit_events SET actor = 'mallory' WHERE seq = 2")).rejects.toThrow(
      /append-only/,
    );
    await expect(rawly(config, 'DELETE FROM audit_events WHERE seq = 3')).rejects.toThrow(/append-only/);
    // A superuser (or someone with the file) goes around the triggers.
    await rawly(
      config,
      engine === 'sqlite'
        ? "DROP TRIGGER audit_events_no_update; UPDATE audit_events SET actor = 'mallory' WHERE seq = 2"
        : "ALTER TABLE audit_events DISABLE TRIGGER audit_events_no_change; UPDATE audit_events SET actor = 'mallory' WHERE seq = 2",
      true,
    );
    expect(await stores.ledger.verify()).toMatchObject({ ok: false, brokenSeq: 2 });
  });

  test('a nonce is claimed once; a retry of the same verification finds its own claim', async () => {
    expect(await stores.ledger.claimNonce('n1', 'run/a/1', 'now')).toBe(true);
    expect(await stores.ledger.claimNonce('n1', 'run/a/1', 'later')).toBe(true);
    expect(await stores.ledger.claimNonce('n1', 'run/b/1', 'later')).toBe(false);
    await stores.ledger.keepSignerKey('FP', 'alice', 'armored-1', 'now');
    await stores.ledger.keepSignerKey('FP', 'alice', 'armored-2', 'later');
    expect(await stores.ledger.signerKey('FP')).toEqual({ identity: 'alice', armored: 'armored-1' });
  });

  test('the records: backups and drills as reported, the registry of agents', async () => {
    const records = stores.records;
    expect(await records.isEmpty()).toBe(true);
    await records.putBackup(entry('b1', 'storage', '2026-11-01T00:00:00.000Z'), 'host-a');
    await records.putBackup(entry('b2', 'storage', '2026-11-02T00:00:00.000Z'), 'host-a');
    await records.putBackup({ ...entry('b1', 'storage', '2026-11-01T00:00:00.000Z'), verifyOk: 1 }, 'host-a');
    await records.putBackup(
      { ...entry('b0', 'storage', '2026-10-01T00:00:00.000Z'), removedAt: 'x' },
      'host-a',
    );
    expect((await records.listBackups('storage')).map((e) => e.backupId)).toEqual(['b2', 'b1']);
    expect((await records.allBackups()).map((e) => e.backupId)).toEqual(['b0', 'b1', 'b2']);
    expect(await records.getBackup('b1')).toMatchObject({
      verifyOk: 1,
      archiveSize: 5_000_000_000,
      heldBy: 'host-a',
    });
    const drill = {
      drillId: 'd1',
      workflowId: 'drill-1',
      target: 'storage',
      scenario: 'fullRestore' as const,
      passed: true,
      startedAt: 'a',
      finishedAt: 'b',
      rtoSeconds: 12.5,
      rpoSeconds: 60,
      proofPath: '/p.json',
    };
    await records.putDrill(drill);
    expect(await records.listDrills('storage')).toEqual([drill]);

    const announce = (agent: string, targets: string[], key = `K-${agent}`) =>
      records.announce(
        {
          kind: 'lifeboat.agent',
          version: 1,
          agent,
          host: `${agent}.example`,
          build: 'lifeboat test',
          pid: 1,
          taskQueue: `q-${agent}`,
          timeoutSeconds: 60,
          activities: ['writeBackup'],
          targets: targets.map((name) => ({ name, sections: ['root'], labels: { site: agent } })),
          standby: agent === 'host-b' ? ['storage'] : [],
          at: '2026-11-30T00:00:00.000Z',
        },
        key,
        new Map([['own', "the control plane's own config"]]),
      );
    expect(await announce('host-a', ['storage'])).toEqual({ conflicts: [] });
    expect((await announce('host-b', ['storage', 'own'])).conflicts).toEqual([
      "target 'storage' is held by agent 'host-a'; agent 'host-b' claims it too (if 'host-a' is gone for good: lifeboat agents forget host-a --as <you>)",
      "target 'own' is held by the control plane's own config; agent 'host-b' claims it too",
    ]);
    expect(await announce('host-b', [])).toEqual({ conflicts: [] });
    expect(await records.standsBy('host-b', 'storage')).toBe(true);
    expect((await records.target('storage'))?.agentRow?.name).toBe('host-a');
    expect(await records.forget('host-a', 'ops', 'now')).toEqual({ forgotten: true, targets: ['storage'] });
    expect((await announce('host-a', ['storage'])).conflicts[0]).toMatch(/was forgotten at now by ops/);
    expect((await records.agents()).map((a) => a.name)).toEqual(['host-b']);
    await records.recordDrillTarget({
      name: 'storage@drill-x',
      base: 'storage',
      agent: 'host-b',
      approvals: 'automatic',
      gates: ['restore'],
      sections: ['root'],
      at: 'now',
    });
    expect(await records.drillTarget('storage@drill-x')).toMatchObject({
      agent: 'host-b',
      gates: ['restore'],
    });
    expect(await records.isEmpty()).toBe(false);
  });

  test('a store whose schema is newer than this Lifeboat knows is refused at open', async () => {
    await stores.close();
    const table = engine === 'sqlite' ? 'lifeboat_schema' : 'lifeboat_schema';
    await rawly(config, `UPDATE ${table} SET version = 99 WHERE store = 'ledger'`, true);
    await expect(openStores(config)).rejects.toThrow(
      /the audit ledger at .* has schema version 99, newer than this Lifeboat knows \(1\): upgrade Lifeboat/,
    );
    stores = await openStoresAfterFix(config, engine);
  });
});

/** Puts the version back so that afterEach can close an open store. */
async function openStoresAfterFix(config: LifeboatConfig, _engine: string): Promise<Stores> {
  await rawly(config, "UPDATE lifeboat_schema SET version = 1 WHERE store = 'ledger'", true);
  return openStores(config);
}

describe('PostgreSQL faults, in words that name what to fix', () => {
  test('unreachable at start: host and port named', async () => {
    const { config } = writeConfig(tempDir('stores-down'), {
      auditLedger: 'audit.sqlite',
      targets: { own: storeTargetConfig('/tmp/none') },
      database: { url: `postgres://lifeboat@127.0.0.1:${pg.port + 1}/lifeboat`, passwordEnv: PASSWORD_ENV },
    });
    await expect(openStores(config)).rejects.toThrow(
      new RegExp(`PostgreSQL at 127\\.0\\.0\\.1:${pg.port + 1} is unreachable \\(ECONNREFUSED\\)`),
    );
  });

  test('a wrong password: the variable is named, never the value', async () => {
    const env = 'LIFEBOAT_TEST_WRONG_PASSWORD';
    process.env[env] = 'not-the-password-xyz';
    const { config } = writeConfig(tempDir('stores-pw'), {
      auditLedger: 'audit.sqlite',
      targets: { own: storeTargetConfig('/tmp/none') },
      database: { url: pg.url(), passwordEnv: env },
    });
    const err = (await openStores(config).catch((e: unknown) => e)) as Error;
    expect(err.message).toMatch(
      /PostgreSQL at 127\.0\.0\.1:\d+ refused user 'lifeboat' \(wrong password\): check the password in the variable LIFEBOAT_TEST_WRONG_PASSWORD/,
    );
    expect(err.message).not.toContain('not-the-password-xyz');
  });

  test('stores in PostgreSQL are backed up by a dump: selfBackup without one is refused, naming it', () => {
    expect(() =>
      writeConfig(tempDir('stores-self'), {
        auditLedger: 'audit.sqlite',
        targets: { own: storeTargetConfig('/tmp/none') },
        database: { url: pg.url() },
        selfBackup: { repository: '/srv/self', encryption: { passphraseEnv: 'X' } },
      }),
    ).toThrow(/selfBackup\.dump is required when the stores are in PostgreSQL \(database\)/);
  });

  test('a database a store migrate did not finish copying into is refused by every worker', async () => {
    await pg.createDatabase('half_copied');
    const { config } = writeConfig(tempDir('stores-half'), {
      auditLedger: 'audit.sqlite',
      targets: { own: storeTargetConfig('/tmp/none') },
      database: { url: pg.url('half_copied'), passwordEnv: PASSWORD_ENV },
    });
    const copying = await openStores(config);
    await copying.markCopy!(true);
    await copying.ledger.append([event('half/1')]);
    await copying.close();
    for (const options of [{}, { readonly: true }])
      await expect(openStores(config, options)).rejects.toThrow(
        /lifeboat store migrate into postgres:\/\/lifeboat@127\.0\.0\.1:\d+\/half_copied did not finish \(started .*\): it holds part of a history/,
      );
  });

  test('the config refuses a password in the URL, naming the setting', () => {
    expect(() =>
      writeConfig(tempDir('stores-url'), {
        auditLedger: 'audit.sqlite',
        targets: { own: storeTargetConfig('/tmp/none') },
        database: { url: 'postgres://lifeboat:secret@db:5432/lifeboat' },
      }),
    ).toThrow(
      /database\.url must not hold a password: put it in the environment variable that database\.passwordEnv names/,
    );
  });
});

describe('lifeboat store migrate: SQLite into an empty PostgreSQL', () => {
  test('the chain arrives whole (hashes unchanged), the catalog with it; a second copy is refused; a superuser edit is caught by audit verify', async () => {
    const sqlite = await configOn('sqlite');
    const source = await openStores(sqlite);
    await source.ledger.append(Array.from({ length: 1203 }, (_, n) => event(`m/${n}`, n % 60)));
    await source.records.putBackup(entry('m-b1', 'storage', '2026-11-01T00:00:00.000Z'), 'host-a');
    await source.records.putDrill({
      drillId: 'm-d1',
      workflowId: 'drill',
      target: 'storage',
      scenario: 'hostLoss',
      passed: false,
      startedAt: 'a',
      finishedAt: 'b',
      rtoSeconds: 3,
      proofPath: '/p',
    });
    await source.records.putForgotten({ name: 'host-z', key: 'FPZ', at: 'then', actor: 'ops' });
    await source.ledger.keepSignerKey('FP-ALICE', 'alice', 'armored-alice', 'then');
    await source.ledger.claimNonce('nonce-used', 'wf/run/7', 'then');
    const head = (await source.ledger.head())!.hash;
    await source.close();

    await pg.createDatabase('migrated');
    const args = [
      'store',
      'migrate',
      '--ledger',
      sqlite.auditLedger,
      '--catalog',
      sqlite.catalog,
      '--to',
      pg.url('migrated'),
      '--password-env',
      PASSWORD_ENV,
    ];
    const env = { [PASSWORD_ENV]: pg.password };
    const copied = await lifeboat(args, env);
    expect(copied.stderr).not.toContain(pg.password);
    expect(copied.code).toBe(0);
    expect(copied.stderr).toContain('ledger: 1203 of 1203 rows copied');
    expect(copied.stdout).toContain(
      `audit ledger: 1203 rows copied to postgres://lifeboat@127.0.0.1:${pg.port}/migrated`,
    );
    expect(copied.stdout).toContain(`head ${head.slice(0, 16)}`);
    expect(copied.stdout).toContain('catalog: 1 backups, 1 drills, 1 forgotten agents copied');

    const { config: pgConfig, file } = writeConfig(tempDir('stores-migrated'), {
      auditLedger: 'audit.sqlite',
      targets: { own: storeTargetConfig('/tmp/none') },
      database: { url: pg.url('migrated'), passwordEnv: PASSWORD_ENV },
    });
    const target = await openStores(pgConfig);
    try {
      expect(await target.ledger.verify()).toEqual({ ok: true, rows: 1203 });
      expect((await target.ledger.head())!.hash).toBe(head);
      expect(await target.records.getBackup('m-b1')).toMatchObject({ heldBy: 'host-a' });
      expect((await target.records.listDrills()).map((d) => d.drillId)).toEqual(['m-d1']);
      // Signed decisions still verify there, and a used statement stays used.
      expect(await target.ledger.signerKey('FP-ALICE')).toEqual({
        identity: 'alice',
        armored: 'armored-alice',
      });
      expect(await target.ledger.claimNonce('nonce-used', 'someone/else/1', 'now')).toBe(false);
      expect(await target.records.forgottenAgents()).toEqual([
        { name: 'host-z', key: 'FPZ', at: 'then', actor: 'ops' },
      ]);
    } finally {
      await target.close();
    }

    // Again, from the SQLite control plane's config (its ledger and catalog): refused, the target is not empty.
    const sqliteConfig = path.join(path.dirname(sqlite.auditLedger), 'lifeboat.config.json');
    const again = await lifeboat(
      [
        'store',
        'migrate',
        '--from',
        sqliteConfig,
        '--to',
        pg.url('migrated'),
        '--password-env',
        PASSWORD_ENV,
      ],
      env,
    );
    expect(again.code).toBe(2);
    expect(again.stderr).toMatch(
      /already holds 1203 audit ledger rows: store migrate copies only into an empty store/,
    );

    expect((await lifeboat(['audit', 'verify', '--config', file], env)).stdout).toMatch(
      /chain intact \(1203 rows\)/,
    );
    await pg.superuser(
      'ALTER TABLE audit_events DISABLE TRIGGER audit_events_no_change; UPDATE audit_events SET details = \'{"n":99}\' WHERE seq = 700',
      'migrated',
    );
    const verified = await lifeboat(['audit', 'verify', '--config', file], env);
    expect(verified.code).toBe(1);
    expect(verified.stderr).toMatch(/chain BROKEN at row 700: its content does not match its hash/);
  }, 120_000);
});
