/**
 * Runs outlive deploys (issue 10): a run waits at a gate on version 1 of a runbook; the worker is
 * redeployed with version 2, which calls one more step before the gate.
 * - Made with `patched()` (docs/upgrading.md), the waiting run is approved and completes on the old
 *   path, and a new run takes the new path.
 * - Made without it, the replay suite catches the change against the recorded histories, naming the
 *   runbook, the history file and the event that no longer matches; on a real worker the waiting
 *   run gets stuck, and `lifeboat status`, `list` and `approve` say so and what to do, and the
 *   control plane's sweep tells the webhooks once.
 */
import { MockActivityEnvironment } from '@temporalio/testing';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';
import { SqliteLedgerStore } from '../activities/lib/stores/sqlite';
import { createStuckActivities, type SweepReport } from '../activities/stuck';
import { approveSignal, approveUpdate } from '../common/messages';
import type { RunOutcome } from '../common/types';
import { writeStoreFixture } from '../scripts/demo-data';
import {
  eventually,
  lifeboat,
  startWorker,
  statusWhen,
  storeTargetConfig,
  tempDir,
  uniqueQueue,
  writeConfig,
} from './helpers';
import { replayFailures } from './replay';
import { bundleVariant, removeVariants, type Edit } from './variants';

const RUNBOOK = 'runbooks/corruptedStoreRecovery.ts';
const FLOW: [string, string] = [
  "{ id: 'findValidBackup', label: 'verify backups newest first', next: ['gate:restore'] },",
  "{ id: 'findValidBackup', label: 'verify backups newest first', next: ['recheckBackup'] },\n    { id: 'recheckBackup', label: 'verify the chosen backup once more', next: ['gate:restore'] },",
];
const AFTER_CHOICE = "    run.fact('backupsChecked', choice.checked);\n";

/** Version 2, as the contributor guide says to write it. */
const V2_PATCHED: Edit[] = [
  {
    file: RUNBOOK,
    replace: [
      [
        "import { workflowInfo } from '@temporalio/workflow';",
        "import { patched, workflowInfo } from '@temporalio/workflow';",
      ],
      FLOW,
      [
        AFTER_CHOICE,
        `${AFTER_CHOICE}    if (patched('recheck-backup')) await run.step('recheckBackup', 'findValidBackup', [target]);\n`,
      ],
    ],
  },
];
/** Version 2, written carelessly: the step is simply added. */
const V2_UNPATCHED: Edit[] = [
  {
    file: RUNBOOK,
    replace: [
      FLOW,
      [AFTER_CHOICE, `${AFTER_CHOICE}    await run.step('recheckBackup', 'findValidBackup', [target]);\n`],
    ],
  },
];

let v2: string;
let careless: string;

beforeAll(async () => {
  [v2, careless] = await Promise.all([
    bundleVariant('v2', V2_PATCHED),
    bundleVariant('careless', V2_UNPATCHED),
  ]);
}, 180000);

afterAll(() => removeVariants());

function storeHost(notify?: Record<string, unknown>) {
  const dir = tempDir('deploy');
  writeStoreFixture(path.join(dir, 'store'), 'corrupt', ['intact', 'corrupt']);
  return writeConfig(dir, {
    auditLedger: 'audit.sqlite',
    ...(notify ? { notify } : {}),
    targets: { store: storeTargetConfig(path.join(dir, 'store')) },
  }).config;
}

/** A run of version 1 (this code) waiting at gate `restore`, its worker gone: a deploy is under way. */
async function waitingOnVersion1(config: ReturnType<typeof storeHost>, taskQueue: string): Promise<string> {
  const v1 = await startWorker(config, taskQueue);
  const workflowId = `corruptedStoreRecovery-${taskQueue}`;
  try {
    await v1.client.workflow.start('corruptedStoreRecovery', {
      taskQueue,
      workflowId,
      args: [{ target: 'store' }],
    });
    await statusWhen(v1.client, workflowId, (s) => s.waiting?.gate === 'restore', 'the gate on version 1');
  } finally {
    await v1.stop();
  }
  return workflowId;
}

test('a run waiting at a gate on version 1 completes on the old path after a patched version 2 is deployed; a new run takes the new path', async () => {
  const config = storeHost();
  const taskQueue = uniqueQueue('deploy');
  const workflowId = await waitingOnVersion1(config, taskQueue);

  const worker = await startWorker(config, taskQueue, v2);
  try {
    const waiting = worker.client.workflow.getHandle(workflowId);
    await waiting.executeUpdate(approveUpdate, { args: [{ actor: 'alice' }] });
    const old = (await waiting.result()) as RunOutcome<{ outcome: string }>;
    expect(old.state).toBe('completed');
    expect(old.result?.outcome).toBe('restored');
    expect(old.status.steps.map((s) => s.name)).not.toContain('recheckBackup');

    writeStoreFixture(path.dirname(config.targets.store.store!.primary), 'corrupt', ['intact', 'corrupt']);
    const fresh = `corruptedStoreRecovery-v2-${Math.random().toString(36).slice(2, 8)}`;
    const next = await worker.client.workflow.start('corruptedStoreRecovery', {
      taskQueue,
      workflowId: fresh,
      args: [{ target: 'store' }],
    });
    const atGate = await statusWhen(
      worker.client,
      fresh,
      (s) => s.waiting?.gate === 'restore',
      'the gate on version 2',
    );
    expect(atGate.steps.map((s) => [s.name, s.state])).toContainEqual(['recheckBackup', 'succeeded']);
    await next.executeUpdate(approveUpdate, { args: [{ actor: 'alice' }] });
    expect(((await next.result()) as RunOutcome).state).toBe('completed');
  } finally {
    await worker.stop();
  }
});

test('the replay suite catches a change made without patched(), naming the runbook, the history and the event; the patched change passes', async () => {
  const failures = await replayFailures('corruptedStoreRecovery', careless);
  expect(failures.length).toBeGreaterThan(0);
  // Only histories that reach the new step can tell; each names its file and the mismatching event.
  expect(failures.join('\n')).toMatch(
    /^runbook corruptedStoreRecovery, history test\/histories\/corruptedStoreRecovery\/\S+\.json: .*(Nondeterminism|nondeterminism).*/m,
  );
  expect(await replayFailures('corruptedStoreRecovery', v2)).toEqual([]);
}, 180000);

test('without patched(), the waiting run gets stuck on the new worker: status, list and approve say so and what to do; the sweep tells the webhooks once', async () => {
  const received: Record<string, unknown>[] = [];
  const hook = http.createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString()));
    req.on('end', () => {
      received.push(JSON.parse(body) as Record<string, unknown>);
      res.writeHead(200).end('ok');
    });
  });
  await new Promise<void>((r) => hook.listen(0, '127.0.0.1', r));
  const notify = {
    webhooks: [`http://127.0.0.1:${(hook.address() as AddressInfo).port}/hook`],
    uiUrl: 'http://127.0.0.1:8233',
    timeoutSeconds: 2,
  };
  const config = storeHost(notify);
  const taskQueue = uniqueQueue('stuck');
  const workflowId = await waitingOnVersion1(config, taskQueue);
  const worker = await startWorker(config, taskQueue, careless);
  const env = { LIFEBOAT_TASK_QUEUE: taskQueue };
  try {
    // A signal makes the new worker replay the run, and fail, again and again.
    await worker.client.workflow
      .getHandle(workflowId)
      .signal(approveSignal, { actor: 'alice', gate: 'restore' });
    // Stuck once its workflow task has failed three times in a row (Temporal retries it with backoff).
    await eventually(
      async () => {
        const listed = JSON.parse((await lifeboat(['list', '--state', 'stuck', '--json'], env)).stdout) as {
          workflowId: string;
        }[];
        return listed.some((r) => r.workflowId === workflowId) ? true : undefined;
      },
      'the run to be listed as stuck',
      120000,
    );
    const status = await lifeboat(['status', workflowId], env);
    expect(status.code).toBe(0);
    expect(status.stdout).toMatch(
      /STUCK: its workflow task has failed \d+ time\(s\) in a row since \S+: .*Nondeterminism/,
    );
    expect(status.stdout).toContain(
      `temporal workflow reset --workflow-id ${workflowId} --type FirstWorkflowTask`,
    );
    expect(status.stdout).toContain('roll the worker back to the version that started the run');

    const listed = await lifeboat(['list', '--state', 'stuck', '--json'], env);
    expect(JSON.parse(listed.stdout)).toContainEqual(
      expect.objectContaining({ workflowId, state: 'stuck', ownState: 'waiting' }),
    );
    const approve = await lifeboat(['approve', workflowId, '--as', 'alice'], env);
    expect(approve.code).toBe(1);
    expect(approve.stderr).toContain('approve cannot be delivered: the run is stuck.');
    expect(approve.stderr).toContain('temporal workflow reset');

    // The control plane's sweep: one notice per stuck run, remembered in the audit ledger.
    const ledger = new SqliteLedgerStore(config.auditLedger);
    try {
      const { sweepStuckRuns } = createStuckActivities(config, ledger, () => worker.client);
      const env = new MockActivityEnvironment({ taskQueue });
      const sweep = () => env.run<[], SweepReport, typeof sweepStuckRuns>(sweepStuckRuns);
      const first = await sweep();
      expect(first.stuck).toContainEqual(expect.objectContaining({ workflowId, noticed: 'now' }));
      const again = await sweep();
      expect(again.stuck).toContainEqual(expect.objectContaining({ workflowId, noticed: 'before' }));
      const notices = received.filter((b) => b.workflowId === workflowId && b.event === 'stuck');
      expect(notices).toHaveLength(1);
      expect(String(notices[0].text)).toContain('stuck (its workflow task keeps failing)');
      expect((await ledger.forWorkflow(workflowId)).filter((r) => r.event === 'run.stuck')).toHaveLength(1);
    } finally {
      await ledger.close();
    }
  } finally {
    await worker.client.workflow.getHandle(workflowId).terminate('test over: the stuck run is not needed');
    await worker.stop();
    hook.close();
  }
}, 180000);
