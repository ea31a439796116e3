/**
 * The fullSystemRestore drill (procedure 004, Restore 1 and the Post-Recovery Checklist, in a
 * sandbox) on a real dev server with the demo factory runtime of `npm run up` as a storage root: real
 * SQLite ledger, proof chain, encrypted backups, the runtime's service script run by the drill's own
 * stop and start commands on the sandbox, and a real HTTP health endpoint. The disaster stops the
 * sandbox's services and loses its root; fullSystemRestore, the drill's child run, restores the
 * newest backup; the checklist finds the backup's files, the services started again and the health
 * endpoint answering. Production keeps every byte and mtime. An unhealthy service fails the drill
 * (signed, not passed); targets without the settings it needs are refused, naming them.
 */
import Database from 'better-sqlite3';
import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';
import type { DrillProofFile } from '../activities/drillProof';
import { sandboxPath } from '../activities/lib/sandbox';
import { stopUpdate } from '../common/messages';
import type { RunOutcome } from '../common/types';
import type { BackupResult } from '../runbooks/backupSteps';
import type { DrDrillResult } from '../runbooks/drDrill';
import { drillSection, writeDrillKeys } from '../scripts/demo-drill';
import { runtimeDrillCommands, writeRuntimeDemo } from '../scripts/demo-panic';
import { startWorker, statusWhen, tempDir, uniqueQueue, writeConfig, type TestWorker } from './helpers';
import { snapshot } from './tree-helpers';

const PASSPHRASE_ENV = 'LIFEBOAT_TEST_DRILL_RUNTIME_PASSPHRASE';
let dir: string;
let prod: string;
let drills: string;
let tw: TestWorker;
let server: http.Server;
let healthy = true;
let backup: BackupResult;
let before: Record<string, string>;

async function start(target: string) {
  return tw.client.workflow.start('drDrill', {
    taskQueue: tw.taskQueue,
    workflowId: `drDrill-${target}-fullSystemRestore-${Math.random().toString(36).slice(2, 8)}`,
    args: [{ target, scenario: 'fullSystemRestore' }],
  });
}

/** A ledger's rows, read from a copy (opening a database adds files beside it). */
function ledgerRows(file: string): unknown[] {
  const copy = path.join(fs.mkdtempSync(path.join(dir, 'rows-')), 'ledger.db');
  fs.copyFileSync(file, copy);
  if (fs.existsSync(`${file}-wal`)) fs.copyFileSync(`${file}-wal`, `${copy}-wal`);
  const db = new Database(copy, { readonly: true });
  try {
    return db.prepare('SELECT * FROM entries ORDER BY id').all();
  } finally {
    db.close();
  }
}

/** A root's files: SHA-256, or for the ledgers their rows (a backup snapshots a database). */
function contentOf(root: string): Record<string, unknown> {
  return Object.fromEntries(
    Object.entries(snapshot(root))
      .filter(
        ([p, line]) => !line.startsWith(' ') && !/-(wal|shm)$/.test(p) && !p.startsWith('recovery-proofs'),
      )
      .map(([p, line]) => [p, p.endsWith('.db') ? ledgerRows(path.join(root, p)) : line.split(' ')[0]]),
  );
}

const servicesLog = (sandbox: string) =>
  fs.readFileSync(path.join(sandbox, 'services.log'), 'utf8').trim().split('\n');

beforeAll(async () => {
  process.env[PASSPHRASE_ENV] = 'drill-runtime-test-passphrase';
  dir = tempDir('drill-runtime');
  prod = path.join(dir, 'prod');
  drills = path.join(dir, 'drills');
  server = http.createServer((_req, res) =>
    res.writeHead(healthy ? 200 : 503).end(healthy ? 'ok' : 'degraded'),
  );
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const healthUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/api/mcp/healthz`;
  const keys = await writeDrillKeys(path.join(dir, 'keys'));
  const runtime = (name: string, commands = true) => {
    const root = path.join(prod, name);
    const target = writeRuntimeDemo(root, { encryption: { passphraseEnv: PASSPHRASE_ENV }, healthUrl });
    Object.assign(target.health as object, { attempts: 2, intervalSeconds: 0.2 });
    return { ...target, drill: drillSection(drills, keys, commands ? runtimeDrillCommands(root) : {}) };
  };
  const { health: _health, ...noHealth } = runtime('noHealth') as Record<string, unknown>;
  const targets = {
    runtime: runtime('runtime'),
    noHealth,
    noCommands: runtime('noCommands', false),
    noBackup: runtime('noBackup'),
  };
  const { config } = writeConfig(dir, { auditLedger: 'audit.sqlite', targets });
  tw = await startWorker(config, uniqueQueue('drill-runtime'));
  const full = (await tw.client.workflow.execute('fullBackup', {
    taskQueue: tw.taskQueue,
    workflowId: `drill-runtime-full-${Date.now()}`,
    args: [{ target: 'runtime' }],
  })) as RunOutcome<BackupResult>;
  expect(full.state).toBe('completed');
  backup = full.result!;
  before = snapshot(prod);
}, 60000);

afterAll(async () => {
  await tw?.stop();
  await new Promise<void>((r) => server.close(() => r()));
});

test('fullSystemRestore: the lost root comes back as backed up, the services run again and answer healthy; production untouched', async () => {
  const outcome = (await (await start('runtime')).result()) as RunOutcome<DrDrillResult>;
  expect(outcome.state).toBe('completed');
  const result = outcome.result!;
  expect(result.checks.filter((c) => !c.ok)).toEqual([]);
  expect(result).toMatchObject({ outcome: 'passed', passed: true, scenario: 'fullSystemRestore' });
  expect(result.recovery).toMatchObject({
    runbook: 'fullSystemRestore',
    state: 'completed',
    outcome: 'restored',
  });
  expect(result.checks.map((c) => c.name)).toEqual([
    'recoveryCompleted',
    'restoredPinnedBackup',
    'filesRestored',
    'noUnlistedFiles',
    'databaseIntegrity',
    'modesAndMtimes',
    'servicesStopped',
    'servicesRunning',
    'healthy',
    'recoveryProofWritten',
  ]);
  expect(result.backup?.id).toBe(backup.backupId);
  expect(result.rto).toMatchObject({ objectiveMinutes: 30, met: true });
  expect(result.rpo).toMatchObject({ objectiveMinutes: 60, met: true });

  // The drill's commands ran on the sandbox: stopped by the disaster and by the recovery, then started.
  expect(servicesLog(result.sandbox)).toEqual(['stop', 'stop', 'start']);
  const disaster = JSON.parse(fs.readFileSync(path.join(result.sandbox, 'disaster.json'), 'utf8')) as {
    actions: string[];
  };
  const root = path.join(prod, 'runtime');
  expect(disaster.actions.at(-1)).toBe(`lost the whole root ${sandboxPath(result.sandbox, root)} (deleted)`);
  // The sandbox's root holds production's files and ledger rows again (the recovery proof besides).
  const restored = sandboxPath(result.sandbox, root);
  expect(contentOf(restored)).toEqual(contentOf(root));
  expect(fs.readdirSync(path.join(restored, 'recovery-proofs'))).toHaveLength(1);

  const proof = JSON.parse(fs.readFileSync(result.proof.path, 'utf8')) as DrillProofFile;
  expect(proof.proof).toMatchObject({ scenario: 'fullSystemRestore', passed: true, checks: result.checks });
  expect(fs.existsSync(result.proof.signaturePath)).toBe(true);
  expect(snapshot(prod)).toEqual(before);
});

test('an unhealthy service after the start: the recovery waits with the services running; stopping it fails the drill, with a signed proof', async () => {
  healthy = false;
  try {
    const handle = await start('runtime');
    const childId = `${handle.workflowId}-fullSystemRestore`;
    const waiting = await statusWhen(tw.client, childId, (s) => s.state === 'waiting', 'the health STOP');
    expect(waiting.waiting).toMatchObject({ step: 'healthProbe' });
    expect(waiting.waiting!.reason).toMatch(/HTTP 503.*; the services were started and are left running/);
    const sandbox = (waiting.target ?? '').replace(/^runtime@drill-/, '');
    expect(servicesLog(path.join(drills, sandbox))).toEqual(['stop', 'stop', 'start']);
    await tw.client.workflow
      .getHandle(childId)
      .executeUpdate(stopUpdate, { args: [{ actor: 'alice', reason: 'the service does not come up' }] });
    const result = ((await handle.result()) as RunOutcome<DrDrillResult>).result!;
    expect(result).toMatchObject({ outcome: 'failed', passed: false });
    expect(result.recovery.state).toBe('stopped');
    const byName = Object.fromEntries(result.checks.map((c) => [c.name, c]));
    expect(byName.recoveryCompleted.ok).toBe(false);
    expect(byName.healthy).toMatchObject({ ok: false, detail: expect.stringContaining('HTTP 503') });
    expect(byName.servicesRunning).toMatchObject({
      ok: false,
      detail: expect.stringContaining('the recovery ended stopped without its checklist'),
    });
    // The files did come back: the drill says what failed, not that everything did.
    expect(byName.filesRestored.ok).toBe(true);
    const proof = JSON.parse(fs.readFileSync(result.proof.path, 'utf8')) as DrillProofFile;
    expect(proof.proof.passed).toBe(false);
    expect(fs.existsSync(result.proof.signaturePath)).toBe(true);
  } finally {
    healthy = true;
  }
  expect(snapshot(prod)).toEqual(before);
});

test('targets without a health endpoint, the drill commands or a backup are refused, naming the setting', async () => {
  const refusal = async (target: string) => {
    const err = await (await start(target)).result().catch((e: unknown) => e);
    return String((err as { cause?: { message?: string } }).cause?.message);
  };
  expect(await refusal('noHealth')).toContain(
    "scenario 'fullSystemRestore' does not fit target 'noHealth': it runs fullSystemRestore against the sandbox, which needs a 'health' section (targets.noHealth.health.url;",
  );
  const commands = await refusal('noCommands');
  expect(commands).toContain(
    "the command 'stop' in its drill's commands (targets.noCommands.drill.commands.stop;",
  );
  expect(commands).toContain(
    "the command 'start' in its drill's commands (targets.noCommands.drill.commands.start;",
  );
  expect(await refusal('noBackup')).toContain(
    'needs a backup in the catalog to restore (run fullBackup first)',
  );
  expect(snapshot(prod)).toEqual(before);
});
