/**
 * Signed approvals on a real dev server, with real OpenPGP keys made here: a signed gate with a
 * quorum of two opened only by two identities' own keys through the real CLI; every refusal named
 * (unsigned from the CLI and from the UI's signal form, a wrong key, a key of another identity, a
 * retired key, a tampered, expired, replayed or other run's statement, one identity twice);
 * separation of duties with a signed start; signed retry and stop; and `audit verify` re-checking
 * every signature afterwards.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as openpgp from 'openpgp';
import { approveSignal, approveUpdate, retryUpdate, stopUpdate } from '../common/messages';
import { canonicalJson, type DecisionStatement } from '../common/statements';
import type { RunOutcome } from '../common/types';
import { writeStoreFixture } from '../scripts/demo-data';
import { createLifeboatWorker } from '../worker/worker';
import {
  eventually,
  lifeboat,
  refusal,
  startWorker,
  statusWhen,
  storeTargetConfig,
  tempDir,
  uniqueQueue,
  writeConfig,
  type TestWorker,
  serverAddress,
} from './helpers';
import { NativeConnection } from '@temporalio/worker';

let dir: string;
let tw: TestWorker;
let ledger: string;
const keys: Record<string, { sec: string; pub: string; key: openpgp.PrivateKey }> = {};
const PASS = { LIFEBOAT_KEY_PASSPHRASE: 'alice-passphrase' };

async function makeKey(name: string, passphrase?: string) {
  const { privateKey, publicKey } = await openpgp.generateKey({
    type: 'ecc',
    curve: 'curve25519Legacy',
    userIDs: [{ name }],
    format: 'armored',
    ...(passphrase ? { passphrase } : {}),
  });
  const sec = path.join(dir, 'keys', `${name}.sec.asc`);
  const pub = path.join(dir, 'keys', `${name}.pub.asc`);
  fs.mkdirSync(path.dirname(sec), { recursive: true });
  fs.writeFileSync(sec, privateKey);
  fs.writeFileSync(pub, publicKey);
  let key = await openpgp.readPrivateKey({ armoredKey: privateKey });
  if (passphrase) key = await openpgp.decryptKey({ privateKey: key, passphrase });
  keys[name] = { sec, pub, key };
}

const SIGNED = { approvers: ['group:dr'], quorum: 2, signed: true };

beforeAll(async () => {
  dir = tempDir('signed');
  await makeKey('alice', PASS.LIFEBOAT_KEY_PASSPHRASE);
  for (const name of ['alice-2024', 'bob', 'carol', 'mallory']) await makeKey(name);
  const targets: Record<string, unknown> = {};
  const store = (
    name: string,
    gates: Record<string, unknown>,
    primary: 'corrupt' | 'unparsable' = 'corrupt',
  ) => {
    writeStoreFixture(path.join(dir, name), primary, primary === 'corrupt' ? ['intact'] : ['corrupt']);
    targets[name] = storeTargetConfig(path.join(dir, name), gates);
  };
  store('signed', { restore: SIGNED });
  store('fresh', { restore: SIGNED });
  const apart = { restore: { approvers: ['group:dr'], quorum: 1, signed: true, notRequester: true } };
  store('requester', apart);
  store('scheduled', apart);
  store('fleetChild', apart);
  store('failing', { restore: SIGNED }, 'unparsable');
  store('stopSigned', { restore: SIGNED });
  (targets.stopSigned as Record<string, unknown>).signedStop = true;
  const { config } = writeConfig(dir, {
    auditLedger: 'audit.sqlite',
    identities: {
      alice: { keys: [keys.alice.pub], retiredKeys: [keys['alice-2024'].pub] },
      bob: { keys: [keys.bob.pub] },
      carol: { keys: [keys.carol.pub] },
    },
    groups: { dr: ['alice', 'bob'] },
    targets,
  });
  ledger = config.auditLedger;
  tw = await startWorker(config, uniqueQueue('signed'));
});

afterAll(async () => {
  await tw?.stop();
});

async function start(target: string) {
  const handle = await tw.client.workflow.start('corruptedStoreRecovery', {
    taskQueue: tw.taskQueue,
    workflowId: `signed-${target}-${Math.random().toString(36).slice(2, 8)}`,
    args: [{ target }],
  });
  return handle;
}

const atGate = (h: { workflowId: string }) =>
  statusWhen(tw.client, h.workflowId, (s) => s.waiting?.kind === 'gate', 'the signed gate');

const cli = (args: string[], env: Record<string, string> = {}) =>
  lifeboat(args, { LIFEBOAT_TASK_QUEUE: tw.taskQueue, ...env });

/** Signs `statement` (as given, canonical) with `who`'s key: for statements the CLI would not make. */
async function signRaw(who: string, fields: Partial<DecisionStatement>, base: DecisionStatement) {
  const text = canonicalJson({ ...base, ...fields });
  const message = await openpgp.createMessage({ binary: new TextEncoder().encode(text) });
  const signature = await openpgp.sign({
    message,
    signingKeys: keys[who].key,
    detached: true,
    format: 'armored',
  });
  return { statement: text, signature: signature as string };
}

async function baseStatement(workflowId: string, who: string): Promise<DecisionStatement> {
  const handle = tw.client.workflow.getHandle(workflowId);
  const status = await atGate(handle);
  const { runId } = await handle.describe();
  const now = Date.now();
  return {
    kind: 'lifeboat.decision',
    version: 1,
    action: 'approve',
    namespace: 'default',
    workflowId,
    runId,
    gate: 'restore',
    subjectSha256: status.waiting!.signing!.subjectSha256,
    identity: who,
    issuedAt: new Date(now).toISOString(),
    expiresAt: new Date(now + 600_000).toISOString(),
    nonce: `n-${Math.random().toString(36).slice(2)}`,
  };
}

test('a signed gate opens only with two identities’ own keys, and audit verify proves who approved', async () => {
  const handle = await start('signed');
  const status = await atGate(handle);
  expect(status.waiting!.signing!.subjectSha256).toMatch(/^[0-9a-f]{64}$/);
  expect(status.waiting!.approvers).toEqual(['alice', 'bob']);
  const id = handle.workflowId;

  // The run's page in the Temporal UI (the built-in metadata Query) shows the line to run.
  const page = await handle.query<{ currentDetails?: string }>('__temporal_workflow_metadata');
  expect(page.currentDetails).toContain('**This decision must be signed** (approve)');
  expect(page.currentDetails).toContain(
    `\`lifeboat approve ${id} --as <you> --key <your private key file>\``,
  );
  expect(page.currentDetails).toContain(status.waiting!.signing!.subjectSha256);

  const unsigned = await cli(['approve', id, '--as', 'alice']);
  expect(unsigned.code).toBe(2);
  expect(unsigned.stderr).toMatch(/gate 'restore' requires a signed approval/);
  expect(unsigned.stderr).toContain(`lifeboat approve ${id} --as <you> --key <your private key file>`);

  // The UI's signal form: refused and recorded, with the line to run.
  await handle.signal(approveSignal, { actor: 'alice' });
  const refusedSignal = await statusWhen(
    tw.client,
    id,
    (s) => s.decisions.some((d) => d.refused),
    'the refusal',
  );
  expect(refusedSignal.decisions.find((d) => d.refused)!.refusal).toMatch(
    /cannot sign; run `lifeboat approve/,
  );

  const noPassphrase = await cli([
    'approve',
    id,
    '--as',
    'alice',
    '--key',
    keys.alice.sec,
    '--key-passphrase-env',
    'NOT_SET_X',
  ]);
  expect(noPassphrase.code).toBe(2);
  expect(noPassphrase.stderr).toMatch(/environment variable NOT_SET_X is not set/);

  const wrongKey = await cli(['approve', id, '--as', 'bob', '--key', keys.alice.sec], PASS);
  expect(wrongKey.code).toBe(2);
  expect(wrongKey.stderr).toMatch(/claims 'bob' but is signed by key [0-9A-F]+ of 'alice'/);

  const outsider = await cli(['approve', id, '--as', 'carol', '--key', keys.carol.sec]);
  expect(outsider.stderr).toMatch(/'carol' may not approve gate 'restore'; allowed approvers: alice, bob/);
  const unknownKey = await cli(['approve', id, '--as', 'alice', '--key', keys.mallory.sec]);
  expect(unknownKey.stderr).toMatch(/belongs to no identity/);
  const retired = await cli(['approve', id, '--as', 'alice', '--key', keys['alice-2024'].sec]);
  expect(retired.stderr).toMatch(/of 'alice' is retired/);

  const first = await cli(
    ['approve', id, '--as', 'alice', '--key', keys.alice.sec, '--comment', 'checked'],
    PASS,
  );
  expect(first.stderr).toBe('');
  expect(first.stdout).toMatch(/approval recorded \(1 of 2\)/);
  const again = await cli(['approve', id, '--as', 'alice', '--key', keys.alice.sec], PASS);
  expect(again.stderr).toMatch(/'alice' has already approved gate 'restore'/);

  // A statement used once cannot be used again, even by its own signer at another gate's turn.
  const base = await baseStatement(id, 'bob');
  const tampered = await signRaw('bob', {}, base);
  tampered.statement = tampered.statement.replace(base.nonce, `${base.nonce}x`);
  expect(
    await refusal(handle.executeUpdate(approveUpdate, { args: [{ actor: 'bob', signed: tampered }] })),
  ).toMatch(/does not verify over the statement/);
  const expired = await signRaw(
    'bob',
    { issuedAt: '2026-01-01T00:00:00.000Z', expiresAt: '2026-01-01T00:10:00.000Z' },
    base,
  );
  expect(
    await refusal(handle.executeUpdate(approveUpdate, { args: [{ actor: 'bob', signed: expired }] })),
  ).toMatch(/expired at 2026-01-01T00:10:00.000Z/);
  const otherRun = await signRaw('bob', { workflowId: 'another-run' }, base);
  expect(
    await refusal(handle.executeUpdate(approveUpdate, { args: [{ actor: 'bob', signed: otherRun }] })),
  ).toMatch(/the statement is for run 'another-run', not '/);
  const otherGate = await signRaw('bob', { gate: 'merge' }, base);
  expect(
    await refusal(handle.executeUpdate(approveUpdate, { args: [{ actor: 'bob', signed: otherGate }] })),
  ).toMatch(/the statement is for gate 'merge'/);
  const changed = await signRaw('bob', { subjectSha256: '0'.repeat(64) }, base);
  expect(
    await refusal(handle.executeUpdate(approveUpdate, { args: [{ actor: 'bob', signed: changed }] })),
  ).toMatch(/shows changed since the statement was signed/);

  const good = await signRaw('bob', {}, base);
  const receipt = await handle.executeUpdate(approveUpdate, { args: [{ actor: 'bob', signed: good }] });
  expect(receipt.message).toMatch(/opened \(2 of 2\)/);
  const outcome = (await handle.result()) as RunOutcome<{ outcome: string }>;
  expect(outcome.state).toBe('completed');
  const approvals = outcome.status.decisions.filter((d) => d.action === 'approve' && !d.refused);
  expect(approvals.map((d) => [d.actor, typeof d.key])).toEqual([
    ['alice', 'string'],
    ['bob', 'string'],
  ]);

  // Replayed against a fresh run at the same gate: another run id, another subject.
  const fresh = await start('fresh');
  await atGate(fresh);
  const replay = { ...good };
  expect(
    await refusal(fresh.executeUpdate(approveUpdate, { args: [{ actor: 'bob', signed: replay }] })),
  ).toMatch(/is for run '.*', not '/);
  await fresh.executeUpdate(stopUpdate, { args: [{ actor: 'bob', reason: 'done with the replay check' }] });

  const verify = await lifeboat(['audit', 'verify', '--ledger', ledger]);
  expect(verify.code).toBe(0);
  expect(verify.stdout).toMatch(/decision.approve by alice\): signature by key [0-9A-F]+ verifies/);
  expect(verify.stdout).toMatch(/decision.approve by bob\): signature by key [0-9A-F]+ verifies/);
  expect(verify.stdout).toMatch(/signed decisions verified/);
});

test('separation of duties: a notRequester gate needs a signed start, and its requester cannot approve', async () => {
  const handle = await start('requester');
  // notRequester without a signed start: refused at once, non-retryably.
  await expect(handle.result()).rejects.toThrow();
  const failed = await lifeboat(['status', handle.workflowId]);
  expect(failed.stdout).toMatch(/needs an approver other than whoever started the run \(notRequester\)/);

  const started = await cli(
    ['start', 'corruptedStoreRecovery', '--target', 'requester', '--as', 'alice', '--key', keys.alice.sec],
    PASS,
  );
  expect(started.code).toBe(0);
  const id = started.stdout.trim();
  const status = await atGate({ workflowId: id });
  expect(status.requester).toBe('alice');
  expect(status.waiting!.requester).toBe('alice');
  const own = await cli(['approve', id, '--as', 'alice', '--key', keys.alice.sec], PASS);
  expect(own.stderr).toMatch(
    /'alice' requested this run and gate 'restore' needs an approver other than the requester/,
  );
  const base = await baseStatement(id, 'bob');
  const signed = await signRaw('bob', {}, base);
  const h = tw.client.workflow.getHandle(id);
  // The first use opens the gate; the second is refused (the gate is open, and the nonce is spent).
  await h.executeUpdate(approveUpdate, { args: [{ actor: 'bob', signed }] });
  expect(((await h.result()) as RunOutcome).state).toBe('completed');
  const verify = await lifeboat(['audit', 'verify', '--ledger', ledger]);
  expect(verify.stdout).toMatch(/run.requested by alice\): signature by key/);
});

test('retry needs a signature in a run whose target has a signed gate; stop only where signedStop says', async () => {
  const handle = await start('failing');
  const id = handle.workflowId;
  const waiting = await statusWhen(tw.client, id, (s) => s.waiting?.kind === 'failure', 'the failed step');
  expect(waiting.waiting!.signing!.actions).toContain('retry');
  expect(await refusal(handle.executeUpdate(retryUpdate, { args: [{ actor: 'bob' }] }))).toMatch(
    /has a signed gate, so retry must be signed too/,
  );
  const retried = await cli(['retry', id, '--as', 'bob', '--key', keys.bob.sec]);
  expect(retried.stdout).toMatch(/retrying step/);
  await statusWhen(
    tw.client,
    id,
    (s) =>
      s.waiting?.kind === 'failure' &&
      s.steps.filter((st) => st.name === s.waiting!.step).length > 0 &&
      s.decisions.some((d) => d.action === 'retry' && !d.refused),
    'waiting again',
  );
  // Stop stays open to anyone here.
  await handle.executeUpdate(stopUpdate, { args: [{ actor: 'bob', reason: 'nothing to restore from' }] });

  const guarded = await start('stopSigned');
  await atGate(guarded);
  expect(await refusal(guarded.executeUpdate(stopUpdate, { args: [{ actor: 'bob', reason: 'x' }] }))).toMatch(
    /target 'stopSigned' requires a signed stop/,
  );
  const stopped = await cli([
    'stop',
    guarded.workflowId,
    '--as',
    'carol',
    '--key',
    keys.carol.sec,
    '--reason',
    'drill over',
  ]);
  expect(stopped.stdout).toMatch(/stopping/);
  expect(((await guarded.result()) as RunOutcome).state).toBe('stopped');
});

test('a key file that is not a public key, or one key under two identities, stops the worker naming it', async () => {
  const connection = await NativeConnection.connect({ address: serverAddress() });
  try {
    for (const [identities, problem] of [
      [{ alice: { keys: [keys.alice.sec] } }, /identities\.alice\.keys\[0\].* holds a private key/],
      [
        { alice: { keys: [keys.bob.pub] }, bob: { keys: [keys.bob.pub] } },
        /identities\.bob\.keys\[0\] .* already listed as identities\.alice\.keys\[0\]/,
      ],
    ] as const) {
      const sub = tempDir('signed-config');
      const { config } = writeConfig(sub, {
        auditLedger: 'audit.sqlite',
        identities,
        targets: { t: storeTargetConfig(path.join(sub, 't')) },
      });
      await expect(
        createLifeboatWorker({
          connection,
          namespace: 'default',
          taskQueue: uniqueQueue('bad'),
          config,
          workflowBundle: { codePath: process.env.LIFEBOAT_TEST_BUNDLE! },
        }),
      ).rejects.toThrow(problem);
    }
  } finally {
    await connection.close();
  }
});

test('one statement counts once: its nonce is claimed in the ledger, and only a retry of the same verification finds it again', async () => {
  const { verifySignedDecision } = await import('../activities/approvals');
  const { loadIdentityKeys } = await import('../activities/lib/identityKeys');
  const { AuditLedger } = await import('../activities/lib/ledger');
  const book = new AuditLedger(path.join(tempDir('signed-nonce'), 'audit.sqlite'));
  try {
    const identities = await loadIdentityKeys({ bob: { keys: [keys.bob.pub] } });
    const base: DecisionStatement = {
      kind: 'lifeboat.decision',
      version: 1,
      action: 'approve',
      namespace: 'default',
      workflowId: 'w',
      runId: 'r',
      gate: 'restore',
      subjectSha256: 'a'.repeat(64),
      identity: 'bob',
      issuedAt: new Date().toISOString(),
      expiresAt: new Date(Date.now() + 60_000).toISOString(),
      nonce: 'nonce-1',
    };
    const signed = await signRaw('bob', {}, base);
    const input = {
      signed,
      actor: 'bob',
      expect: {
        action: 'approve' as const,
        namespace: 'default',
        workflowId: 'w',
        runId: 'r',
        gate: 'restore',
        subjectSha256: 'a'.repeat(64),
      },
      allowed: ['bob'],
    };
    const as = (holder: string) => ({
      nowMs: Date.now(),
      claimNonce: (n: string) => book.claimNonce(n, holder, new Date().toISOString()),
      keep: (k: { fingerprint: string; identity: string; armored: string }) =>
        book.keepSignerKey(k.fingerprint, k.identity, k.armored, ''),
    });
    expect((await verifySignedDecision(input, identities, as('w/r/1'))).ok).toBe(true);
    // The same activity retried (a worker lost after the claim) finds its own claim.
    expect((await verifySignedDecision(input, identities, as('w/r/1'))).ok).toBe(true);
    expect(await verifySignedDecision(input, identities, as('w/r/2'))).toEqual({
      ok: false,
      refusal: 'this statement was already used (nonce nonce-1): each signature counts once; sign again',
    });
  } finally {
    book.close();
  }
});

test('a run a schedule started has the schedule as its requester, which approves nothing', async () => {
  const scheduleId = `signed-schedule-${Math.random().toString(36).slice(2, 8)}`;
  const schedule = await tw.client.schedule.create({
    scheduleId,
    spec: { intervals: [{ every: '365 days' }] },
    state: { paused: true },
    action: {
      type: 'startWorkflow',
      workflowType: 'corruptedStoreRecovery',
      taskQueue: tw.taskQueue,
      workflowId: `${scheduleId}-run`,
      args: [{ target: 'scheduled' }],
    },
  });
  try {
    await schedule.trigger();
    const runId = await eventually(async () => {
      const d = await schedule.describe();
      return d.info.recentActions[0]?.action.workflow.workflowId;
    }, 'the scheduled run');
    const status = await atGate({ workflowId: runId });
    expect(status.requester).toBe(`schedule:${scheduleId}`);
    expect(status.waiting!.requester).toBe(`schedule:${scheduleId}`);
    await tw.client.workflow
      .getHandle(runId)
      .executeUpdate(stopUpdate, { args: [{ actor: 'bob', reason: 'schedule check done' }] });
  } finally {
    await schedule.delete();
  }
});

test('a fleet started signed passes its requester to its children: notRequester holds there too', async () => {
  const fleetInput = {
    runbook: 'corruptedStoreRecovery',
    targets: ['fleetChild'],
    maxConcurrency: 1,
    maxErrors: 1,
  };
  const started = await cli(
    ['start', 'fleet', '--input', JSON.stringify(fleetInput), '--as', 'alice', '--key', keys.alice.sec],
    PASS,
  );
  expect(started.code).toBe(0);
  const fleetId = started.stdout.trim();
  const childId = `${fleetId}-fleetChild`;
  const child = await atGate({ workflowId: childId });
  expect(child.requester).toBe('alice');
  const own = await cli(['approve', childId, '--as', 'alice', '--key', keys.alice.sec], PASS);
  expect(own.stderr).toMatch(
    /'alice' requested this run and gate 'restore' needs an approver other than the requester/,
  );
  const byBob = await cli(['approve', childId, '--as', 'bob', '--key', keys.bob.sec]);
  expect(byBob.stdout).toMatch(/opened/);
  expect(
    ((await tw.client.workflow.getHandle(fleetId).result()) as RunOutcome<{ outcome: string }>).result!
      .outcome,
  ).toBe('completed');

  // A run started on its own cannot name a requester as if a parent had.
  const forged = await tw.client.workflow.start('corruptedStoreRecovery', {
    taskQueue: tw.taskQueue,
    workflowId: `signed-forged-${Math.random().toString(36).slice(2, 8)}`,
    args: [{ target: 'fleetChild', parentRequester: 'bob' }],
  });
  await expect(forged.result()).rejects.toThrow();
  const status = await lifeboat(['status', forged.workflowId]);
  expect(status.stdout).toMatch(/input\.parentRequester is set by a parent run for its children/);
});
