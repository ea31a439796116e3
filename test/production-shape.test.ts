/**
 * The production shape of docker-compose.yml, run for real on this machine without Docker:
 * PostgreSQL 15 (a cluster of its own), the Temporal Server of the pinned release on it (built from
 * its Go module by the setup), Lifeboat's own role and database made by the compose file's own
 * one-shot script, two control-plane worker processes sharing the ledger and the catalog of record in
 * PostgreSQL, and one agent process holding the targets. A backup, a gated restore during which the
 * control-plane worker that ran it is killed (the other finishes it), and a drill run through it; the
 * ledger verifies and the catalog of record lists the agent's backup.
 */
import { Client, Connection } from '@temporalio/client';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as openpgp from 'openpgp';
import type { RunOutcome, RunStatus } from '../common/types';
import { writeStoreFixture } from '../scripts/demo-data';
import { drillSection, writeDrillKeys } from '../scripts/demo-drill';
import { treeState, writeStorageRoot } from '../scripts/storage-root';
import {
  WORKER_ENV,
  eventually,
  lifeboat,
  spawnTsx,
  statusWhen,
  storeTargetConfig,
  tempDir,
  writeConfig,
  type Proc,
} from './helpers';
import { pgProgram, startPostgres, type TestPostgres } from './postgres';
import { startTemporalServer, type TemporalServer } from './temporal-server';
import { dbRows, expectSameTree } from './tree-helpers';

const PASSWORD_ENV = 'LIFEBOAT_DB_PASSWORD';
const PASSPHRASE_ENV = 'LIFEBOAT_SHAPE_PASSPHRASE';
const QUEUE = 'lifeboat';
let pg: TestPostgres;
let server: TemporalServer;
let client: Client;
let connection: Connection;
let dir: string;
let cpConfig: string;
const procs: Proc[] = [];
let env: Record<string, string>;

/** The compose file's lifeboat-database command, as `sh` runs it in that container. */
function composeDatabaseScript(): string {
  const text = fs.readFileSync(path.join(__dirname, '..', 'docker-compose.yml'), 'utf8');
  const service = /\n {2}lifeboat-database:\n([\s\S]*?)\n {2}\S/.exec(text)![1];
  const script = /command:\n\s+- \|\n([\s\S]*?)\n {4}restart:/.exec(service)![1];
  return script
    .split('\n')
    .map((l) => l.replace(/^ {8}/, ''))
    .join('\n')
    .replace(/\$\$/g, '$');
}

async function controlPlane(): Promise<Proc> {
  const proc = spawnTsx('worker/main.ts', { ...WORKER_ENV, ...env, LIFEBOAT_CONFIG: cpConfig });
  procs.push(proc);
  await eventually(
    async () => {
      if (proc.child.exitCode !== null) throw new Error(`a control-plane worker exited: ${proc.output()}`);
      return proc.output().includes('polling task queue') ? true : undefined;
    },
    'a control-plane worker to poll',
    120_000,
  );
  return proc;
}

beforeAll(async () => {
  dir = tempDir('shape');
  pg = await startPostgres('shape');
  // Lifeboat's role and database, by the compose file's own script (twice: it is idempotent).
  for (let i = 0; i < 2; i += 1)
    execFileSync('sh', ['-c', composeDatabaseScript()], {
      env: {
        PATH: `${path.dirname(pgProgram('psql'))}:${process.env.PATH}`,
        PGHOST: '127.0.0.1',
        PGPORT: String(pg.port),
        PGUSER: 'postgres',
        PGPASSWORD: pg.superPassword,
        PGDATABASE: 'postgres',
        LIFEBOAT_DB_PASSWORD: pg.password,
      },
      stdio: 'pipe',
    });
  server = await startTemporalServer(pg, 'shape');
  connection = await Connection.connect({ address: server.address });
  client = new Client({ connection, namespace: 'default' });

  // Host A: an agent with a storage root and a store it can drill.
  const { privateKey, publicKey } = await openpgp.generateKey({
    type: 'ecc',
    curve: 'curve25519Legacy',
    userIDs: [{ name: 'host-a' }],
    format: 'armored',
  });
  fs.mkdirSync(path.join(dir, 'keys'));
  fs.writeFileSync(path.join(dir, 'keys', 'host-a.sec.asc'), privateKey);
  fs.writeFileSync(path.join(dir, 'keys', 'host-a.pub.asc'), publicKey);
  const host = path.join(dir, 'host-a');
  writeStorageRoot(path.join(host, 'root'), { seed: 7, binaryBytes: 2 * 1024 * 1024 });
  writeStoreFixture(path.join(host, 'store'), 'corrupt', ['intact']);
  const agentConfig = path.join(host, 'lifeboat.agent.json');
  fs.writeFileSync(
    agentConfig,
    JSON.stringify({
      agent: { name: 'host-a', signingKey: path.join(dir, 'keys', 'host-a.sec.asc') },
      targets: {
        storage: {
          root: path.join(host, 'root'),
          repository: path.join(host, 'repo'),
          encryption: { passphraseEnv: PASSPHRASE_ENV },
        },
        store: {
          ...storeTargetConfig(path.join(host, 'store')),
          drill: drillSection(path.join(host, 'drills'), await writeDrillKeys(path.join(host, 'drill-keys'))),
        },
      },
    }),
  );
  cpConfig = writeConfig(dir, {
    auditLedger: 'audit.sqlite',
    database: { url: pg.url(), passwordEnv: PASSWORD_ENV },
    agents: { 'host-a': { publicKey: path.join(dir, 'keys', 'host-a.pub.asc') } },
    policies: { storage: { gates: { restore: { approvers: ['alice', 'bob'], quorum: 1 } } } },
    targets: {},
  }).file;
  env = {
    TEMPORAL_ADDRESS: server.address,
    LIFEBOAT_TASK_QUEUE: QUEUE,
    [PASSWORD_ENV]: pg.password,
    [PASSPHRASE_ENV]: 'shape-passphrase',
  };
  await Promise.all([controlPlane(), controlPlane()]);
  const agent = spawnTsx('worker/agent.ts', { ...WORKER_ENV, ...env, LIFEBOAT_AGENT_CONFIG: agentConfig });
  procs.push(agent);
  await eventually(
    async () => {
      if (agent.child.exitCode !== null) throw new Error(`the agent exited: ${agent.output()}`);
      return agent.output().includes('polling task queue') ? true : undefined;
    },
    'the agent to announce itself',
    60_000,
  );
}, 300_000);

afterAll(async () => {
  for (const p of procs) if (p.child.exitCode === null) p.child.kill('SIGTERM');
  await Promise.all(procs.map((p) => p.exited));
  await connection?.close();
  await server?.stop();
  pg?.stop();
});

const start = (runbook: string, input: Record<string, unknown>) =>
  client.workflow.start(runbook, {
    taskQueue: QUEUE,
    workflowId: `shape-${runbook}-${Math.random().toString(36).slice(2, 8)}`,
    args: [input],
  });

/** The pid of the control-plane worker that completed the run's last workflow task. */
async function lastWorkerPid(workflowId: string): Promise<number> {
  const history = await client.workflow.getHandle(workflowId).fetchHistory();
  const identities = (history.events ?? [])
    .map((e) => e.workflowTaskCompletedEventAttributes?.identity)
    .filter((i): i is string => !!i);
  return Number(/#(\d+)$/.exec(identities[identities.length - 1])![1]);
}

test('a backup, a gated restore that survives the loss of its control-plane worker, and a drill', async () => {
  const backup = await start('fullBackup', { target: 'storage' });
  const backedUp = (await backup.result()) as RunOutcome<{ backupId: string; verified: boolean }>;
  expect(backedUp.state).toBe('completed');
  expect(backedUp.result!.verified).toBe(true);

  // The restore waits at its gate; the worker that ran it so far is killed; the other finishes it.
  const original = treeState(path.join(dir, 'host-a', 'root'));
  const rows = dbRows(path.join(dir, 'host-a', 'root'));
  fs.rmSync(path.join(dir, 'host-a', 'root', 'projects'), { recursive: true, force: true });
  const restore = await start('restore', { target: 'storage' });
  const waiting: RunStatus = await statusWhen(
    client,
    restore.workflowId,
    (s) => s.waiting?.kind === 'gate',
    'the restore to wait at its gate',
    60_000,
  );
  expect(waiting.waiting!.gate).toBe('restore');
  const pid = await lastWorkerPid(restore.workflowId);
  const victim = procs.find((p) => p.child.pid === pid)!;
  expect(victim).toBeDefined();
  victim.child.kill('SIGKILL');
  await victim.exited;
  const approved = await lifeboat(
    ['approve', restore.workflowId, '--as', 'alice', '--comment', 'drill of the shape'],
    env,
  );
  expect(approved.code).toBe(0);
  const restored = (await restore.result()) as RunOutcome;
  expect(restored.state).toBe('completed');
  expect(await lastWorkerPid(restore.workflowId)).not.toBe(pid);
  expectSameTree(path.join(dir, 'host-a', 'root'), original, rows);

  const drill = await start('drDrill', { target: 'store', scenario: 'corruptStore' });
  const drilled = (await drill.result()) as RunOutcome<{ passed: boolean }>;
  expect(drilled.state).toBe('completed');
  expect(drilled.result!.passed).toBe(true);

  // One chain in PostgreSQL, written by both workers; the catalog of record lists the agent's backup.
  const verified = await lifeboat(['audit', 'verify', '--config', cpConfig], env);
  expect(verified.stdout).toMatch(/chain intact \(\d+ rows\)/);
  expect(verified.code).toBe(0);
  const listed = await lifeboat(['backups', 'list', '--target', 'storage', '--config', cpConfig], env);
  expect(listed.stdout).toContain(backedUp.result!.backupId);
  expect(listed.stdout).toContain('held by agent host-a');
  const shown = await lifeboat(['audit', 'show', restore.workflowId, '--config', cpConfig], env);
  expect(shown.stdout).toMatch(/alice\s+decision\.approve/);
}, 240_000);
