/**
 * The worker process: killed (SIGKILL) in the middle of a run and started again, the run finishes
 * correctly, with its audit chain intact and each event written once; at start it names its build
 * and keeps the Schedule of the stuck-run sweep.
 */
import { Client, Connection } from '@temporalio/client';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { AuditLedger } from '../activities/lib/ledger';
import { approveUpdate } from '../common/messages';
import type { RunOutcome } from '../common/types';
import type { CorruptedStoreRecoveryResult } from '../runbooks/corruptedStoreRecovery';
import { writeStoreFixture } from '../scripts/demo-data';
import {
  ROOT,
  eventually,
  lifeboat,
  startWorkerProcess as startWorker,
  serverAddress,
  statusWhen,
  storeTargetConfig,
  tempDir,
  uniqueQueue,
  writeConfig,
  type Proc,
} from './helpers';

let connection: Connection;
let client: Client;
const workers: Proc[] = [];

beforeAll(async () => {
  connection = await Connection.connect({ address: serverAddress() });
  client = new Client({ connection });
});

afterAll(async () => {
  for (const w of workers) if (w.child.exitCode === null) w.child.kill('SIGKILL');
  await connection.close();
});

async function startWorkerProcess(configFile: string, taskQueue: string): Promise<Proc> {
  const proc = await startWorker({ LIFEBOAT_CONFIG: configFile, LIFEBOAT_TASK_QUEUE: taskQueue });
  workers.push(proc);
  return proc;
}

async function kill(proc: Proc): Promise<void> {
  proc.child.kill('SIGKILL');
  await proc.exited;
}

test('a run survives its worker being killed while it waits and again right after approval', async () => {
  const dir = tempDir('restart');
  const fx = writeStoreFixture(path.join(dir, 'store'), 'corrupt', ['intact', 'corrupt']);
  const olderBackup = fs
    .readdirSync(fx.backups)
    .filter((f) => f.endsWith('.json'))
    .sort()[0];
  const { file } = writeConfig(dir, {
    auditLedger: 'audit.sqlite',
    targets: { store: storeTargetConfig(path.join(dir, 'store')) },
  });
  const taskQueue = uniqueQueue('restart');

  const first = await startWorkerProcess(file, taskQueue);
  const handle = await client.workflow.start('corruptedStoreRecovery', {
    taskQueue,
    workflowId: `restart-${Date.now()}`,
    args: [{ target: 'store' }],
  });
  await statusWhen(client, handle.workflowId, (s) => s.state === 'waiting', 'the gate');
  await kill(first);

  const second = await startWorkerProcess(file, taskQueue);
  await handle.executeUpdate(approveUpdate, { args: [{ actor: 'alice' }] });
  // Killed again while the restore steps are under way (or just done).
  await kill(second);

  await startWorkerProcess(file, taskQueue);
  const outcome = (await handle.result()) as RunOutcome<CorruptedStoreRecoveryResult>;
  expect(outcome.state).toBe('completed');
  expect(outcome.result).toMatchObject({ outcome: 'restored', backupUsed: olderBackup });
  expect(fs.readFileSync(fx.primary)).toEqual(fx.contents[path.join(fx.backups, olderBackup)]);
  expect(fs.readdirSync(path.join(dir, 'store')).filter((f) => f.endsWith('.lifeboat-tmp'))).toEqual([]);

  const ledger = new AuditLedger(path.join(dir, 'audit.sqlite'), { readonly: true });
  try {
    expect(ledger.verify()).toMatchObject({ ok: true });
    const events = ledger.forWorkflow(handle.workflowId).map((r) => r.event);
    expect(events.filter((e) => e === 'run.completed')).toHaveLength(1);
    expect(events.filter((e) => e === 'decision.approve')).toHaveLength(1);
  } finally {
    ledger.close();
  }
});

test('a worker names its build at start and to Temporal (lifeboat version), and keeps the stuck-run sweep Schedule of its queue', async () => {
  const dir = tempDir('build');
  writeStoreFixture(path.join(dir, 'store'), 'intact', ['intact']);
  const { file } = writeConfig(dir, {
    auditLedger: 'audit.sqlite',
    targets: { store: storeTargetConfig(path.join(dir, 'store')) },
  });
  const taskQueue = uniqueQueue('build');
  const proc = await startWorkerProcess(file, taskQueue);
  const { version } = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as {
    version: string;
  };
  expect(proc.output()).toMatch(
    new RegExp(`lifeboat worker ${version.replace(/\./g, '\\.')} \\(commit \\S+\\)`),
  );
  expect(proc.output()).toContain(`stuck runs swept by schedule 'lifeboat-stuck-runs-${taskQueue}'`);

  const scheduleHandle = client.schedule.getHandle(`lifeboat-stuck-runs-${taskQueue}`);
  try {
    const schedule = await scheduleHandle.describe();
    expect(schedule.action).toMatchObject({ workflowType: 'sweepStuckRuns', taskQueue });
    const printed = await eventually(async () => {
      const r = await lifeboat(['version'], { LIFEBOAT_TASK_QUEUE: taskQueue });
      return r.stdout.includes('lifeboat-worker/') ? r : undefined;
    }, 'the worker to be listed');
    expect(printed.stdout).toMatch(
      new RegExp(`^lifeboat ${version.replace(/\./g, '\\.')} \\(commit \\S+\\)$`, 'm'),
    );
    expect(printed.stdout).toMatch(
      new RegExp(
        `^worker lifeboat-worker/${version.replace(/\./g, '\\.')}\\+\\S+@\\S+#${proc.child.pid} polls '${taskQueue}'`,
        'm',
      ),
    );

    // The sweep itself runs on the worker: nothing on this queue is stuck.
    const sweep = await client.workflow.execute('sweepStuckRuns', {
      taskQueue,
      workflowId: `sweep-${taskQueue}`,
      args: [],
    });
    expect(sweep).toMatchObject({ problems: [] });
  } finally {
    await scheduleHandle.delete();
  }
});
