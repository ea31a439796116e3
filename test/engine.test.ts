/**
 * The engine kit on a real dev server, through a probe runbook: compensations on stop, skippable
 * steps, exhausted retries, gate timeouts, and decisions refused where they do not apply.
 */
import type { Client } from '@temporalio/client';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { AuditLedger } from '../activities/lib/ledger';
import { retryUpdate, skipUpdate, stopUpdate, approveUpdate } from '../common/messages';
import type { RunOutcome } from '../common/types';
import { startProbeWorker, type ProbeWorker } from './probe/worker';
import { refusal, statusWhen } from './helpers';

let probe: ProbeWorker;
let dir: string;
let ledger: AuditLedger;
let client: Client;
let taskQueue: string;

beforeAll(async () => {
  probe = await startProbeWorker(require.resolve('./probe/workflows'), 'engine', {
    // The probe's gates default to an hour; the target's config makes them time out in a second.
    gates: { quick: { timeoutSeconds: 1 }, quickProceed: { timeoutSeconds: 1 } },
  });
  ({ dir, ledger, client, taskQueue } = probe);
});

afterAll(async () => {
  await probe?.stop();
});

function start(scenario: string, marker: string) {
  return client.workflow.start('engineProbe', {
    taskQueue,
    workflowId: `probe-${scenario}-${Math.random().toString(36).slice(2, 8)}`,
    args: [{ target: 'probe', scenario, marker }],
  });
}

test('stop runs the registered compensations in reverse and ends as stopped', async () => {
  const marker = path.join(dir, 'compensate.marker');
  const handle = await start('compensate', marker);
  await statusWhen(client, handle.workflowId, (s) => s.state === 'waiting', 'the gate');
  expect(fs.readFileSync(marker, 'utf8')).toBe('written');

  expect(
    await refusal(handle.executeUpdate(stopUpdate, { args: [{ actor: 'alice', reason: '  ' }] })),
  ).toMatch(/reason is required/);
  expect(await refusal(handle.executeUpdate(retryUpdate, { args: [{ actor: 'alice' }] }))).toMatch(
    /waits at gate 'proceed'.*approve or stop/,
  );
  await handle.executeUpdate(stopUpdate, { args: [{ actor: 'alice', reason: 'drill over' }] });

  const outcome = (await handle.result()) as RunOutcome;
  expect(outcome.state).toBe('stopped');
  expect(outcome.stoppedBy).toBe('alice');
  expect(outcome.stopReason).toBe('drill over');
  expect(fs.existsSync(marker)).toBe(false);
  const events = ledger.forWorkflow(handle.workflowId).map((r) => r.event);
  expect(events).toEqual(
    expect.arrayContaining([
      'decision.stop',
      'compensation.started',
      'compensation.succeeded',
      'run.stopped',
    ]),
  );
});

test('a STOP-class failure waits; skip is allowed only where the step allows it and returns its skip value', async () => {
  const marker = path.join(dir, 'skip.marker');
  const handle = await start('skip', marker);
  const waiting = await statusWhen(
    client,
    handle.workflowId,
    (s) => s.state === 'waiting',
    'the failed step',
  );
  expect(waiting.waiting).toMatchObject({
    kind: 'failure',
    step: 'failsOnce',
    reason: 'stop class',
    errorType: 'ChecksumMismatch',
  });
  expect(waiting.waiting!.allowed).toEqual(['retry', 'skip', 'stop']);
  // A STOP class is not retried by the activity's own policy: one attempt only.
  expect(waiting.steps[1]).toMatchObject({ name: 'failsOnce', attempts: 1, state: 'waiting' });
  expect(await refusal(handle.executeUpdate(approveUpdate, { args: [{ actor: 'alice' }] }))).toMatch(
    /not at a gate/,
  );

  await handle.executeUpdate(skipUpdate, { args: [{ actor: 'alice', comment: 'known bad' }] });
  const outcome = (await handle.result()) as RunOutcome;
  expect(outcome.state).toBe('completed');
  expect(outcome.result).toBe('skipped');
  expect(fs.readFileSync(marker, 'utf8')).toBe('skipped');
  expect(outcome.status.steps.find((s) => s.name === 'failsOnce')?.state).toBe('skipped');
  expect(outcome.status.decisions).toEqual([
    expect.objectContaining({ action: 'skip', actor: 'alice', comment: 'known bad' }),
  ]);
});

test('exhausted retries wait; retry runs the step again; a non-skippable step refuses skip', async () => {
  const handle = await start('exhaust', path.join(dir, 'unused'));
  const first = await statusWhen(
    client,
    handle.workflowId,
    (s) => s.state === 'waiting',
    'exhausted retries',
  );
  expect(first.waiting).toMatchObject({ kind: 'failure', step: 'flaky', reason: 'transient trouble' });
  expect(await refusal(handle.executeUpdate(skipUpdate, { args: [{ actor: 'alice' }] }))).toMatch(
    /'flaky' cannot be skipped/,
  );

  await handle.executeUpdate(retryUpdate, { args: [{ actor: 'bob' }] });
  const second = await statusWhen(
    client,
    handle.workflowId,
    (s) => s.state === 'waiting' && s.steps[1]?.attempts === 2,
    'the second failure',
  );
  expect(second.decisions.map((d) => `${d.action}:${d.actor}`)).toEqual(['retry:bob']);
  await handle.executeUpdate(stopUpdate, { args: [{ actor: 'bob', reason: 'giving up' }] });
  expect(((await handle.result()) as RunOutcome).state).toBe('stopped');
});

test("a gate that times out (after the target's configured timeout) stops the run, or proceeds, as its policy says", async () => {
  const stopped = await start('timeoutStop', path.join(dir, 'unused'));
  const proceeded = await start('timeoutProceed', path.join(dir, 'unused'));
  const a = (await stopped.result()) as RunOutcome;
  expect(a.state).toBe('stopped');
  expect(a.stoppedBy).toBe('timeout');
  expect(a.stopReason).toMatch(/gate 'quick' was not approved within 1s/);
  const b = (await proceeded.result()) as RunOutcome;
  expect(b.state).toBe('completed');
  expect(b.result).toBe('proceeded');
  expect(b.status.decisions).toEqual([
    expect.objectContaining({ action: 'approve', actor: 'timeout', gate: 'quickProceed' }),
  ]);
});
