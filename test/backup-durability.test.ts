/**
 * Backups under stress, with the worker as a real process: memory while a 2 GiB file is backed up
 * and restored, the worker killed in the middle of a backup, a database written to throughout a
 * backup, and every point at which a crash can interrupt the restore's swap.
 */
import { Client, Connection } from '@temporalio/client';
import Database from 'better-sqlite3';
import { spawn } from 'node:child_process';
import { randomFillSync } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createStorageActivities } from '../activities';
import { Catalog } from '../activities/lib/catalog';
import { approveUpdate } from '../common/messages';
import type { RunOutcome } from '../common/types';
import type { BackupResult } from '../runbooks/backupSteps';
import { treeState, writeStorageRoot } from '../scripts/storage-root';
import {
  startWorkerProcess as startWorker,
  eventually,
  lifeboat,
  serverAddress,
  statusWhen,
  tempDir,
  uniqueQueue,
  writeConfig,
  type Proc,
} from './helpers';

const PASSPHRASE_ENV = 'LIFEBOAT_TEST_DURABILITY_PASSPHRASE';
const GiB = 1024 * 1024 * 1024;

let dir: string;
let configFile: string;
let taskQueue: string;
let connection: Connection;
let client: Client;
const procs: Proc[] = [];

beforeAll(async () => {
  process.env[PASSPHRASE_ENV] = 'durability-test-passphrase';
  dir = tempDir('durability');
  const target = (name: string) => ({
    root: path.join(dir, name, 'root'),
    repository: path.join(dir, name, 'repo'),
    encryption: { passphraseEnv: PASSPHRASE_ENV },
    restoreInto: { inspect: path.join(dir, name, 'inspect') },
  });
  const written = writeConfig(dir, {
    auditLedger: 'audit.sqlite',
    targets: { big: target('big'), busy: target('busy'), killed: target('killed') },
  });
  configFile = written.file;
  taskQueue = uniqueQueue('durability');
  connection = await Connection.connect({ address: serverAddress() });
  client = new Client({ connection });
});

afterAll(async () => {
  for (const p of procs) if (p.child.exitCode === null) p.child.kill('SIGKILL');
  await connection.close();
});

async function startWorkerProcess(): Promise<Proc> {
  const proc = await startWorker({
    LIFEBOAT_CONFIG: configFile,
    LIFEBOAT_TASK_QUEUE: taskQueue,
    [PASSPHRASE_ENV]: process.env[PASSPHRASE_ENV]!,
  });
  procs.push(proc);
  return proc;
}

/** The process's peak resident set (VmHWM), in bytes. */
function peakRssBytes(pid: number): number {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmHWM:\s+(\d+) kB/.exec(status)![1]) * 1024;
}

function start(runbook: string, input: Record<string, unknown>) {
  return client.workflow.start(runbook, {
    taskQueue,
    workflowId: `${runbook}-${String(input.target)}-${Date.now()}`,
    args: [input],
  });
}

function writeRandomFile(file: string, bytes: number): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const fd = fs.openSync(file, 'w');
  const chunk = Buffer.allocUnsafe(16 * 1024 * 1024);
  for (let done = 0; done < bytes; done += chunk.length) {
    randomFillSync(chunk);
    fs.writeSync(fd, chunk, 0, Math.min(chunk.length, bytes - done));
  }
  fs.closeSync(fd);
}

test('a 2 GiB file is backed up and restored with the worker under 300 MB peak RSS; watch shows progress', async () => {
  const root = path.join(dir, 'big', 'root');
  writeRandomFile(path.join(root, 'blobs', 'huge.bin'), 2 * GiB);
  fs.writeFileSync(path.join(root, 'small.txt'), 'beside the big one');
  const worker = await startWorkerProcess();
  try {
    const backup = await start('fullBackup', { target: 'big' });
    const watched = await lifeboat(['watch', backup.workflowId, '--interval', '0.5'], {
      LIFEBOAT_TASK_QUEUE: taskQueue,
    });
    expect(watched.stdout).toMatch(
      /… writeBackup \[archive\] #*\.* \d+%, [\d.]+ MiB of 2048\.0 MiB, .* MiB\/s, .* left/,
    );
    const outcome = (await backup.result()) as RunOutcome<BackupResult>;
    expect(outcome.state).toBe('completed');

    const source = treeState(root);
    const restore = await start('restore', { target: 'big', into: 'inspect' });
    // The gate comes once all 2 GiB have been read back and checked: minutes on a busy machine.
    await statusWhen(client, restore.workflowId, (s) => s.state === 'waiting', 'the restore gate', 300000);
    await restore.executeUpdate(approveUpdate, { args: [{ actor: 'alice' }] });
    const restored = (await restore.result()) as RunOutcome<{ restoredInto: string }>;
    expect(restored.state).toBe('completed');
    const back = treeState(restored.result!.restoredInto);
    expect(back['blobs/huge.bin'].sha256).toBe(source['blobs/huge.bin'].sha256);

    const peak = peakRssBytes(worker.child.pid!);
    console.log(`worker peak RSS over a 2 GiB backup and restore: ${(peak / 1e6).toFixed(0)} MB`);
    expect(peak).toBeLessThan(300e6); // 300 MB, as the issue says (286 MiB)
  } finally {
    worker.child.kill('SIGINT');
    await worker.exited;
    fs.rmSync(path.join(dir, 'big'), { recursive: true, force: true });
  }
}, 600000);

test('a worker killed in the middle of a backup leaves no partial archive visible; the run then succeeds', async () => {
  const root = path.join(dir, 'killed', 'root');
  const repo = path.join(dir, 'killed', 'repo');
  writeStorageRoot(root, { seed: 7 });
  writeRandomFile(path.join(root, 'blobs', 'large.bin'), 768 * 1024 * 1024);
  const first = await startWorkerProcess();
  const handle = await start('fullBackup', { target: 'killed' });
  // Wait until the archive is being written, then kill the worker outright.
  await eventually(
    async () => {
      const pending = (await handle.describe()).raw.pendingActivities ?? [];
      const writing = pending.find((a) => a.activityType?.name === 'writeBackup');
      const data = writing?.heartbeatDetails?.payloads?.[0]?.data;
      return data && JSON.parse(Buffer.from(data).toString()).phase === 'archive' ? true : undefined;
    },
    'the archive to be written',
    60000,
  );
  first.child.kill('SIGKILL');
  await first.exited;
  expect(fs.readdirSync(repo).filter((f) => f.endsWith('.lbk'))).toEqual([]);
  expect(new Catalog(path.join(dir, 'catalog.sqlite'), { readonly: true }).list('killed')).toEqual([]);

  const second = await startWorkerProcess();
  try {
    const outcome = (await handle.result()) as RunOutcome<BackupResult>;
    expect(outcome.state).toBe('completed');
    expect(outcome.result?.verified).toBe(true);
    const files = fs.readdirSync(repo);
    expect(files.filter((f) => f.endsWith('.lbk'))).toEqual([`${outcome.result!.backupId}.lbk`]);
    expect(files.filter((f) => f.includes('partial') || f.startsWith('.lifeboat-work'))).toEqual([]);
    expect(files).not.toContain('.lifeboat.lock');
    // And the next run on the target succeeds too.
    const next = await start('incrementalBackup', { target: 'killed' });
    expect(((await next.result()) as RunOutcome).state).toBe('completed');
    // The passphrase never reached the worker's logs, nor the runs' history.
    const passphrase = process.env[PASSPHRASE_ENV]!;
    expect(first.output() + second.output()).not.toContain(passphrase);
    expect(first.output()).toContain('polling task queue');
    for (const id of [handle.workflowId, next.workflowId]) {
      expect(JSON.stringify(await client.workflow.getHandle(id).fetchHistory())).not.toContain(passphrase);
    }
  } finally {
    second.child.kill('SIGINT');
    await second.exited;
    fs.rmSync(path.join(dir, 'killed'), { recursive: true, force: true });
  }
}, 300000);

test('a database written to throughout the backup is restored in a consistent state', async () => {
  const root = path.join(dir, 'busy', 'root');
  writeStorageRoot(root, { seed: 3 });
  const ledger = path.join(root, 'ledger.db');
  const setup = new Database(ledger);
  setup.pragma('journal_mode = WAL');
  setup.exec('CREATE TABLE moves (id INTEGER PRIMARY KEY, amount INTEGER NOT NULL)');
  setup.close();
  // A separate process moves money in balanced pairs as fast as it can: any consistent state sums to 0.
  const writer = spawn(
    process.execPath,
    [
      '-e',
      `const D=require('better-sqlite3');const db=new D(${JSON.stringify(ledger)});db.pragma('busy_timeout=5000');
       const ins=db.prepare('INSERT INTO moves (amount) VALUES (?)');const pair=db.transaction((n)=>{ins.run(n);ins.run(-n);});
       let i=1;const end=Date.now()+60000;(function loop(){for(let k=0;k<200;k++)pair(i++);if(Date.now()<end)setImmediate(loop);})();`,
    ],
    { cwd: path.resolve(__dirname, '..'), stdio: 'ignore' },
  );
  const worker = await startWorkerProcess();
  try {
    // The backup starts once the writer writes (its start takes longer on a loaded machine).
    await eventually(async () => {
      const db = new Database(ledger, { readonly: true, fileMustExist: true });
      try {
        return (db.prepare('SELECT COUNT(*) AS n FROM moves').get() as { n: number }).n > 0
          ? true
          : undefined;
      } finally {
        db.close();
      }
    }, 'the writer to write');
    const backup = await start('fullBackup', { target: 'busy' });
    expect(((await backup.result()) as RunOutcome).state).toBe('completed');
    const restore = await start('restore', { target: 'busy', into: 'inspect' });
    await statusWhen(client, restore.workflowId, (s) => s.state === 'waiting', 'the restore gate');
    await restore.executeUpdate(approveUpdate, { args: [{ actor: 'alice' }] });
    const restored = (await restore.result()) as RunOutcome<{ restoredInto: string }>;
    const db = new Database(path.join(restored.result!.restoredInto, 'ledger.db'), { readonly: true });
    try {
      expect(db.pragma('integrity_check', { simple: true })).toBe('ok');
      const { n, total } = db
        .prepare('SELECT COUNT(*) AS n, COALESCE(SUM(amount), 0) AS total FROM moves')
        .get() as { n: number; total: number };
      expect(n).toBeGreaterThan(0);
      expect(n % 2).toBe(0);
      expect(total).toBe(0);
    } finally {
      db.close();
    }
  } finally {
    writer.kill('SIGKILL');
    worker.child.kill('SIGINT');
    await worker.exited;
  }
}, 300000);

describe('a crash at any point of the restore swap leaves the root fully old or fully new once the run resumes', () => {
  const target = 'swap';
  let base: string;
  let acts: ReturnType<typeof createStorageActivities>;
  let catalog: Catalog;

  beforeAll(() => {
    base = tempDir('swap');
    const { config } = writeConfig(base, {
      auditLedger: 'audit.sqlite',
      targets: {
        [target]: {
          root: path.join(base, 'root'),
          repository: path.join(base, 'repo'),
          encryption: { passphraseEnv: PASSPHRASE_ENV },
        },
      },
    });
    catalog = new Catalog(config.catalog);
    acts = createStorageActivities(config, catalog);
  });
  afterAll(() => catalog.close());

  const root = () => path.join(base, 'root');
  const staging = (tag: string) => `${root()}.lifeboat-staging-${tag}`;
  const previous = (tag: string) => `${root()}.lifeboat-previous-${tag}`;
  function prepare(tag: string) {
    fs.rmSync(root(), { recursive: true, force: true });
    fs.mkdirSync(root(), { recursive: true });
    fs.writeFileSync(path.join(root(), 'state'), 'old');
    fs.mkdirSync(staging(tag), { recursive: true });
    fs.writeFileSync(path.join(staging(tag), 'state'), 'new');
  }
  const state = () => fs.readFileSync(path.join(root(), 'state'), 'utf8');

  test.each([
    ['before the first rename', (_tag: string) => undefined],
    ['after the old root was moved aside', (tag: string) => fs.renameSync(root(), previous(tag))],
    [
      'after both renames',
      (tag: string) => (fs.renameSync(root(), previous(tag)), fs.renameSync(staging(tag), root())),
    ],
  ])('crash %s: the repeated swap finishes it; a stop puts the old root back', async (_when, crashAt) => {
    const tag = `t${Math.random().toString(36).slice(2, 8)}`;
    prepare(tag);
    crashAt(tag);
    await acts.swapInRestore(target, tag);
    expect(state()).toBe('new');
    expect(fs.existsSync(staging(tag))).toBe(false);
    // A responder stops the run: the compensation puts the old root back, whole.
    await acts.undoRestoreSwap(target, tag);
    expect(state()).toBe('old');
    expect(fs.readdirSync(base).filter((f) => f.startsWith('root.lifeboat-'))).toEqual([]);
  });
});
