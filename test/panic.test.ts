/**
 * panicRecovery on a real dev server with real files, real SQLite databases, real commands (a
 * small Node script, no shell) and real HTTP on 127.0.0.1: every branch and every STOP, with the
 * reason in the status and in the audit ledger, and nothing in place lost.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';
import { createHash } from 'node:crypto';
import { approveUpdate, retryUpdate, stopUpdate } from '../common/messages';
import type { RunOutcome } from '../common/types';
import type { PanicRecoveryResult, RecoveryCheck } from '../runbooks/panicRecovery';
import { panicDemoPaths, writePanicDemo, type PanicDemoOptions } from '../scripts/demo-panic';
import { freePort } from './ports';
import {
  eventually,
  processRunning,
  snapshotTree,
  startWorker,
  statusWhen,
  tempDir,
  uniqueQueue,
  writeConfig,
  type TestWorker,
  auditRowsOf,
} from './helpers';

let dir: string;
let ledgerFile: string;
let tw: TestWorker;
let healthy: http.Server;
let late: http.Server | undefined;
let refusedPort: number;
let flagMount: string;
const requests: string[] = [];
// Basic credentials in the health URL: sent as a header, never shown.
const SECURE_AUTH = `Basic ${Buffer.from('lifeboat:s3cret!').toString('base64')}`;

const paths = (name: string) => panicDemoPaths(path.join(dir, name));
const sha256 = (file: string) => createHash('sha256').update(fs.readFileSync(file)).digest('hex');
const log = (name: string) =>
  fs.existsSync(paths(name).log) ? fs.readFileSync(paths(name).log, 'utf8').split('\n').filter(Boolean) : [];

function listen(server: http.Server, port = 0): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve((server.address() as { port: number }).port));
  });
}

function healthServer(): http.Server {
  return http.createServer((req, res) => {
    requests.push(req.url ?? '');
    if (req.url === '/secure' && req.headers.authorization !== SECURE_AUTH) {
      res.writeHead(401).end('who are you?');
      return;
    }
    const down = req.url === '/down';
    res.writeHead(down ? 503 : 200, { 'content-type': 'application/json' });
    res.end(down ? '{"status":"degraded","ledger":"read-only"}' : '{"status":"healthy"}');
  });
}

beforeAll(async () => {
  dir = tempDir('panic');
  healthy = healthServer();
  const port = await listen(healthy);
  refusedPort = await freePort();
  const target = (name: string, options: PanicDemoOptions = {}, extra: Record<string, unknown> = {}) => {
    const config = writePanicDemo(path.join(dir, name), {
      healthUrl: `http://127.0.0.1:${port}/healthz`,
      ...options,
    });
    return {
      ...config,
      health: {
        url: `http://127.0.0.1:${port}/healthz`,
        attempts: 2,
        intervalSeconds: 0.2,
        timeoutSeconds: 2,
      },
      ...extra,
    };
  };
  const node = process.execPath;
  const targets: Record<string, Record<string, unknown>> = {
    corrupt: target(
      'corrupt',
      {},
      {
        health: {
          url: `http://lifeboat:s3cret%21@127.0.0.1:${port}/secure`,
          attempts: 2,
          intervalSeconds: 0.2,
          timeoutSeconds: 2,
        },
      },
    ),
    intact: target('intact', { ledger: 'intact' }),
    calm: target('calm', { flag: null }),
    noBackup: target('noBackup', { backups: ['corrupt', 'not-sqlite'] }),
    brokenChain: target('brokenChain', { ledger: 'intact' }),
    stopAfterRestore: target('stopAfterRestore'),
    missingLedger: target('missingLedger', { ledger: 'missing' }),
    backupChanged: target('backupChanged'),
    flagIsFolder: target('flagIsFolder', { flag: null }),
    unhealthy: target('unhealthy', { ledger: 'intact' }),
    refused: target('refused', { ledger: 'intact' }),
    hang: target('hang'),
    hangLong: target('hangLong'),
    readonlyFlag: target('readonlyFlag', { ledger: 'intact' }),
    startFails: target('startFails', { ledger: 'intact' }),
    noNonceCommand: target('noNonceCommand'),
  };
  targets.refused.health = {
    url: `http://127.0.0.1:${refusedPort}/healthz`,
    attempts: 3,
    intervalSeconds: 0.2,
    timeoutSeconds: 2,
  };
  targets.unhealthy.health = {
    url: `http://127.0.0.1:${port}/down`,
    attempts: 2,
    intervalSeconds: 0.2,
    timeoutSeconds: 2,
  };
  const commands = (name: string) => targets[name].commands as Record<string, unknown>;
  commands('hang').stop = {
    argv: [node, '-e', 'console.log("stopping..."); setInterval(() => {}, 1000)'],
    timeoutSeconds: 1,
  };
  // Writes its pid, then hangs well past the test: only a stop can end it.
  commands('hangLong').stop = {
    argv: [
      node,
      '-e',
      `require('fs').writeFileSync(${JSON.stringify(path.join(dir, 'hangLong.pid'))}, String(process.pid)); setInterval(() => {}, 1000)`,
    ],
    timeoutSeconds: 600,
  };
  commands('startFails').start = {
    argv: [node, '-e', 'console.error("federation-sync: port 7000 in use"); process.exit(3)'],
  };
  delete commands('noNonceCommand').rebuildNonceStore;

  // Proof chains damaged in two ways: a day's leaves changed, a day's file missing.
  const tamper = paths('brokenChain');
  const day = JSON.parse(
    fs.readFileSync(path.join(tamper.proofs, fs.readdirSync(tamper.proofs).sort()[3]), 'utf8'),
  );
  day.leaves[0] = createHash('sha256').update('forged').digest('hex');
  fs.writeFileSync(path.join(tamper.proofs, `${day.date}.json`), JSON.stringify(day, null, 2));
  for (const name of ['stopAfterRestore', 'missingLedger']) {
    const gap = paths(name);
    fs.rmSync(path.join(gap.proofs, fs.readdirSync(gap.proofs).sort()[2]));
  }
  // A damaged ledger with a WAL beside it: the WAL must go with it, and come back with it.
  fs.writeFileSync(`${paths('stopAfterRestore').ledger}-wal`, 'stale write-ahead log of the damaged ledger');
  fs.mkdirSync(paths('flagIsFolder').flag);

  // The flag on its own small file system, made read-only: unlink fails even for root.
  flagMount = path.join(dir, 'readonlyFlag', 'flagfs');
  fs.mkdirSync(flagMount);
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', flagMount]);
  fs.writeFileSync(path.join(flagMount, 'ATLAS_PANIC'), 'panic: disk errors\n');
  execFileSync('mount', ['-o', 'remount,ro', flagMount]);
  (targets.readonlyFlag.panic as Record<string, unknown>).flag = path.join(flagMount, 'ATLAS_PANIC');

  const { config } = writeConfig(dir, { auditLedger: 'audit.sqlite', targets });
  ledgerFile = config.auditLedger;
  tw = await startWorker(config, uniqueQueue('panic'));
});

afterAll(async () => {
  await tw?.stop();
  await new Promise((r) => healthy?.close(r));
  if (late) await new Promise((r) => late!.close(r));
  if (flagMount) execFileSync('umount', [flagMount]);
});

function start(target: string) {
  return tw.client.workflow.start('panicRecovery', {
    taskQueue: tw.taskQueue,
    workflowId: `panic-${target}-${Math.random().toString(36).slice(2, 8)}`,
    args: [{ target }],
  });
}

const waiting = (id: string) => statusWhen(tw.client, id, (s) => s.state === 'waiting', `${id} waiting`);

/** The audit ledger's `step.failed` event for `step` (written by the run's audit loop). */
function auditedFailure(workflowId: string, step: string): Promise<{ error: string; type: string }> {
  return eventually(async () => {
    const row = auditRowsOf(ledgerFile, workflowId).find((r) => r.event === 'step.failed' && r.step === step);
    return row ? (JSON.parse(row.details) as { error: string; type: string }) : undefined;
  }, `the audited failure of ${step}`);
}

function auditEvents(workflowId: string): { event: string; step: string | null }[] {
  return auditRowsOf(ledgerFile, workflowId).map((r) => ({ event: r.event, step: r.step }));
}

test('a corrupt ledger: waits at restoreLedger, restores the newest backup that passes integrity_check, and proves the recovery', async () => {
  const p = paths('corrupt');
  const corruptBytes = fs.readFileSync(p.ledger);
  const flagBytes = fs.readFileSync(p.flag);
  const [older, valid, newest] = fs.readdirSync(p.ledgerBackups).sort();
  const handle = await start('corrupt');

  const gate = await waiting(handle.workflowId);
  expect(gate.waiting).toMatchObject({ kind: 'gate', gate: 'restoreLedger' });
  expect(gate.waiting!.reason).toMatch(/PRAGMA integrity_check: Tree \d+ page \d+/);
  expect(gate.waiting!.reason).toContain(`restore backup ${valid}`);
  // The newest backup was looked at first and rejected, with why.
  expect(gate.facts.ledgerBackupsChecked).toEqual([
    expect.objectContaining({
      file: newest,
      valid: false,
      problem: expect.stringMatching(/integrity_check/),
    }),
    expect.objectContaining({ file: valid, valid: true }),
  ]);
  // Until approval, the services are only stopped and the ledger untouched.
  expect(log('corrupt')).toEqual(['stop']);
  expect(fs.readFileSync(p.ledger)).toEqual(corruptBytes);

  await handle.executeUpdate(approveUpdate, { args: [{ actor: 'alice', comment: 'backup looks right' }] });
  const outcome = (await handle.result()) as RunOutcome<PanicRecoveryResult>;
  expect(outcome.state).toBe('completed');
  const result = outcome.result!;
  expect(result).toMatchObject({ outcome: 'recovered', ledger: { action: 'restored', backup: valid } });

  // stop → rebuild (after the restore: it read the restored ledger) → start.
  expect(log('corrupt')).toEqual(['stop', 'rebuildNonceStore', 'start']);
  const nonces = (JSON.parse(fs.readFileSync(p.nonceStore, 'utf8')) as { nonces: string[] }).nonces;
  expect(nonces).toHaveLength(120);
  // The ledger is the backup byte for byte; the damaged one is kept in quarantine.
  expect(fs.readFileSync(p.ledger)).toEqual(fs.readFileSync(path.join(p.ledgerBackups, valid)));
  expect(fs.readFileSync(path.join(result.ledger!.quarantine!, 'federation_ledger.db'))).toEqual(
    corruptBytes,
  );
  expect(fs.readdirSync(p.ledgerBackups).sort()).toEqual([older, valid, newest]);
  // The flag is gone, its file kept beside the recovery proof.
  expect(fs.existsSync(p.flag)).toBe(false);
  const kept = fs.readdirSync(p.recoveryProofs).find((f) => f.endsWith('.flag'))!;
  expect(fs.readFileSync(path.join(p.recoveryProofs, kept))).toEqual(flagBytes);

  // The recovery proof: written where the config says, its sha256 returned, every check listed and ok.
  expect(path.dirname(result.proof!.path)).toBe(p.recoveryProofs);
  expect(path.basename(result.proof!.path)).toMatch(/^recovery-\d{8}T\d{6}Z-[0-9a-f]{12}\.json$/);
  expect(sha256(result.proof!.path)).toBe(result.proof!.sha256);
  const proof = JSON.parse(fs.readFileSync(result.proof!.path, 'utf8'));
  expect(proof).toMatchObject({
    target: 'corrupt',
    workflowId: handle.workflowId,
    runId: handle.firstExecutionRunId,
    panicFlag: { path: p.flag, content: flagBytes.toString('utf8') },
    ledger: {
      action: 'restored',
      backupUsed: { name: valid, sha256: sha256(path.join(p.ledgerBackups, valid)) },
    },
    objectives: { rtoMinutes: 30, rpoMinutes: 60 },
    withinRto: true,
    decisions: [expect.objectContaining({ action: 'approve', actor: 'alice', gate: 'restoreLedger' })],
  });
  const names = (proof.checks as RecoveryCheck[]).map((c) => c.name);
  expect(names).toEqual([
    'panicFlagPresent',
    'servicesStopped',
    'ledgerIntegrity',
    'nonceStoreRebuilt',
    'proofChain',
    'health',
    'panicFlagCleared',
    'servicesStarted',
  ]);
  expect((proof.checks as RecoveryCheck[]).every((c) => c.ok && c.at && c.detail)).toBe(true);
  expect(proof.checks.find((c: RecoveryCheck) => c.name === 'proofChain').detail).toMatch(
    /^7 proof file\(s\)/,
  );
  expect(proof.timings.steps.map((s: { name: string }) => s.name)).toContain('gate:restoreLedger');
  // The same checks are in the status and the result.
  expect(outcome.status.facts.checks).toEqual(proof.checks);
  expect(result.checks).toEqual(proof.checks);
  // The health URL's credentials went as a header, and nowhere else.
  expect(requests).toContain('/secure');
  expect(proof.checks.find((c: RecoveryCheck) => c.name === 'health').detail).toBe(
    `http://127.0.0.1:${(healthy.address() as { port: number }).port}/secure answered HTTP 200 (attempt 1)`,
  );
  expect(JSON.stringify(outcome)).not.toContain('s3cret');
  expect(fs.readFileSync(result.proof!.path, 'utf8')).not.toContain('s3cret');
});

test('an intact ledger is kept as it is: no gate, no restore', async () => {
  const p = paths('intact');
  const before = fs.readFileSync(p.ledger);
  const handle = await start('intact');
  const outcome = (await handle.result()) as RunOutcome<PanicRecoveryResult>;
  expect(outcome.state).toBe('completed');
  expect(outcome.result!.ledger).toEqual({ action: 'kept', file: p.ledger, sha256: sha256(p.ledger) });
  expect(fs.readFileSync(p.ledger)).toEqual(before);
  expect(fs.existsSync(path.join(path.dirname(p.ledger), 'quarantine'))).toBe(false);
  expect(outcome.status.steps.map((s) => s.name)).not.toContain('gate:restoreLedger');
  expect(log('intact')).toEqual(['stop', 'rebuildNonceStore', 'start']);
  expect(fs.existsSync(p.flag)).toBe(false);
  const proof = JSON.parse(fs.readFileSync(outcome.result!.proof!.path, 'utf8'));
  expect(proof.ledger).toEqual({ action: 'kept', file: p.ledger, sha256: sha256(p.ledger) });
  expect(proof.checks.find((c: RecoveryCheck) => c.name === 'ledgerIntegrity').detail).toMatch(
    /passes PRAGMA integrity_check; kept/,
  );
});

test('no panic flag: notInPanic, and nothing is run or changed', async () => {
  const root = path.join(dir, 'calm');
  const before = snapshotTree(root);
  const handle = await start('calm');
  const outcome = (await handle.result()) as RunOutcome<PanicRecoveryResult>;
  expect(outcome.result).toEqual({ outcome: 'notInPanic', flag: paths('calm').flag, checks: [] });
  expect(outcome.status.steps.map((s) => s.name)).toEqual(['resolveTarget', 'checkPanicFlag']);
  expect(snapshotTree(root)).toEqual(before);
});

test('no ledger backup passes integrity_check: STOP NoValidBackup naming each backup; stop leaves everything in place', async () => {
  const root = path.join(dir, 'noBackup');
  const p = paths('noBackup');
  const handle = await start('noBackup');
  const status = await waiting(handle.workflowId);
  expect(status.waiting).toMatchObject({ step: 'findValidLedgerBackup', errorType: 'NoValidBackup' });
  const [corrupt, notSqlite] = fs.readdirSync(p.ledgerBackups).sort();
  expect(status.waiting!.reason).toMatch(/no ledger backup among 2 .* passes PRAGMA integrity_check/);
  expect(status.waiting!.reason).toContain(`${notSqlite}: cannot be read as SQLite: file is not a database`);
  expect(status.waiting!.reason).toMatch(
    new RegExp(
      `${corrupt}: (PRAGMA integrity_check: |cannot be read as SQLite: database disk image is malformed)`,
    ),
  );
  expect((await auditedFailure(handle.workflowId, 'findValidLedgerBackup')).type).toBe('NoValidBackup');
  const before = snapshotTree(root);

  await handle.executeUpdate(stopUpdate, {
    args: [{ actor: 'bob', reason: 'restoring the ledger from tape' }],
  });
  const outcome = (await handle.result()) as RunOutcome;
  expect(outcome).toMatchObject({ state: 'stopped', stoppedBy: 'bob' });
  expect(snapshotTree(root)).toEqual(before);
  expect(fs.existsSync(p.flag)).toBe(true);
  expect(log('noBackup')).toEqual(['stop']);
});

test('a broken proof chain: STOP IntegrityFailure naming the first broken file; the flag stays, the services stay stopped', async () => {
  const p = paths('brokenChain');
  const broken = fs.readdirSync(p.proofs).sort()[3];
  const handle = await start('brokenChain');
  const status = await waiting(handle.workflowId);
  expect(status.waiting).toMatchObject({ step: 'verifyProofChain', errorType: 'IntegrityFailure' });
  expect(status.waiting!.reason).toMatch(
    new RegExp(
      `breaks at ${broken}: the stored root does not recompute .* \\(expected [0-9a-f]{16}…, found [0-9a-f]{16}…\\); 3 file\\(s\\) before it verified`,
    ),
  );
  const audited = await auditedFailure(handle.workflowId, 'verifyProofChain');
  expect(audited).toMatchObject({ type: 'IntegrityFailure', error: status.waiting!.reason });
  expect(status.facts.checks).toEqual(
    ['panicFlagPresent', 'servicesStopped', 'ledgerIntegrity', 'nonceStoreRebuilt'].map((name) =>
      expect.objectContaining({ name, ok: true }),
    ),
  );
  expect(fs.existsSync(p.flag)).toBe(true);
  expect(log('brokenChain')).toEqual(['stop', 'rebuildNonceStore']);
  await handle.executeUpdate(stopUpdate, { args: [{ actor: 'bob', reason: 'restoring proofs first' }] });
  expect(((await handle.result()) as RunOutcome).state).toBe('stopped');
  expect(fs.existsSync(p.flag)).toBe(true);
});

test('stop after the ledger was restored puts the damaged ledger and its WAL back; the restored copy is kept', async () => {
  const p = paths('stopAfterRestore');
  const damaged = fs.readFileSync(p.ledger);
  const wal = fs.readFileSync(`${p.ledger}-wal`);
  const handle = await start('stopAfterRestore');
  await waiting(handle.workflowId);
  await handle.executeUpdate(approveUpdate, { args: [{ actor: 'alice' }] });
  // A day's proof file is missing: the day after it does not link.
  const status = await statusWhen(
    tw.client,
    handle.workflowId,
    (s) => s.waiting?.step === 'verifyProofChain',
    'the STOP',
  );
  expect(status.waiting!.reason).toMatch(
    /previousRoot is not the root of \d{4}-\d{2}-\d{2}\.json \(a day may be missing or altered\)/,
  );
  const backup = status.facts.ledgerBackup as string;
  expect(fs.readFileSync(p.ledger)).toEqual(fs.readFileSync(path.join(p.ledgerBackups, backup)));
  expect(fs.existsSync(`${p.ledger}-wal`)).toBe(false);
  expect((status.facts.quarantined as string[]).map((f) => path.basename(f))).toEqual([
    'federation_ledger.db',
    'federation_ledger.db-wal',
  ]);

  await handle.executeUpdate(stopUpdate, { args: [{ actor: 'bob', reason: 'proofs first' }] });
  const outcome = (await handle.result()) as RunOutcome;
  expect(outcome.state).toBe('stopped');
  expect(outcome.status.error).toBeUndefined();
  expect(fs.readFileSync(p.ledger)).toEqual(damaged);
  expect(fs.readFileSync(`${p.ledger}-wal`)).toEqual(wal);
  const quarantine = path.dirname((status.facts.quarantined as string[])[0]);
  expect(fs.readFileSync(path.join(quarantine, 'restored', 'federation_ledger.db'))).toEqual(
    fs.readFileSync(path.join(p.ledgerBackups, backup)),
  );
  expect(fs.existsSync(p.flag)).toBe(true);
  expect(log('stopAfterRestore')).toEqual(['stop', 'rebuildNonceStore']);
  expect(auditEvents(handle.workflowId)).toEqual(
    expect.arrayContaining([{ event: 'compensation.succeeded', step: 'putLedgerBack' }]),
  );
});

test('a missing ledger is restored after approval; stop leaves no ledger, as found', async () => {
  const p = paths('missingLedger');
  const handle = await start('missingLedger');
  const gate = await waiting(handle.workflowId);
  expect(gate.waiting!.reason).toMatch(/the ledger .* is not usable \(the ledger database is missing\)/);
  await handle.executeUpdate(approveUpdate, { args: [{ actor: 'alice' }] });
  await statusWhen(tw.client, handle.workflowId, (s) => s.waiting?.step === 'verifyProofChain', 'the STOP');
  expect(fs.existsSync(p.ledger)).toBe(true);
  await handle.executeUpdate(stopUpdate, { args: [{ actor: 'bob', reason: 'proofs first' }] });
  const outcome = (await handle.result()) as RunOutcome;
  expect(outcome.state).toBe('stopped');
  expect(fs.existsSync(p.ledger)).toBe(false);
  const quarantine = path.join(path.dirname(p.ledger), 'quarantine');
  const [runFolder] = fs.readdirSync(quarantine);
  expect(fs.readdirSync(path.join(quarantine, runFolder, 'restored'))).toEqual(['federation_ledger.db']);
});

test('a backup that changes while the gate waits: STOP ChecksumMismatch, the damaged ledger put back', async () => {
  const p = paths('backupChanged');
  const damaged = fs.readFileSync(p.ledger);
  const handle = await start('backupChanged');
  const gate = await waiting(handle.workflowId);
  const backup = path.join(p.ledgerBackups, gate.facts.ledgerBackup as string);
  fs.appendFileSync(backup, Buffer.alloc(4096));
  await handle.executeUpdate(approveUpdate, { args: [{ actor: 'alice' }] });
  const status = await statusWhen(
    tw.client,
    handle.workflowId,
    (s) => s.waiting?.step === 'restoreLedger',
    'the STOP',
  );
  expect(status.waiting!.errorType).toBe('ChecksumMismatch');
  expect(status.waiting!.reason).toMatch(
    /^the ledger backup .* changed since it was checked: expected [0-9a-f]{16}…, copied [0-9a-f]{16}…; the ledger was put back$/,
  );
  expect(fs.readFileSync(p.ledger)).toEqual(damaged);
  await handle.executeUpdate(stopUpdate, { args: [{ actor: 'bob', reason: 'investigating the backup' }] });
  expect(((await handle.result()) as RunOutcome).state).toBe('stopped');
  expect(fs.readFileSync(p.ledger)).toEqual(damaged);
  expect(fs.existsSync(p.flag)).toBe(true);
});

test('a panic flag that is a folder: STOP UnsupportedFile before anything is run', async () => {
  const handle = await start('flagIsFolder');
  const status = await waiting(handle.workflowId);
  expect(status.waiting).toMatchObject({ step: 'checkPanicFlag', errorType: 'UnsupportedFile' });
  expect(status.waiting!.reason).toContain(
    `the panic flag ${paths('flagIsFolder').flag} is not a regular file`,
  );
  expect(log('flagIsFolder')).toEqual([]);
  await handle.executeUpdate(stopUpdate, { args: [{ actor: 'bob', reason: 'looking' }] });
  expect(((await handle.result()) as RunOutcome).state).toBe('stopped');
  expect(fs.statSync(paths('flagIsFolder').flag).isDirectory()).toBe(true);
});

test('a health endpoint refusing connections: STOP HealthCheckFailed after the configured attempts; retry once it answers', async () => {
  const p = paths('refused');
  const handle = await start('refused');
  const status = await waiting(handle.workflowId);
  expect(status.waiting).toMatchObject({ step: 'healthProbe', errorType: 'HealthCheckFailed' });
  expect(status.waiting!.reason).toBe(
    `http://127.0.0.1:${refusedPort}/healthz is not healthy after 3 attempt(s), 0.2s apart, 2s each; last: connect ECONNREFUSED 127.0.0.1:${refusedPort}`,
  );
  expect((await auditedFailure(handle.workflowId, 'healthProbe')).error).toBe(status.waiting!.reason);
  expect(fs.existsSync(p.flag)).toBe(true);
  expect(log('refused')).toEqual(['stop', 'rebuildNonceStore']);

  late = healthServer();
  await listen(late, refusedPort);
  await handle.executeUpdate(retryUpdate, { args: [{ actor: 'carol', comment: 'runtime is back' }] });
  const outcome = (await handle.result()) as RunOutcome<PanicRecoveryResult>;
  expect(outcome.state).toBe('completed');
  expect(outcome.status.steps.find((s) => s.name === 'healthProbe')).toMatchObject({
    attempts: 2,
    state: 'succeeded',
  });
  expect(fs.existsSync(p.flag)).toBe(false);
  expect(log('refused')).toEqual(['stop', 'rebuildNonceStore', 'start']);
});

test('a health endpoint answering 503: STOP HealthCheckFailed with the status and the body', async () => {
  const handle = await start('unhealthy');
  const status = await waiting(handle.workflowId);
  expect(status.waiting).toMatchObject({ step: 'healthProbe', errorType: 'HealthCheckFailed' });
  expect(status.waiting!.reason).toMatch(
    /\/down is not healthy after 2 attempt\(s\), 0\.2s apart, 2s each; last: HTTP 503 Service Unavailable: \{"status":"degraded","ledger":"read-only"\}$/,
  );
  expect(fs.existsSync(paths('unhealthy').flag)).toBe(true);
  await handle.executeUpdate(stopUpdate, { args: [{ actor: 'bob', reason: 'runtime degraded' }] });
  expect(((await handle.result()) as RunOutcome).state).toBe('stopped');
  expect(requests.filter((r) => r === '/down')).toHaveLength(2);
});

test('a stop command that hangs past its timeout: STOP "timed out", nothing else done', async () => {
  const root = path.join(dir, 'hang');
  const before = snapshotTree(root);
  const handle = await start('hang');
  const status = await waiting(handle.workflowId);
  expect(status.waiting).toMatchObject({ step: 'stopServices', errorType: 'CommandFailed' });
  expect(status.waiting!.reason).toMatch(
    /^command 'stop' \(.* -e .*\) timed out after 1s and was ended: stopping\.\.\./,
  );
  expect((await auditedFailure(handle.workflowId, 'stopServices')).type).toBe('CommandFailed');
  expect(snapshotTree(root)).toEqual(before);
  await handle.executeUpdate(stopUpdate, { args: [{ actor: 'bob', reason: 'stopping it by hand' }] });
  expect(((await handle.result()) as RunOutcome).state).toBe('stopped');
  expect(snapshotTree(root)).toEqual(before);
});

test('stop while a command hangs ends the command at once and the run as stopped', async () => {
  const pidFile = path.join(dir, 'hangLong.pid');
  const handle = await start('hangLong');
  const pid = await eventually(
    async () => (fs.existsSync(pidFile) ? Number(fs.readFileSync(pidFile, 'utf8')) : undefined),
    'the hanging command to start',
  );
  const stopped = Date.now();
  await handle.executeUpdate(stopUpdate, { args: [{ actor: 'bob', reason: 'taking over by hand' }] });
  expect(((await handle.result()) as RunOutcome).state).toBe('stopped');
  // The command was ended with the step (heartbeats carry the cancellation), not left to its timeout.
  expect(Date.now() - stopped).toBeLessThan(20000);
  await eventually(async () => (processRunning(pid) ? undefined : true), 'the command to be ended');
});

test('a panic flag that cannot be removed: STOP MissingPermission naming it; the services are not started', async () => {
  const flag = path.join(flagMount, 'ATLAS_PANIC');
  const handle = await start('readonlyFlag');
  const status = await waiting(handle.workflowId);
  expect(status.waiting).toMatchObject({ step: 'clearPanicFlag', errorType: 'MissingPermission' });
  expect(status.waiting!.reason).toBe(
    `cannot remove the panic flag ${flag}: EROFS: read-only file system, unlink '${flag}'; it stays in place and the services are not started. Make its folder writable and retry, or stop`,
  );
  expect((await auditedFailure(handle.workflowId, 'clearPanicFlag')).type).toBe('MissingPermission');
  expect(fs.readFileSync(flag, 'utf8')).toBe('panic: disk errors\n');
  expect(log('readonlyFlag')).toEqual(['stop', 'rebuildNonceStore']);
  expect(status.facts.panicFlag).toMatchObject({ path: flag, content: 'panic: disk errors\n' });

  await handle.executeUpdate(stopUpdate, { args: [{ actor: 'bob', reason: 'remounting' }] });
  const outcome = (await handle.result()) as RunOutcome;
  expect(outcome.state).toBe('stopped');
  expect(outcome.status.error).toBeUndefined();
  expect(fs.readFileSync(flag, 'utf8')).toBe('panic: disk errors\n');
  expect(log('readonlyFlag')).toEqual(['stop', 'rebuildNonceStore']);
});

test('start fails after the flag was cleared: STOP with its output; stop puts the flag back with its content', async () => {
  const p = paths('startFails');
  const content = fs.readFileSync(p.flag, 'utf8');
  const handle = await start('startFails');
  const status = await waiting(handle.workflowId);
  expect(status.waiting).toMatchObject({ step: 'startServices', errorType: 'CommandFailed' });
  expect(status.waiting!.reason).toMatch(
    /^command 'start' .* exited with 3: federation-sync: port 7000 in use$/,
  );
  expect(fs.existsSync(p.flag)).toBe(false);
  expect(fs.readdirSync(p.recoveryProofs).filter((f) => f.endsWith('.json'))).toEqual([]);

  await handle.executeUpdate(stopUpdate, { args: [{ actor: 'bob', reason: 'port conflict' }] });
  const outcome = (await handle.result()) as RunOutcome;
  expect(outcome.state).toBe('stopped');
  expect(fs.readFileSync(p.flag, 'utf8')).toBe(content);
  expect(auditEvents(handle.workflowId)).toEqual(
    expect.arrayContaining([{ event: 'compensation.succeeded', step: 'restorePanicFlag' }]),
  );
});

test('a target without a rebuildNonceStore command fails at once, naming it', async () => {
  const handle = await start('noNonceCommand');
  await expect(handle.result()).rejects.toMatchObject({
    cause: expect.objectContaining({
      type: 'InvalidInput',
      message: expect.stringMatching(
        /target 'noNonceCommand' has no 'commands\.rebuildNonceStore' section .* panicRecovery needs it/,
      ),
    }),
  });
  expect(fs.existsSync(paths('noNonceCommand').flag)).toBe(true);
  expect(log('noNonceCommand')).toEqual([]);
});
