/**
 * Notifications on a real dev server: the configured webhooks hear when a run starts waiting,
 * completes, stops or fails, with a Slack-compatible `text`, structured fields and the UI link;
 * a webhook that is down is retried, recorded, and never fails the run or makes others repeat.
 */
import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';
import type { AuditRow } from '../activities/lib/ledger';
import { approveUpdate, stopUpdate } from '../common/messages';
import type { RunOutcome } from '../common/types';
import { writeStoreFixture } from '../scripts/demo-data';
import { freePort } from './ports';
import {
  eventually,
  startWorker,
  statusWhen,
  storeTargetConfig,
  tempDir,
  uniqueQueue,
  writeConfig,
  type TestWorker,
  auditRowsOf,
} from './helpers';

interface Received {
  path: string;
  body: Record<string, unknown>;
}

let dir: string;
let tw: TestWorker;
let server: http.Server;
let ledgerFile: string;
const received: Received[] = [];
let downPort: number;
const UI = 'http://127.0.0.1:18233';

beforeAll(async () => {
  dir = tempDir('notify');
  server = http.createServer((req, res) => {
    let data = '';
    req.on('data', (d: Buffer) => (data += d.toString()));
    req.on('end', () => {
      received.push({ path: req.url ?? '', body: JSON.parse(data) as Record<string, unknown> });
      res.writeHead(200).end('ok');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  downPort = await freePort();
  for (const name of ['gated', 'stopped']) writeStoreFixture(path.join(dir, name), 'corrupt', ['intact']);
  const { config } = writeConfig(dir, {
    auditLedger: 'audit.sqlite',
    notify: {
      // The first is down: nothing listens there. Its path stands for a token that must never be shown.
      webhooks: [
        `http://127.0.0.1:${downPort}/services/T000/secret-token-1`,
        `http://127.0.0.1:${port}/hook`,
      ],
      uiUrl: `${UI}/`,
      timeoutSeconds: 2,
    },
    targets: {
      gated: storeTargetConfig(path.join(dir, 'gated')),
      stopped: storeTargetConfig(path.join(dir, 'stopped')),
    },
  });
  ledgerFile = config.auditLedger;
  tw = await startWorker(config, uniqueQueue('notify'));
});

afterAll(async () => {
  await tw?.stop();
  await new Promise<void>((r) => server?.close(() => r()));
});

function start(target: string) {
  return tw.client.workflow.start('corruptedStoreRecovery', {
    taskQueue: tw.taskQueue,
    workflowId: `notify-${target}-${Math.random().toString(36).slice(2, 8)}`,
    args: [{ target }],
  });
}

function messagesFor(workflowId: string): Record<string, unknown>[] {
  return received.filter((r) => r.body.workflowId === workflowId).map((r) => r.body);
}

function auditOf(workflowId: string): AuditRow[] {
  return auditRowsOf(ledgerFile, workflowId);
}

test('a run waiting at a gate and then completing is announced once each, with the UI link; a webhook that is down is recorded', async () => {
  const handle = await start('gated');
  const waiting = await eventually(
    async () => messagesFor(handle.workflowId).find((m) => m.event === 'waiting'),
    'the waiting notification',
  );
  const runId = (await handle.describe()).runId;
  const link = `${UI}/namespaces/default/workflows/${handle.workflowId}/${runId}/history`;
  expect(waiting).toMatchObject({
    runbook: 'corruptedStoreRecovery',
    target: 'gated',
    state: 'waiting',
    gate: 'restore',
    step: 'gate:restore',
    runId,
    url: link,
  });
  expect(waiting.reason).toMatch(/primary .*graph\.json is corrupt/);
  expect(waiting.text).toContain('*corruptedStoreRecovery* on *gated* at gate `restore`');
  expect(waiting.text).toContain(`<${link}|Open the run in Temporal>`);

  await handle.executeUpdate(approveUpdate, { args: [{ actor: 'alice' }] });
  const outcome = (await handle.result()) as RunOutcome;
  expect(outcome.state).toBe('completed');
  const events = messagesFor(handle.workflowId).map((m) => m.event);
  // Once each: the retries for the webhook that is down did not repeat the one that is up.
  expect(events).toEqual(['waiting', 'completed']);
  expect(messagesFor(handle.workflowId)[1]).toMatchObject({
    state: 'completed',
    reason: 'outcome: restored',
  });

  const audit = auditOf(handle.workflowId);
  const failures = audit.filter((e) => e.event === 'notify.failed');
  expect(failures).toHaveLength(2);
  expect(failures[0].details).toMatch(
    new RegExp(`webhook #1 \\(127\\.0\\.0\\.1:${downPort}\\): ECONNREFUSED`),
  );
  // The token in the webhook's path appears nowhere: not in the audit, not in the run's history.
  expect(JSON.stringify(audit)).not.toContain('secret-token');
  const history = await handle.fetchHistory();
  expect(JSON.stringify(history)).not.toContain('secret-token');
}, 60000);

test('a stopped run and a run refused for bad input are announced', async () => {
  const handle = await start('stopped');
  await statusWhen(tw.client, handle.workflowId, (s) => s.state === 'waiting', 'the gate');
  await handle.executeUpdate(stopUpdate, { args: [{ actor: 'bob', reason: 'wrong host' }] });
  expect(((await handle.result()) as RunOutcome).state).toBe('stopped');
  const stopped = await eventually(
    async () => messagesFor(handle.workflowId).find((m) => m.event === 'stopped'),
    'the stopped notification',
  );
  expect(stopped).toMatchObject({ state: 'stopped', reason: 'stopped by bob: wrong host' });

  const bad = await start('nowhere');
  await expect(bad.result()).rejects.toThrow();
  const failed = await eventually(
    async () => messagesFor(bad.workflowId).find((m) => m.event === 'failed'),
    'the failed notification',
  );
  expect(failed.state).toBe('failed');
  expect(failed.reason).toMatch(/unknown target 'nowhere'/);
  expect(fs.existsSync(ledgerFile)).toBe(true);
}, 60000);
