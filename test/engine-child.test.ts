/**
 * `run.child()`: another runbook as a child workflow, listed among the parent's steps, followed by a
 * fact and the audit, and covered by the flow check like any step (a name the flow does not list
 * fails the parent as a RunbookBug, before any child starts).
 */
import { WorkflowFailedError } from '@temporalio/client';
import type { RunOutcome } from '../common/types';
import { startProbeWorker, type ProbeWorker } from './probe/worker';

let probe: ProbeWorker;

beforeAll(async () => {
  probe = await startProbeWorker(require.resolve('./child-probe/workflows'), 'child');
});

afterAll(async () => {
  await probe?.stop();
});

/** The visibility query for the children a parent started. */
function childrenOf(parent: string): string {
  return `ParentWorkflowId = '${parent}'`;
}

async function listed(query: string): Promise<string[]> {
  const ids: string[] = [];
  for await (const run of probe.client.workflow.list({ query })) ids.push(run.workflowId);
  return ids;
}

function start(listed: boolean) {
  return probe.client.workflow.start('parentProbe', {
    taskQueue: probe.taskQueue,
    workflowId: `parent-${listed}-${Math.random().toString(36).slice(2, 8)}`,
    args: [{ target: 'probe', listed }],
  });
}

test('a child listed in the flow runs as a step: its report, the step, the fact and the audit say how it ended', async () => {
  const handle = await start(true);
  const outcome = (await handle.result()) as RunOutcome<{ report: Record<string, unknown> }>;
  const report = outcome.result!.report;
  expect(report).toMatchObject({
    runbook: 'kidProbe',
    state: 'completed',
    outcome: 'answered',
    result: { outcome: 'answered', word: 'hello' },
  });
  const step = outcome.status.steps.find((s) => s.name === 'kid')!;
  expect(step).toMatchObject({ state: 'succeeded', result: { runbook: 'kidProbe', state: 'completed' } });
  expect(step.result).not.toHaveProperty('result');
  expect(outcome.status.facts.kid).toMatchObject({
    runbook: 'kidProbe',
    workflowId: report.workflowId,
    target: 'probe',
    note: 'a probe',
    state: 'completed',
    outcome: 'answered',
  });
  const child = await probe.client.workflow.getHandle(report.workflowId as string).describe();
  expect(child.status.name).toBe('COMPLETED');
  expect(await listed(childrenOf(handle.workflowId))).toEqual([report.workflowId]);
  const events = probe.ledger.forWorkflow(handle.workflowId).map((e) => `${e.event}@${e.step}`);
  expect(events).toEqual(expect.arrayContaining(['kid.started@kid', 'kid.ended@kid']));
});

test('a child under a name the flow does not list fails the parent as a RunbookBug, and no child starts', async () => {
  const handle = await start(false);
  const failure = await handle.result().then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(failure).toBeInstanceOf(WorkflowFailedError);
  expect((failure as WorkflowFailedError).cause).toMatchObject({
    type: 'RunbookBug',
    message:
      "runbook parentProbe: its meta.flow does not list step 'unlistedKid'; fix the flow, then run npm run docs",
  });
  expect(await listed(childrenOf(handle.workflowId))).toEqual([]);
});
