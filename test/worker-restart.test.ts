/**
 * The worker process: at start it names its build and keeps the Schedule of the stuck-run sweep;
 * killed (SIGKILL) while a run waits and again right after approval, the run finishes correctly,
 * with its audit chain intact and each event written once.
 *
 * Where the time goes (about 25 s): three worker start-ups (compiled, with the workflow bundle the build made);
 * the build test looks at the first worker, which then serves the run until it is killed. The
 * approval goes in while no worker runs and the second one starts; Temporal hands the run to it
 * once the dead worker's sticky queue times out (10 s, the SDK's default). The activities the
 * second worker had started would hold the run for their start-to-close timeout (30 s and a
 * minute): they are made to time out at once (timeOutStepsOfDeadWorker), and retried as usual.
 */
import { Client, Connection } from '@temporalio/client';
import { google, temporal } from '@temporalio/proto';
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

const STARTED = temporal.api.enums.v1.PendingActivityState.PENDING_ACTIVITY_STATE_STARTED;

let connection: Connection;
let client: Client;
const workers: Proc[] = [];
// One store, config and task queue for both tests, and one worker process started for them: the
// build test looks at it, then the restart test runs on it and kills it (so it must come second).
let dir: string;
let fx: ReturnType<typeof writeStoreFixture>;
let configFile: string;
let taskQueue: string;
let firstWorker: Proc;

beforeAll(async () => {
  connection = await Connection.connect({ address: serverAddress() });
  client = new Client({ connection });
  dir = tempDir('restart');
  fx = writeStoreFixture(path.join(dir, 'store'), 'corrupt', ['intact', 'corrupt']);
  configFile = writeConfig(dir, {
    auditLedger: 'audit.sqlite',
    targets: { store: storeTargetConfig(path.join(dir, 'store')) },
  }).file;
  taskQueue = uniqueQueue('restart');
  firstWorker = await startWorkerProcess();
});

afterAll(async () => {
  for (const w of workers) if (w.child.exitCode === null) w.child.kill('SIGKILL');
  // Every worker start keeps the sweep's Schedule: it goes with the queue.
  await client.schedule
    .getHandle(`lifeboat-stuck-runs-${taskQueue}`)
    .delete()
    .catch(() => undefined);
  await connection.close();
});

async function startWorkerProcess(): Promise<Proc> {
  const proc = await startWorker({ LIFEBOAT_CONFIG: configFile, LIFEBOAT_TASK_QUEUE: taskQueue });
  workers.push(proc);
  return proc;
}

async function kill(proc: Proc): Promise<void> {
  proc.child.kill('SIGKILL');
  await proc.exited;
}

/**
 * Makes the attempts the dead worker had started time out now rather than after their start-to-close
 * timeout: a 1 s one (UpdateActivityOptions) until they have timed out, then the run's own options
 * back, all before a worker is up to run their retries. The retries are Temporal's, as after any
 * timeout. Nothing to do if the worker died with no activity started.
 */
async function timeOutStepsOfDeadWorker(workflowId: string): Promise<void> {
  const request = { namespace: 'default', execution: { workflowId } };
  const pending = async () =>
    (await client.workflowService.describeWorkflowExecution(request)).pendingActivities ?? [];
  const before = await pending();
  const started = new Set(before.filter((a) => a.state === STARTED).map((a) => a.activityId));
  if (started.size === 0) return;
  await client.workflowService.updateActivityOptions({
    ...request,
    matchAll: true,
    activityOptions: { startToCloseTimeout: google.protobuf.Duration.fromObject({ seconds: 1 }) },
    updateMask: { paths: ['start_to_close_timeout'] },
  });
  await eventually(
    async () => ((await pending()).some((a) => a.state === STARTED) ? undefined : true),
    "the dead worker's activities to time out",
  );
  await client.workflowService.updateActivityOptions({ ...request, matchAll: true, restoreOriginal: true });
  // Each started one timed out once and is retried with the options the run gave it.
  const shape = (list: typeof before, retried: Set<unknown>) =>
    list
      .map((a) => ({
        id: a.activityId,
        attempt: (a.attempt ?? 0) + (retried.has(a.activityId) ? 1 : 0),
        options: a.activityOptions,
      }))
      .sort((x, y) => String(x.id).localeCompare(String(y.id)));
  expect(shape(await pending(), new Set())).toEqual(shape(before, started));
}

test('a worker names its build at start and to Temporal (lifeboat version), and keeps the stuck-run sweep Schedule of its queue', async () => {
  const proc = firstWorker;
  const { version } = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as {
    version: string;
  };
  expect(proc.output()).toMatch(
    new RegExp(`lifeboat worker ${version.replace(/\./g, '\\.')} \\(commit \\S+\\)`),
  );
  expect(proc.output()).toContain(`stuck runs swept by schedule 'lifeboat-stuck-runs-${taskQueue}'`);
  // A current build's worker runs the workflow bundle the build made (scripts/build.js) instead of
  // bundling at start (npm test builds first); from the sources it bundles them at start.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const stale = (require('../scripts/build.js') as { isStale: () => boolean }).isStale();
  expect(proc.output()).toContain(
    `workflow bundle: ${stale ? 'bundled at start' : path.join(ROOT, 'dist', 'workflow-bundle.js')}`,
  );

  const scheduleHandle = client.schedule.getHandle(`lifeboat-stuck-runs-${taskQueue}`);
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
});

test('a run survives its worker being killed while it waits and again right after approval', async () => {
  const olderBackup = fs
    .readdirSync(fx.backups)
    .filter((f) => f.endsWith('.json'))
    .sort()[0];
  const handle = await client.workflow.start('corruptedStoreRecovery', {
    taskQueue,
    workflowId: `restart-${Date.now()}`,
    args: [{ target: 'store' }],
  });
  await statusWhen(client, handle.workflowId, (s) => s.state === 'waiting', 'the gate');
  await kill(firstWorker);

  // Approved while no worker runs; the next worker takes the run up from its history.
  const approved = handle.executeUpdate(approveUpdate, { args: [{ actor: 'alice' }] });
  const second = await startWorkerProcess();
  await approved;
  // Killed again while the restore steps are under way (or just done).
  await kill(second);

  await timeOutStepsOfDeadWorker(handle.workflowId);

  await startWorkerProcess();
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
