/**
 * Runs Temporal ended from outside (issue 10): a run terminated from the UI or the `temporal` CLI
 * cannot record its own end, so `lifeboat status` and `list` combine Temporal's execution status
 * with the run's own state; a cancellation from Temporal is a stop that names who requested it.
 */
import { Client, Connection } from '@temporalio/client';
import * as path from 'node:path';
import type { RunOutcome } from '../common/types';
import { writeStoreFixture } from '../scripts/demo-data';
import {
  eventually,
  lifeboat,
  serverAddress,
  startWorker,
  statusWhen,
  storeTargetConfig,
  tempDir,
  uniqueQueue,
  writeConfig,
  type TestWorker,
} from './helpers';

let tw: TestWorker;

beforeAll(async () => {
  const dir = tempDir('ended');
  for (const name of ['terminated', 'cancelled'])
    writeStoreFixture(path.join(dir, name), 'corrupt', ['intact']);
  const { config } = writeConfig(dir, {
    auditLedger: 'audit.sqlite',
    targets: {
      terminated: storeTargetConfig(path.join(dir, 'terminated')),
      cancelled: storeTargetConfig(path.join(dir, 'cancelled')),
    },
  });
  tw = await startWorker(config, uniqueQueue('ended'));
});

afterAll(async () => {
  await tw?.stop();
});

async function waitingRun(target: string): Promise<string> {
  const workflowId = `corruptedStoreRecovery-${target}-${Math.random().toString(36).slice(2, 8)}`;
  await tw.client.workflow.start('corruptedStoreRecovery', {
    taskQueue: tw.taskQueue,
    workflowId,
    args: [{ target }],
  });
  await statusWhen(tw.client, workflowId, (s) => s.waiting?.gate === 'restore', `${target} waiting`);
  return workflowId;
}

test('a run terminated from Temporal is reported as terminated by status and list, never as waiting; a decision is refused', async () => {
  const workflowId = await waitingRun('terminated');
  await tw.client.workflow.getHandle(workflowId).terminate('incident closed by hand');
  const env = { LIFEBOAT_TASK_QUEUE: tw.taskQueue };

  const status = await lifeboat(['status', workflowId], env);
  expect(status.code).toBe(0);
  expect(status.stdout).toMatch(/state TERMINATED by Temporal at \S+ \(incident closed by hand/);
  expect(status.stdout).toContain("the run's own last state: WAITING");
  const json = JSON.parse((await lifeboat(['status', workflowId, '--json'], env)).stdout) as Record<
    string,
    unknown
  >;
  expect(json).toMatchObject({
    state: 'terminated',
    ownState: 'waiting',
    endedBy: { reason: 'incident closed by hand' },
  });

  // The visibility store learns of the termination a moment later.
  const terminated = await eventually(async () => {
    const listed = JSON.parse((await lifeboat(['list', '--state', 'terminated', '--json'], env)).stdout) as {
      workflowId: string;
    }[];
    return listed.some((r) => r.workflowId === workflowId) ? listed : undefined;
  }, 'the terminated run in the list');
  expect(terminated).toContainEqual(
    expect.objectContaining({ workflowId, state: 'terminated', ownState: 'waiting' }),
  );
  const waiting = JSON.parse((await lifeboat(['list', '--state', 'waiting', '--json'], env)).stdout) as {
    workflowId: string;
  }[];
  expect(waiting.map((r) => r.workflowId)).not.toContain(workflowId);

  const approve = await lifeboat(['approve', workflowId, '--as', 'alice'], env);
  expect(approve.code).toBe(2);
  expect(approve.stderr).toContain('the run has ended (terminated); no decision can change it');
});

test('a cancellation requested from Temporal stops the run like a responder would, naming the identity that requested it', async () => {
  const workflowId = await waitingRun('cancelled');
  const connection = await Connection.connect({ address: serverAddress() });
  try {
    // As the Temporal UI or `temporal workflow cancel` would: with an identity of its own.
    const operator = new Client({ connection, namespace: 'default', identity: 'alice@incident-room' });
    await operator.workflow.getHandle(workflowId).cancel();
    const outcome = (await tw.client.workflow.getHandle(workflowId).result()) as RunOutcome;
    expect(outcome).toMatchObject({
      state: 'stopped',
      stoppedBy: 'temporal (alice@incident-room)',
      stopReason: 'the workflow was cancelled from Temporal',
    });
  } finally {
    await connection.close();
  }
});
