/**
 * corruptedStoreRecovery on a real dev server with real files: every branch of the runbook, the
 * quorum gate, decisions by signal (the Temporal UI's way), search attributes, and bad input
 * arriving as workflow input the way the Temporal UI sends it.
 */
import { WorkflowFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { AuditLedger } from '../activities/lib/ledger';
import { approveSignal, approveUpdate, retryUpdate, statusQuery, stopUpdate } from '../common/messages';
import type { RunOutcome } from '../common/types';
import type { CorruptedStoreRecoveryResult } from '../runbooks/corruptedStoreRecovery';
import { writeStoreFixture, type FileState } from '../scripts/demo-data';
import {
  MAX_CACHED_WORKFLOWS,
  MAX_CONCURRENT_ACTIVITIES,
  MAX_CONCURRENT_WORKFLOW_TASKS,
} from '../worker/worker';
import {
  eventually,
  refusal,
  snapshotTree,
  startWorker,
  statusWhen,
  storeTargetConfig,
  tempDir,
  uniqueQueue,
  writeConfig,
  type TestWorker,
} from './helpers';

let dir: string;
let ledgerFile: string;
let tw: TestWorker;
const fixtures: Record<string, ReturnType<typeof writeStoreFixture>> = {};

const TARGETS: Record<string, { primary: FileState; backups: FileState[]; gates?: Record<string, unknown> }> =
  {
    intact: { primary: 'intact', backups: ['intact'] },
    twoBackups: { primary: 'corrupt', backups: ['intact', 'corrupt'] },
    noValidBackup: { primary: 'unparsable', backups: ['corrupt', 'no-meta'] },
    placeAndRetry: { primary: 'no-meta', backups: [] },
    quorum: {
      primary: 'corrupt',
      backups: ['intact'],
      gates: { restore: { approvers: ['alice', 'bob', 'carol'], quorum: 2 } },
    },
    automatic: { primary: 'corrupt', backups: ['intact'], gates: { restore: { automatic: true } } },
    crowd: { primary: 'corrupt', backups: ['intact', 'corrupt'] },
    signals: { primary: 'corrupt', backups: ['intact'], gates: { restore: { approvers: ['alice'] } } },
  };

beforeAll(async () => {
  dir = tempDir('store');
  const targets: Record<string, unknown> = {};
  for (const [name, spec] of Object.entries(TARGETS)) {
    fixtures[name] = writeStoreFixture(path.join(dir, name), spec.primary, spec.backups);
    targets[name] = storeTargetConfig(path.join(dir, name), spec.gates);
  }
  const { config } = writeConfig(dir, { auditLedger: 'audit.sqlite', targets });
  ledgerFile = config.auditLedger;
  tw = await startWorker(config, uniqueQueue('store'));
});

afterAll(async () => {
  await tw?.stop();
});

function start(target: unknown, extra: Record<string, unknown> = {}) {
  return tw.client.workflow.start('corruptedStoreRecovery', {
    taskQueue: tw.taskQueue,
    workflowId: `store-${String(target)}-${Math.random().toString(36).slice(2, 8)}`,
    args: [{ target, ...extra }],
  });
}

function verifyLedger() {
  const ledger = new AuditLedger(ledgerFile, { readonly: true });
  try {
    return ledger.verify();
  } finally {
    ledger.close();
  }
}

test('an intact primary completes the run and changes nothing', async () => {
  const before = snapshotTree(path.join(dir, 'intact'));
  const handle = await start('intact');
  const outcome = (await handle.result()) as RunOutcome<CorruptedStoreRecoveryResult>;
  expect(outcome.state).toBe('completed');
  expect(outcome.result).toMatchObject({ outcome: 'intact', primary: fixtures.intact.primary });
  expect(snapshotTree(path.join(dir, 'intact'))).toEqual(before);
});

test('a corrupt primary with a corrupt newest backup waits at restore; approval restores the older valid backup', async () => {
  const fx = fixtures.twoBackups;
  const [older, newest] = fs
    .readdirSync(fx.backups)
    .filter((f) => f.endsWith('.json'))
    .sort();
  const corruptBytes = fs.readFileSync(fx.primary);
  const handle = await start('twoBackups');

  const waiting = await statusWhen(
    tw.client,
    handle.workflowId,
    (s) => s.state === 'waiting',
    'the restore gate',
  );
  expect(waiting.waiting).toMatchObject({ kind: 'gate', gate: 'restore', quorum: 1 });
  expect(waiting.waiting!.reason).toContain(older);
  expect(waiting.facts.backupUsed).toBe(older);
  expect(waiting.facts.backupsChecked).toEqual([
    expect.objectContaining({
      file: newest,
      valid: false,
      problem: expect.stringMatching(/checksum mismatch/),
    }),
    expect.objectContaining({ file: older, valid: true }),
  ]);
  // Nothing has been touched while it waits.
  expect(fs.readFileSync(fx.primary)).toEqual(corruptBytes);

  await handle.executeUpdate(approveUpdate, { args: [{ actor: 'alice', comment: 'checked the backup' }] });
  const outcome = (await handle.result()) as RunOutcome<CorruptedStoreRecoveryResult>;
  expect(outcome.state).toBe('completed');
  expect(outcome.result).toMatchObject({ outcome: 'restored', backupUsed: older });

  // Restored byte for byte, with a fresh sidecar that verifies.
  expect(fs.readFileSync(fx.primary)).toEqual(fx.contents[path.join(fx.backups, older)]);
  const meta = JSON.parse(fs.readFileSync(`${fx.primary}.meta`, 'utf8')) as Record<string, unknown>;
  expect(meta).toMatchObject({ restored_from: older, checksum: outcome.result!.sha256 });
  // The corrupt primary is kept in quarantine, not deleted.
  const quarantined = outcome.result!.quarantined!;
  expect(quarantined.map((f) => path.basename(f))).toEqual(['graph.json', 'graph.json.meta']);
  expect(fs.readFileSync(quarantined[0])).toEqual(corruptBytes);
  expect(quarantined[0].startsWith(fx.quarantine)).toBe(true);
  // The status names what was used and what was quarantined; the decision names who made it.
  expect(outcome.status.facts).toMatchObject({ backupUsed: older, quarantined });
  expect(outcome.status.decisions).toEqual([
    expect.objectContaining({
      action: 'approve',
      actor: 'alice',
      gate: 'restore',
      comment: 'checked the backup',
    }),
  ]);
  // No temp files left beside the primary.
  expect(fs.readdirSync(path.dirname(fx.primary)).filter((f) => f.includes('lifeboat-tmp'))).toEqual([]);

  const events = new AuditLedger(ledgerFile, { readonly: true });
  try {
    const rows = events.forWorkflow(handle.workflowId);
    expect(rows.map((r) => r.event)).toEqual(
      expect.arrayContaining(['gate.waiting', 'decision.approve', 'run.completed']),
    );
    expect(rows.find((r) => r.event === 'decision.approve')?.actor).toBe('alice');
  } finally {
    events.close();
  }
  expect(verifyLedger()).toMatchObject({ ok: true });
});

test('no valid backup: the run waits with the reason; stop ends it as stopped with nothing changed', async () => {
  const root = path.join(dir, 'noValidBackup');
  const before = snapshotTree(root);
  const handle = await start('noValidBackup');
  const waiting = await statusWhen(tw.client, handle.workflowId, (s) => s.state === 'waiting', 'the STOP');
  expect(waiting.waiting).toMatchObject({
    kind: 'failure',
    step: 'findValidBackup',
    errorType: 'NoValidBackup',
  });
  expect(waiting.waiting!.reason).toMatch(/no valid backup among 2/);
  expect(waiting.waiting!.reason).toMatch(/checksum mismatch/);
  expect(waiting.waiting!.reason).toMatch(/sidecar graph_\d{8}_\d{6}\.meta is missing/);
  expect(waiting.facts.corruption).toBe('the file is not valid JSON');
  expect(waiting.waiting!.allowed).toEqual(['retry', 'stop']);

  await handle.executeUpdate(stopUpdate, { args: [{ actor: 'bob', reason: 'restoring from tape by hand' }] });
  const outcome = (await handle.result()) as RunOutcome;
  expect(outcome).toMatchObject({
    state: 'stopped',
    stoppedBy: 'bob',
    stopReason: 'restoring from tape by hand',
  });
  expect(snapshotTree(root)).toEqual(before);
});

test('a responder places a valid backup and retries: the run goes on to the gate', async () => {
  const fx = fixtures.placeAndRetry;
  const handle = await start('placeAndRetry');
  const waiting = await statusWhen(tw.client, handle.workflowId, (s) => s.state === 'waiting', 'the STOP');
  expect(waiting.waiting!.reason).toMatch(/no backups in .*graph_YYYYMMDD_HHMMSS\.json/);
  expect(waiting.facts.corruption).toMatch(/sidecar graph\.json\.meta is missing/);

  const placed = writeStoreFixture(path.join(dir, 'placed'), 'intact', ['intact']);
  const backupName = fs.readdirSync(placed.backups).find((f) => f.endsWith('.json'))!;
  for (const f of fs.readdirSync(placed.backups))
    fs.copyFileSync(path.join(placed.backups, f), path.join(fx.backups, f));

  await handle.executeUpdate(retryUpdate, { args: [{ actor: 'carol', comment: 'placed a backup' }] });
  const gate = await statusWhen(
    tw.client,
    handle.workflowId,
    (s) => s.waiting?.kind === 'gate',
    'the gate after retry',
  );
  expect(gate.facts.backupUsed).toBe(backupName);
  expect(gate.steps.find((s) => s.name === 'findValidBackup')).toMatchObject({
    attempts: 2,
    state: 'succeeded',
  });
  await handle.executeUpdate(approveUpdate, { args: [{ actor: 'carol' }] });
  const outcome = (await handle.result()) as RunOutcome<CorruptedStoreRecoveryResult>;
  expect(outcome.result?.outcome).toBe('restored');
  expect(fs.readFileSync(fx.primary)).toEqual(fs.readFileSync(path.join(fx.backups, backupName)));
});

test('a quorum-2 gate: one approval keeps it waiting, the same approver twice and an outsider are refused, a second approver opens it', async () => {
  const handle = await start('quorum');
  await statusWhen(tw.client, handle.workflowId, (s) => s.waiting?.kind === 'gate', 'the gate');

  const first = await handle.executeUpdate(approveUpdate, { args: [{ actor: 'alice' }] });
  expect(first.message).toMatch(/1 of 2/);
  const still = await statusWhen(tw.client, handle.workflowId, () => true, 'status');
  expect(still.state).toBe('waiting');
  expect(still.waiting!.approvals!.map((a) => a.actor)).toEqual(['alice']);

  expect(await refusal(handle.executeUpdate(approveUpdate, { args: [{ actor: 'alice' }] }))).toMatch(
    /'alice' has already approved gate 'restore' \(1 of 2\)/,
  );
  expect(await refusal(handle.executeUpdate(approveUpdate, { args: [{ actor: 'mallory' }] }))).toMatch(
    /'mallory' may not approve gate 'restore'; allowed approvers: alice, bob, carol/,
  );
  expect(
    await refusal(handle.executeUpdate(approveUpdate, { args: [{ actor: 'bob', gate: 'merge' }] })),
  ).toMatch(/unknown gate 'merge'; corruptedStoreRecovery has gates: restore/);

  const second = await handle.executeUpdate(approveUpdate, { args: [{ actor: 'bob' }] });
  expect(second.message).toMatch(/opened \(2 of 2\)/);
  const outcome = (await handle.result()) as RunOutcome<CorruptedStoreRecoveryResult>;
  expect(outcome.result?.outcome).toBe('restored');
  expect(outcome.status.decisions.map((d) => d.actor)).toEqual(['alice', 'bob']);
});

test('a gate marked automatic in the target config opens without a human', async () => {
  const handle = await start('automatic');
  const outcome = (await handle.result()) as RunOutcome<CorruptedStoreRecoveryResult>;
  expect(outcome.result?.outcome).toBe('restored');
  expect(outcome.status.decisions).toEqual([
    expect.objectContaining({ action: 'approve', actor: 'policy', gate: 'restore' }),
  ]);
});

test('signals (the Temporal UI way) go through the same checks; a refused one is recorded and changes nothing', async () => {
  const handle = await start('signals');
  await statusWhen(tw.client, handle.workflowId, (s) => s.waiting?.kind === 'gate', 'the gate');
  const waitingRuns = await tw.client.workflow
    .list({
      query: `WorkflowId = '${handle.workflowId}' AND RunbookState = 'waiting' AND AwaitingHuman = true`,
    })
    [Symbol.asyncIterator]()
    .next();
  expect(waitingRuns.done).toBe(false);

  await handle.signal(approveSignal, { actor: 'mallory' });
  const refused = await statusWhen(
    tw.client,
    handle.workflowId,
    (s) => s.decisions.length > 0,
    'the refused signal',
  );
  expect(refused.state).toBe('waiting');
  expect(refused.decisions[0]).toMatchObject({ action: 'approve', actor: 'mallory', refused: true });
  expect(refused.decisions[0].refusal).toMatch(/may not approve/);

  await handle.signal(approveSignal, { actor: 'alice', comment: 'from the UI' });
  const outcome = (await handle.result()) as RunOutcome<CorruptedStoreRecoveryResult>;
  expect(outcome.result?.outcome).toBe('restored');
  const completed = await tw.client.workflow
    .list({
      query: `WorkflowId = '${handle.workflowId}' AND RunbookState = 'completed' AND AwaitingHuman = false`,
    })
    [Symbol.asyncIterator]()
    .next();
  expect(completed.done).toBe(false);
});

test('more runs than the worker holds or takes tasks for at once all reach their gate, and each evicted run takes a stop', async () => {
  // The worker keeps 100 runs cached and takes 10 workflow tasks and 20 activities at a time
  // (worker/worker.ts): 110 runs started at once queue on the server, every one still reaches its
  // gate, and a decision to a run no longer cached (replayed from its history) lands.
  expect(tw.worker.options.maxCachedWorkflows).toBe(MAX_CACHED_WORKFLOWS);
  expect(tw.worker.options.tuner).toMatchObject({
    workflowTaskSlotSupplier: { type: 'fixed-size', numSlots: MAX_CONCURRENT_WORKFLOW_TASKS },
    activityTaskSlotSupplier: { type: 'fixed-size', numSlots: MAX_CONCURRENT_ACTIVITIES },
  });
  const runs = MAX_CACHED_WORKFLOWS + 10;
  const handles = await Promise.all(Array.from({ length: runs }, () => start('crowd')));
  // A run at its gate stays there until decided: only those not yet seen there are asked again.
  let pending = handles;
  await eventually(
    async () => {
      const states = await Promise.all(pending.map((h) => h.query(statusQuery)));
      pending = pending.filter(
        (_, i) => !(states[i].state === 'waiting' && states[i].waiting?.gate === 'restore'),
      );
      return pending.length === 0 ? true : undefined;
    },
    `all ${runs} runs waiting at the restore gate`,
    120_000,
  );
  await Promise.all(
    handles.map((h) =>
      h.executeUpdate(stopUpdate, { args: [{ actor: 'bob', reason: 'a crowd of runs, stopped' }] }),
    ),
  );
  const outcomes = (await Promise.all(handles.map((h) => h.result()))) as RunOutcome[];
  expect(outcomes.map((o) => o.state)).toEqual(Array.from({ length: runs }, () => 'stopped'));
  expect(verifyLedger()).toMatchObject({ ok: true });
}, 300_000);

describe('bad input arriving as workflow input (as from the Temporal UI) fails fast and non-retryably', () => {
  async function failureOf(
    target: unknown,
    extra: Record<string, unknown> = {},
  ): Promise<ApplicationFailure> {
    const handle = await start(target, extra);
    const started = Date.now();
    try {
      await handle.result();
    } catch (err) {
      expect(err).toBeInstanceOf(WorkflowFailedError);
      const cause = (err as WorkflowFailedError).cause;
      expect(cause).toBeInstanceOf(ApplicationFailure);
      expect(Date.now() - started).toBeLessThan(15000);
      return cause as ApplicationFailure;
    }
    throw new Error('the run did not fail');
  }

  test.each([
    [
      'an unknown target',
      'atlantis',
      {},
      /unknown target 'atlantis'; the worker's config has: automatic, crowd, intact/,
    ],
    ['a field of the wrong type', 42, {}, /input\.target must be a string \(got number\)/],
    [
      'an unknown field',
      'intact',
      { primary: '/etc/passwd' },
      /input\.primary is not a field of corruptedStoreRecovery/,
    ],
  ])('%s', async (_what, target, extra, message) => {
    const failure = await failureOf(target, extra);
    expect(failure.type).toBe('InvalidInput');
    expect(failure.nonRetryable).toBe(true);
    expect(failure.message).toMatch(message);
  });

  test('an unknown runbook (workflow type)', async () => {
    const handle = await tw.client.workflow.start('fixEverything', {
      taskQueue: tw.taskQueue,
      workflowId: `store-unknown-runbook-${Math.random().toString(36).slice(2, 8)}`,
      args: [{ target: 'intact' }],
    });
    await expect(handle.result()).rejects.toMatchObject({
      cause: expect.objectContaining({
        type: 'InvalidInput',
        nonRetryable: true,
        // The registry orders runbooks by source procedure: any order names them.
        message: expect.stringMatching(
          /^unknown runbook 'fixEverything'; known runbooks: (?=.*\bcorruptedStoreRecovery\b)(?=.*\bfullBackup\b)/,
        ),
      }),
    });
  });

  test('input that is not an object', async () => {
    const handle = await tw.client.workflow.start('corruptedStoreRecovery', {
      taskQueue: tw.taskQueue,
      workflowId: `store-notobject-${Math.random().toString(36).slice(2, 8)}`,
      args: ['demo-store'],
    });
    await expect(handle.result()).rejects.toMatchObject({
      cause: expect.objectContaining({
        type: 'InvalidInput',
        message: expect.stringMatching(/must be a JSON object .*got string/),
      }),
    });
  });
});
