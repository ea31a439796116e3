/**
 * lostAuthTokens on a real dev server with real files and a real stand-in application: an intact
 * token file changes nothing; a missing one raises AUTH-003, disconnects the application and holds
 * until a person signs in again; a torn one is kept in quarantine first; a token written without a
 * rename (a temp file left beside it) is refused until the write is whole; a stop puts the
 * quarantined file back. The token's contents never appear in the status, the result, the audit
 * ledger or the notifications.
 */
import { WorkflowFailedError } from '@temporalio/client';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';
import { AuditLedger } from '../activities/lib/ledger';
import { retryUpdate, stopUpdate } from '../common/messages';
import type { RunOutcome, RunStatus } from '../common/types';
import { FIXTURE_SECRET, writeTokensFixture, type TokensFixture } from '../scripts/demo-tokens';
import {
  startWorker,
  statusWhen,
  storeTargetConfig,
  tempDir,
  uniqueQueue,
  writeConfig,
  type TestWorker,
} from './helpers';

let dir: string;
let tw: TestWorker;
let ledgerFile: string;
const fixtures: Record<string, TokensFixture> = {};
const webhook: string[] = [];
let server: http.Server;

const TARGETS = {
  intact: 'valid',
  missing: 'missing',
  torn: 'torn',
  directory: 'directory',
  halfWritten: 'missing',
  stopped: 'torn',
} as const;

beforeAll(async () => {
  dir = tempDir('tokens');
  server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString()));
    req.on('end', () => {
      webhook.push(body);
      res.writeHead(200).end('ok');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const targets: Record<string, unknown> = {};
  for (const [name, state] of Object.entries(TARGETS)) {
    fixtures[name] = writeTokensFixture(path.join(dir, name), state, { disconnect: name !== 'directory' });
    targets[name] = fixtures[name].target;
  }
  const port = (server.address() as AddressInfo).port;
  const { config } = writeConfig(dir, {
    auditLedger: 'audit.sqlite',
    notify: { webhooks: [`http://127.0.0.1:${port}/hook`] },
    targets: { ...targets, storeOnly: storeTargetConfig(path.join(dir, 'store')) },
  });
  ledgerFile = config.auditLedger;
  tw = await startWorker(config, uniqueQueue('tokens'));
});

afterAll(async () => {
  await tw?.stop();
  await new Promise<void>((r) => server.close(() => r()));
});

async function start(target: string) {
  return tw.client.workflow.start('lostAuthTokens', {
    taskQueue: tw.taskQueue,
    workflowId: `tokens-${target}-${Math.random().toString(36).slice(2, 8)}`,
    args: [{ target }],
  });
}

const holding = (id: string) =>
  statusWhen(tw.client, id, (s) => s.waiting?.step === 'reauthenticate', `${id} at the sign-in hold`);

/** Every place a run could leak a token: its status, result, the audit ledger's files, notifications. */
function expectNoSecret(...more: unknown[]): void {
  const ledgerBytes = [ledgerFile, `${ledgerFile}-wal`]
    .filter((f) => fs.existsSync(f))
    .map((f) => fs.readFileSync(f).toString('latin1'));
  const everything = JSON.stringify([ledgerBytes, webhook, ...more]);
  expect(everything).not.toContain('sk-live-lifeboat');
  expect(everything).not.toContain(FIXTURE_SECRET.slice(0, 12));
}

test('an intact token file completes the run and changes nothing', async () => {
  const before = fs.readFileSync(fixtures.intact.file);
  const outcome = (await (await start('intact')).result()) as RunOutcome<{ outcome: string }>;
  expect(outcome.result).toMatchObject({ outcome: 'intact' });
  expect(fs.readFileSync(fixtures.intact.file)).toEqual(before);
  expect(fs.readFileSync(fixtures.intact.stateFile, 'utf8')).toBe('Connected\n');
});

test('a missing token file: AUTH-003, the application disconnected, a hold until a person signs in, the new token checked', async () => {
  const f = fixtures.missing;
  const handle = await start('missing');
  const held = await holding(handle.workflowId);
  expect(held.waiting).toMatchObject({
    kind: 'failure',
    errorType: 'TokensLost',
    allowed: ['retry', 'stop'],
  });
  expect(held.waiting!.reason).toBe(
    `the token file ${f.file} is missing; sign in again (run: ${f.signIn.join(' ')}); then retry, and the run checks the new token`,
  );
  expect(fs.readFileSync(f.stateFile, 'utf8')).toBe('Disconnected\n');

  // Retry before anyone signed in: the check says so, and the run waits again.
  await handle.executeUpdate(retryUpdate, { args: [{ actor: 'alice' }] });
  const still = await statusWhen(
    tw.client,
    handle.workflowId,
    (s) => s.waiting?.step === 'verifyNewTokens',
    'the check',
  );
  expect(still.waiting!.reason).toMatch(/is still missing: no new token was written/);

  execFileSync(f.signIn[0], f.signIn.slice(1));
  await handle.executeUpdate(retryUpdate, { args: [{ actor: 'alice' }] });
  const outcome = (await handle.result()) as RunOutcome<Record<string, unknown>>;
  expect(outcome.result).toMatchObject({ outcome: 'reauthenticated', was: 'missing', file: f.file });
  expect(fs.readFileSync(f.stateFile, 'utf8')).toBe('Connected\n');

  const ledger = new AuditLedger(ledgerFile, { readonly: true });
  try {
    const alert = ledger.forWorkflow(handle.workflowId).find((r) => r.event === 'auth.tokensLost');
    expect(JSON.parse(alert!.details)).toMatchObject({ alert: 'AUTH-003', state: 'missing', file: f.file });
  } finally {
    ledger.close();
  }
  expect(webhook.some((b) => b.includes('AUTH-003') && b.includes(handle.workflowId))).toBe(true);
});

test('a torn token file is kept in quarantine, byte for byte, and never quoted anywhere', async () => {
  const f = fixtures.torn;
  const torn = fs.readFileSync(f.file);
  const handle = await start('torn');
  const held: RunStatus = await holding(handle.workflowId);
  expect(held.facts.tokens).toEqual({
    state: 'unreadable',
    problem: expect.stringMatching(/^it is not JSON \(line 1, column \d+: /),
  });
  const kept = held.facts.quarantined as string;
  expect(kept.startsWith(f.quarantine)).toBe(true);
  expect(fs.readFileSync(kept)).toEqual(torn);
  expect(fs.existsSync(f.file)).toBe(false);

  execFileSync(f.signIn[0], f.signIn.slice(1));
  await handle.executeUpdate(retryUpdate, { args: [{ actor: 'bob' }] });
  const outcome = (await handle.result()) as RunOutcome<Record<string, unknown>>;
  expect(outcome.result).toMatchObject({ outcome: 'reauthenticated', was: 'unreadable', quarantined: kept });
  expectNoSecret(held, outcome);
});

test('a token file that is present but cannot be read (a folder in its place) is moved aside the same way', async () => {
  const f = fixtures.directory;
  const handle = await start('directory');
  const held = await holding(handle.workflowId);
  expect(held.facts.tokens).toEqual({ state: 'unreadable', problem: 'it is not a regular file' });
  expect(fs.statSync(held.facts.quarantined as string).isDirectory()).toBe(true);
  // No disconnect command configured: the step says it skipped, and the run goes on.
  expect(held.steps.find((s) => s.name === 'disconnect')?.result).toEqual({
    skipped: true,
    name: 'disconnect',
  });
  await handle.executeUpdate(stopUpdate, { args: [{ actor: 'carol', reason: 'signing in tomorrow' }] });
  await handle.result();
  expect(fs.statSync(f.file).isDirectory()).toBe(true); // put back as found
});

test('a token written in place, with a temp file left beside it, is refused until the write is whole', async () => {
  const f = fixtures.halfWritten;
  const handle = await start('halfWritten');
  await holding(handle.workflowId);
  fs.writeFileSync(`${f.file}.tmp-4242`, '{"access_token": "sk-live-lifeboat-partial');
  fs.writeFileSync(f.file, JSON.stringify({ access_token: `${FIXTURE_SECRET}-new` }));
  await handle.executeUpdate(retryUpdate, { args: [{ actor: 'alice' }] });
  const refused = await statusWhen(
    tw.client,
    handle.workflowId,
    (s) => s.waiting?.step === 'verifyNewTokens',
    'the check',
  );
  expect(refused.waiting!.reason).toBe(
    `${f.file} was not written atomically: tokens.json.tmp-4242 beside it look like an unfinished write; make sure the sign-in finished, remove them, then retry`,
  );
  fs.rmSync(`${f.file}.tmp-4242`);
  await handle.executeUpdate(retryUpdate, { args: [{ actor: 'alice' }] });
  const outcome = (await handle.result()) as RunOutcome<Record<string, unknown>>;
  expect(outcome.result).toMatchObject({ outcome: 'reauthenticated' });
  expectNoSecret(refused, outcome);
});

test('a stop at the hold puts the quarantined token file back where it was', async () => {
  const f = fixtures.stopped;
  const torn = fs.readFileSync(f.file);
  const handle = await start('stopped');
  await holding(handle.workflowId);
  expect(fs.existsSync(f.file)).toBe(false);
  await handle.executeUpdate(stopUpdate, {
    args: [{ actor: 'alice', reason: 'the app is being reinstalled' }],
  });
  const outcome = (await handle.result()) as RunOutcome;
  expect(outcome.state).toBe('stopped');
  expect(fs.readFileSync(f.file)).toEqual(torn);
});

test('bad input: an unknown target and a target without an authTokens section fail at once', async () => {
  for (const [target, message] of [
    ['nope', /unknown target 'nope'/],
    [
      'storeOnly',
      /target 'storeOnly' has no 'authTokens' section in the worker's config; lostAuthTokens needs it/,
    ],
  ] as const) {
    const err = await (await start(target)).result().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WorkflowFailedError);
    expect(String((err as WorkflowFailedError).cause?.message)).toMatch(message);
  }
});
