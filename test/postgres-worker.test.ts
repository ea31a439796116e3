/**
 * Control-plane workers on PostgreSQL (a real PostgreSQL 15 started by the test): a worker whose
 * database is unreachable, or refuses the password, exits naming host and port or the variable; two
 * workers on one database run recoveries at once and the ledger stays one chain; the database going
 * down mid-run is waited out (the ledger activity retries) and nothing is lost.
 */
import * as path from 'node:path';
import { Catalog, type CatalogEntry } from '../activities/lib/catalog';
import type { Manifest } from '../activities/lib/manifest';
import { openStores } from '../activities/lib/stores';
import type { RunOutcome } from '../common/types';
import { writeStoreFixture } from '../scripts/demo-data';
import {
  eventually,
  lifeboat,
  spawnTsx,
  startWorker,
  statusWhen,
  storeTargetConfig,
  tempDir,
  uniqueQueue,
  writeConfig,
  type TestWorker,
} from './helpers';
import { serverAddress } from './helpers';
import { pgProgram, startPostgres, type TestPostgres } from './postgres';
import * as fs from 'node:fs';

const PASSWORD_ENV = 'LIFEBOAT_TEST_PG_WORKER_PASSWORD';
let pg: TestPostgres;

beforeAll(async () => {
  pg = await startPostgres('worker');
  process.env[PASSWORD_ENV] = pg.password;
}, 60_000);

afterAll(() => pg?.stop());

function configWith(database: Record<string, unknown>, stores = 0) {
  const dir = tempDir('pg-worker');
  const targets: Record<string, unknown> = {};
  for (let i = 0; i < Math.max(1, stores); i += 1) {
    writeStoreFixture(path.join(dir, `s${i}`), 'corrupt', ['intact']);
    targets[`s${i}`] = storeTargetConfig(path.join(dir, `s${i}`), { restore: { automatic: true } });
  }
  const db = new URL(String(database.url));
  // Lifeboat's own state, in PostgreSQL: backed up as a pg_dump (the password from the same variable).
  const selfBackup = {
    repository: path.join(dir, 'self-repo'),
    encryption: { passphraseEnv: PASSWORD_ENV },
    dump: {
      argv: [
        'sh',
        '-c',
        `PGPASSWORD="$${PASSWORD_ENV}" exec "${pgProgram('pg_dump')}" --format=custom --file="$1" --host=${db.hostname} --port=${db.port} --username=lifeboat ${db.pathname.slice(1)}`,
        'sh',
        '{file}',
      ],
      file: path.join(dir, 'dump', 'lifeboat.pgdump'),
    },
  };
  return writeConfig(dir, { auditLedger: 'audit.sqlite', targets, database, selfBackup });
}

test('a worker whose database is unreachable, or refuses the password, exits naming what to fix', async () => {
  const start = (file: string, env: Record<string, string> = {}) =>
    spawnTsx('worker/main.ts', {
      LIFEBOAT_CONFIG: file,
      TEMPORAL_ADDRESS: serverAddress(),
      LIFEBOAT_TASK_QUEUE: uniqueQueue('pg-down'),
      ...env,
    });
  const down = start(
    configWith({ url: `postgres://lifeboat@127.0.0.1:${pg.port + 1}/lifeboat`, passwordEnv: PASSWORD_ENV })
      .file,
    { [PASSWORD_ENV]: pg.password },
  );
  expect(await down.exited).toBe(1);
  expect(down.output()).toMatch(
    new RegExp(`lifeboat worker: PostgreSQL at 127\\.0\\.0\\.1:${pg.port + 1} is unreachable`),
  );
  const refused = start(configWith({ url: pg.url(), passwordEnv: 'LIFEBOAT_TEST_BAD_PW' }).file, {
    LIFEBOAT_TEST_BAD_PW: 'wrong-secret-value',
  });
  expect(await refused.exited).toBe(1);
  expect(refused.output()).toMatch(
    /refused user 'lifeboat' \(wrong password\): check the password in the variable LIFEBOAT_TEST_BAD_PW/,
  );
  expect(refused.output()).not.toContain('wrong-secret-value');
}, 60_000);

test("a worker starting on PostgreSQL reports its own catalog rows, never an old copy of an agent's", async () => {
  await pg.createDatabase('start_report');
  const { config } = configWith({ url: pg.url('start_report'), passwordEnv: PASSWORD_ENV });
  const row = (over: Partial<CatalogEntry>): CatalogEntry => ({
    backupId: 'x',
    target: 't',
    kind: 'full',
    parent: null,
    createdAt: '2026-11-01T00:00:00.000Z',
    archive: '/a.lbk',
    archiveSize: 1,
    archiveSha256: 'a'.repeat(64),
    files: 1,
    bytes: 1,
    verifiedAt: null,
    verifyOk: null,
    verifyReport: null,
    offsiteCopy: null,
    removedAt: null,
    origin: 'made',
    signedBy: null,
    manifestSha256: null,
    heldBy: null,
    ...over,
  });
  // The agent has since reported its backup removed; the file still holds the copy store migrate made.
  const stores = await openStores(config);
  await stores.records.putBackup(row({ backupId: 'agents', target: 'far', removedAt: 'since' }), 'host-far');
  await stores.close();
  const file = new Catalog(config.catalog);
  file.mirror(row({ backupId: 'agents', target: 'far' }), 'host-far');
  file.record(row({ backupId: 'own', target: 's0' }), { files: [] } as unknown as Manifest);
  file.close();
  const worker = await startWorker(config, uniqueQueue('pg-start'));
  await worker.stop();
  const after = await openStores(config, { readonly: true });
  try {
    expect(await after.records.getBackup('agents')).toMatchObject({ removedAt: 'since', heldBy: 'host-far' });
    expect(await after.records.getBackup('own')).toMatchObject({ target: 's0', heldBy: null });
  } finally {
    await after.close();
  }
}, 120_000);

describe('two control-plane workers on one PostgreSQL', () => {
  let workers: TestWorker[] = [];
  let config: ReturnType<typeof configWith>;

  beforeAll(async () => {
    await pg.createDatabase('two_workers');
    config = configWith({ url: pg.url('two_workers'), passwordEnv: PASSWORD_ENV }, 5);
    const queue = uniqueQueue('pg-workers');
    workers = [await startWorker(config.config, queue), await startWorker(config.config, queue)];
  }, 120_000);

  afterAll(async () => {
    for (const w of workers) await w.stop();
  });

  const recover = (target: string) =>
    workers[0].client.workflow.start('corruptedStoreRecovery', {
      taskQueue: workers[0].taskQueue,
      workflowId: `pg-${target}-${Math.random().toString(36).slice(2, 8)}`,
      args: [{ target }],
    });

  test('runs at once on both workers: one chain, which audit verify accepts', async () => {
    const runs = await Promise.all(['s0', 's1', 's2', 's3'].map(recover));
    for (const run of runs) expect(((await run.result()) as RunOutcome).state).toBe('completed');
    const env = { [PASSWORD_ENV]: pg.password };
    const verified = await lifeboat(['audit', 'verify', '--config', config.file], env);
    expect(verified.stdout).toMatch(/chain intact \(\d+ rows\)/);
    expect(verified.code).toBe(0);
  }, 120_000);

  test("Lifeboat's own state is backed up as a dump of its database (selfBackup.dump)", async () => {
    const run = await workers[0].client.workflow.start('fullBackup', {
      taskQueue: workers[0].taskQueue,
      workflowId: `pg-self-${Math.random().toString(36).slice(2, 8)}`,
      args: [{ target: 'lifeboat-self' }],
    });
    // A step that waits at a failure fails the test with its reason rather than a timeout.
    const settled = await statusWhen(
      workers[0].client,
      run.workflowId,
      (s) => s.state !== 'running',
      'the backup to end',
      90_000,
    );
    expect(settled.waiting?.reason).toBeUndefined();
    const outcome = (await run.result()) as RunOutcome<{ files: number; verified: boolean }>;
    expect(outcome.state).toBe('completed');
    expect(outcome.result).toMatchObject({ files: 2, verified: true });
    const dumped = fs.readFileSync(path.join(path.dirname(config.file), 'dump', 'lifeboat.pgdump'));
    expect(dumped.subarray(0, 5).toString()).toBe('PGDMP');
  }, 120_000);

  test('the database down mid-run: the ledger activity retries, the run completes once it is back, nothing lost', async () => {
    pg.stop();
    const run = await recover('s4');
    // The run goes on; its audit events wait in its outbox for the ledger.
    await new Promise((r) => setTimeout(r, 4000));
    pg.start();
    expect(((await run.result()) as RunOutcome).state).toBe('completed');
    const stores = await openStores(config.config, { readonly: true });
    try {
      await eventually(async () => {
        const rows = await stores.ledger.forWorkflow(run.workflowId);
        return rows.some((r) => r.event === 'run.completed') ? true : undefined;
      }, 'the run to be in the ledger');
      const rows = await stores.ledger.forWorkflow(run.workflowId);
      expect(rows[0].event).toBe('run.started');
      expect(await stores.ledger.verify()).toMatchObject({ ok: true });
    } finally {
      await stores.close();
    }
  }, 120_000);
});
