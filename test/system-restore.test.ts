/**
 * fullSystemRestore and proofRestore (procedure 004, Restore 1 and 2) on a real dev server with the
 * demo factory runtime as a storage root: real SQLite ledger, real proof chain, encrypted backups,
 * the runtime's stand-in service commands and a real HTTP health endpoint. Stop → restore → checks →
 * start → health → recovery proof; a failed health check after the start waits with the services
 * running; a stop at the gate starts them again; one day's proof file back, the chain verified across
 * every day, the receipt index rebuilt; a broken Merkle link named and put back by a stop.
 */
import { WorkflowFailedError } from '@temporalio/client';
import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';
import { approveUpdate, retryUpdate, stopUpdate } from '../common/messages';
import type { RunOutcome, RunStatus } from '../common/types';
import { panicDemoPaths, writeRuntimeDemo } from '../scripts/demo-panic';
import { startWorker, statusWhen, tempDir, uniqueQueue, writeConfig, type TestWorker } from './helpers';

const PASSPHRASE_ENV = 'LIFEBOAT_TEST_RUNTIME_PASSPHRASE';
let dir: string;
let tw: TestWorker;
let healthy = true;
let server: http.Server;
const TARGETS = ['full', 'unhealthy', 'stopped', 'proofs', 'broken'];
const rootOf = (name: string) => path.join(dir, name);
const log = (name: string) =>
  fs
    .readFileSync(panicDemoPaths(rootOf(name)).log, 'utf8')
    .trim()
    .split('\n');

beforeAll(async () => {
  process.env[PASSPHRASE_ENV] = 'runtime-test-passphrase';
  dir = tempDir('runtime');
  server = http.createServer((_req, res) =>
    res.writeHead(healthy ? 200 : 503).end(healthy ? 'ok' : 'degraded'),
  );
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const healthUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/api/mcp/healthz`;
  const targets: Record<string, unknown> = {};
  for (const name of TARGETS) {
    const target = writeRuntimeDemo(rootOf(name), {
      encryption: { passphraseEnv: PASSPHRASE_ENV },
      healthUrl,
    });
    (target.health as { attempts: number; intervalSeconds: number }).attempts = 2;
    (target.health as { intervalSeconds: number }).intervalSeconds = 0.2;
    targets[name] = target;
  }
  const { config } = writeConfig(dir, { auditLedger: 'audit.sqlite', targets });
  tw = await startWorker(config, uniqueQueue('runtime'));
  for (const name of TARGETS) {
    const full = await tw.client.workflow.execute('fullBackup', {
      taskQueue: tw.taskQueue,
      workflowId: `runtime-full-${name}-${Date.now()}`,
      args: [{ target: name }],
    });
    expect(full.state).toBe('completed');
  }
});

afterAll(async () => {
  await tw?.stop();
  await new Promise<void>((r) => server.close(() => r()));
});

async function start(runbook: string, input: Record<string, unknown>) {
  return tw.client.workflow.start(runbook, {
    taskQueue: tw.taskQueue,
    workflowId: `${runbook}-${String(input.target)}-${Math.random().toString(36).slice(2, 8)}`,
    args: [input],
  });
}
const atGate = (id: string) =>
  statusWhen(tw.client, id, (s) => s.waiting?.gate === 'restore', `${id} at gate restore`);

/** The disaster of the procedure's drill: the ledger deleted, proof files removed. */
function disaster(name: string): void {
  const p = panicDemoPaths(rootOf(name));
  fs.rmSync(p.ledger);
  for (const f of fs.readdirSync(p.proofs).slice(0, 3)) fs.rmSync(path.join(p.proofs, f));
}

describe('fullSystemRestore', () => {
  test('stop, restore the dated backup after approval, integrity, start, health, a recovery proof', async () => {
    const p = panicDemoPaths(rootOf('full'));
    const proofs = Object.fromEntries(
      fs.readdirSync(p.proofs).map((f) => [f, fs.readFileSync(path.join(p.proofs, f))]),
    );
    disaster('full');
    const today = new Date().toISOString().slice(0, 10);
    const handle = await start('fullSystemRestore', { target: 'full', backupId: today });
    const gate: RunStatus = await atGate(handle.workflowId);
    expect(log('full').at(-1)).toBe('stop');
    expect(gate.waiting!.plan!.summary).toMatch(
      /^replaces the live root with backup full-.*: \d+ files replaced, 4 added/,
    );
    await handle.executeUpdate(approveUpdate, { args: [{ actor: 'alice' }] });
    const outcome = (await handle.result()) as RunOutcome<Record<string, unknown>>;
    expect(outcome.result).toMatchObject({ outcome: 'restored' });
    // The services' log lives in the root: the stop is in the previous root's, the start in the restored one's.
    const previous = outcome.result!.previousRoot as string;
    expect(fs.readFileSync(path.join(previous, 'services.log'), 'utf8').trim().split('\n').at(-1)).toBe(
      'stop',
    );
    expect(log('full').at(-1)).toBe('start');
    expect(fs.existsSync(p.ledger)).toBe(true);
    for (const [f, bytes] of Object.entries(proofs))
      expect(fs.readFileSync(path.join(p.proofs, f))).toEqual(bytes);
    const proof = JSON.parse(
      fs.readFileSync((outcome.result!.proof as { path: string }).path, 'utf8'),
    ) as Record<string, unknown>;
    expect(proof).toMatchObject({
      kind: 'lifeboat.fullSystemRestore',
      forAPerson: expect.arrayContaining(['schedule the post-mortem review']),
    });
    expect((proof.checks as { name: string }[]).map((c) => c.name)).toEqual([
      'servicesStopped',
      'backupVerified',
      'restoredFiles',
      'proofChain',
      'servicesStarted',
      'health',
      'incidentLog',
    ]);
  });

  test('a day without a backup is bad input naming the days there are', async () => {
    const err = await (
      await start('fullSystemRestore', { target: 'full', backupId: '2001-01-01' })
    )
      .result()
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WorkflowFailedError);
    expect(String((err as WorkflowFailedError).cause?.message)).toMatch(
      /no backup of target 'full' was taken on 2001-01-01 \(UTC\); backups were taken on: \d{4}-\d{2}-\d{2}/,
    );
  });

  test('a failed health check after the start waits with the services left running, and says so', async () => {
    disaster('unhealthy');
    healthy = false;
    try {
      const handle = await start('fullSystemRestore', { target: 'unhealthy' });
      await atGate(handle.workflowId);
      await handle.executeUpdate(approveUpdate, { args: [{ actor: 'alice' }] });
      const waiting = await statusWhen(
        tw.client,
        handle.workflowId,
        (s) => s.waiting?.step === 'healthProbe',
        'the health STOP',
      );
      expect(waiting.waiting!.reason).toMatch(
        /HTTP 503.*; the services were started and are left running: retry once they are healthy/,
      );
      expect(log('unhealthy').at(-1)).toBe('start');
      healthy = true;
      await handle.executeUpdate(retryUpdate, { args: [{ actor: 'alice' }] });
      expect(((await handle.result()) as RunOutcome<{ outcome: string }>).result!.outcome).toBe('restored');
    } finally {
      healthy = true;
    }
  });

  test('a stop at the gate leaves the root as it was and starts the services again', async () => {
    const p = panicDemoPaths(rootOf('stopped'));
    fs.rmSync(p.ledger);
    const handle = await start('fullSystemRestore', { target: 'stopped' });
    await atGate(handle.workflowId);
    await handle.executeUpdate(stopUpdate, { args: [{ actor: 'bob', reason: 'restoring by hand' }] });
    expect(((await handle.result()) as RunOutcome).state).toBe('stopped');
    expect(fs.existsSync(p.ledger)).toBe(false);
    expect(log('stopped').slice(-2)).toEqual(['stop', 'start']);
  });
});

describe('proofRestore', () => {
  test("one day's proof back, the chain verified across every day, the receipt index rebuilt", async () => {
    const p = panicDemoPaths(rootOf('proofs'));
    const day = fs.readdirSync(p.proofs).sort()[2];
    const bytes = fs.readFileSync(path.join(p.proofs, day));
    fs.rmSync(path.join(p.proofs, day));
    const handle = await start('proofRestore', { target: 'proofs', date: day.slice(0, 10) });
    const gate = await atGate(handle.workflowId);
    expect(gate.waiting!.plan!.summary).toMatch(/: 0 files replaced, 1 added, 0 removed/);
    await handle.executeUpdate(approveUpdate, { args: [{ actor: 'alice' }] });
    const outcome = (await handle.result()) as RunOutcome<Record<string, unknown>>;
    expect(outcome.result).toMatchObject({
      outcome: 'restored',
      file: `proof/${day}`,
      replaced: false,
      chain: { files: 7 },
    });
    expect(fs.readFileSync(path.join(p.proofs, day))).toEqual(bytes);
    const index = JSON.parse(
      fs.readFileSync(path.join(rootOf('proofs'), 'data', 'receipt_index.json'), 'utf8'),
    ) as {
      days: string[];
    };
    expect(index.days).toHaveLength(7);
  });

  test('a broken Merkle link after the restore is named; a stop puts the replaced file back', async () => {
    const p = panicDemoPaths(rootOf('broken'));
    const days = fs.readdirSync(p.proofs).sort();
    // The day to restore is damaged; the next day was edited too, so its link no longer holds.
    const damaged = path.join(p.proofs, days[1]);
    fs.writeFileSync(damaged, '{"damaged": true}');
    const next = path.join(p.proofs, days[2]);
    const edited = fs
      .readFileSync(next, 'utf8')
      .replace(/"previousRoot": "[0-9a-f]{8}/, `"previousRoot": "00000000`);
    fs.writeFileSync(next, edited);
    const handle = await start('proofRestore', { target: 'broken', date: days[1].slice(0, 10) });
    await atGate(handle.workflowId);
    await handle.executeUpdate(approveUpdate, { args: [{ actor: 'alice' }] });
    const waiting = await statusWhen(
      tw.client,
      handle.workflowId,
      (s) => s.waiting?.step === 'verifyProofChain',
      'the chain STOP',
    );
    expect(waiting.waiting!.reason).toContain(days[2]);
    await handle.executeUpdate(stopUpdate, { args: [{ actor: 'alice', reason: 'the chain needs a look' }] });
    expect(((await handle.result()) as RunOutcome).state).toBe('stopped');
    expect(fs.readFileSync(damaged, 'utf8')).toBe('{"damaged": true}');
  });

  test('bad input: not a day, and a day the backup holds no proof for', async () => {
    for (const [date, message] of [
      ['yesterday', /input\.date: 'yesterday' is not a day; give the proof file's day as YYYY-MM-DD/],
      [
        '2001-01-01',
        /backup full-.* holds no proof file for 2001-01-01 \(proof\/2001-01-01\.json\); it holds \d{4}-\d{2}-\d{2} to \d{4}-\d{2}-\d{2}/,
      ],
    ] as const) {
      const err = await (
        await start('proofRestore', { target: 'full', date })
      )
        .result()
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(WorkflowFailedError);
      expect(String((err as WorkflowFailedError).cause?.message)).toMatch(message);
    }
  });
});
