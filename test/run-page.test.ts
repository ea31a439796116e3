/**
 * What a run says about itself where a responder looks in the Temporal UI, read the way the UI reads
 * it (the built-in metadata Query, the history's user metadata, the describe call): the static
 * summary and details of a run started by the CLI, current details that say why it waits, what
 * approving will do and the payload to send, refused decisions, who approved and how it ended;
 * handler descriptions; step names in the timeline; the compact `summary` Query; and the restore
 * gate's plan over a real storage root.
 */
import type { WorkflowHandle } from '@temporalio/client';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { startRunbook } from '../client/runs';
import { approveSignal, approveUpdate, summaryQuery, type RunSummary } from '../common/messages';
import { currentDetails, payloadOf } from '../common/runDetails';
import type { RunStatus } from '../common/types';
import { meta as storeMeta } from '../runbooks/corruptedStoreRecovery';
import { writeStoreFixture } from '../scripts/demo-data';
import { writeDatabase, writeStorageRoot } from '../scripts/storage-root';
import {
  refusal,
  startWorker,
  statusWhen,
  storeTargetConfig,
  tempDir,
  uniqueQueue,
  writeConfig,
  type TestWorker,
} from './helpers';

const PASSPHRASE_ENV = 'LIFEBOAT_TEST_PAGE_PASSPHRASE';

let dir: string;
let tw: TestWorker;

beforeAll(async () => {
  process.env[PASSPHRASE_ENV] = 'page-test-passphrase-not-a-secret-elsewhere';
  dir = tempDir('page');
  writeStoreFixture(path.join(dir, 'store'), 'corrupt', ['intact']);
  writeStorageRoot(path.join(dir, 'storage', 'root'), { seed: 3 });
  const { config } = writeConfig(dir, {
    auditLedger: 'audit.sqlite',
    targets: {
      store: storeTargetConfig(path.join(dir, 'store'), { restore: { approvers: ['alice', 'bob'] } }),
      storage: {
        root: path.join(dir, 'storage', 'root'),
        repository: path.join(dir, 'storage', 'repo'),
        encryption: { passphraseEnv: PASSPHRASE_ENV },
      },
    },
  });
  tw = await startWorker(config, uniqueQueue('page'));
});

afterAll(async () => {
  await tw?.stop();
});

/** What the UI's run page reads: the built-in metadata Query. */
interface Metadata {
  currentDetails?: string;
  definition?: {
    queryDefinitions?: { name: string; description?: string }[];
    signalDefinitions?: { name: string; description?: string }[];
    updateDefinitions?: { name: string; description?: string }[];
  };
}
const metadata = (h: WorkflowHandle) => h.query<Metadata>('__temporal_workflow_metadata');

/** The summaries the timeline shows: each scheduled activity's and each timer's. */
async function timeline(h: WorkflowHandle): Promise<{ kind: string; summary: string }[]> {
  const history = await h.fetchHistory();
  return (history.events ?? []).flatMap((e) => {
    const data = e.userMetadata?.summary?.data;
    if (!data) return [];
    const kind = e.activityTaskScheduledEventAttributes
      ? 'activity'
      : e.timerStartedEventAttributes
        ? 'timer'
        : 'other';
    return [{ kind, summary: JSON.parse(Buffer.from(data).toString()) as string }];
  });
}

test('a waiting run says on its own page why it waits, what approving does, how to answer; refusals and the approver show there too', async () => {
  const handle = await startRunbook(tw.client, {
    runbook: 'corruptedStoreRecovery',
    input: { target: 'store' },
    taskQueue: tw.taskQueue,
  });
  await statusWhen(tw.client, handle.workflowId, (s) => s.state === 'waiting', 'the gate');

  // Started by the CLI: the page names the runbook and target, and the flow.
  const described = await handle.describe();
  expect(await described.staticSummary()).toBe(
    'corruptedStoreRecovery → store: Corrupted data store recovery',
  );
  const staticDetails = (await described.staticDetails())!;
  expect(staticDetails).toContain('- `gate:restore` (approval)');
  expect(staticDetails).toContain('- `verifyRestored`');

  let page = await metadata(handle);
  let details = page.currentDetails!;
  expect(details).toContain('**corruptedStoreRecovery** → target **store** — **WAITING FOR A PERSON**');
  expect(details).toContain('### A person is needed: approve gate `restore`?');
  expect(details).toMatch(/\*\*Approving will:\*\* moves the corrupt primary .*graph\.json/);
  expect(details).toContain('Approvals: **0 of 1**; may approve: alice, bob');
  expect(details).toContain('Decisions allowed now: **approve**, **stop**.');
  expect(details).toContain(payloadOf('approve'));
  expect(details).toContain(`npx lifeboat approve ${handle.workflowId} --as "<your name>"`);

  // Every handler describes itself and its input in the UI's drop-downs.
  const definition = page.definition!;
  const described2 = (list?: { name: string; description?: string }[]) =>
    Object.fromEntries((list ?? []).map((d) => [d.name, d.description ?? '']));
  expect(described2(definition.queryDefinitions)).toMatchObject({
    status: expect.stringContaining('The full status'),
    summary: expect.stringContaining('without step results'),
  });
  for (const list of [definition.signalDefinitions, definition.updateDefinitions]) {
    const byName = described2(list);
    expect(byName.approve).toContain('{"actor": "<your name>"');
    expect(byName.stop).toContain('"reason": "<why, required>"');
    expect(byName.retry).toContain('never at a gate');
  }

  // A signal without an actor is refused: the page says so and why.
  await handle.signal(approveSignal, { comment: 'no name' } as never);
  await statusWhen(tw.client, handle.workflowId, (s) => s.decisions.some((d) => d.refused), 'the refusal');
  details = (await metadata(handle)).currentDetails!;
  expect(details).toMatch(
    /\*\*Last refused decision\*\* — approve from \*\*unknown\*\* at .*: actor is required/,
  );

  // The payload pasted as it is, placeholder and all, is refused at once.
  const pasted = JSON.parse(payloadOf('approve')) as { actor: string };
  expect(await refusal(handle.executeUpdate(approveUpdate, { args: [pasted] }))).toMatch(
    /actor is still the placeholder <your name>: put your own name there/,
  );

  // The compact query puts the waiting block and the decisions first, with no step results.
  const summary = await handle.query(summaryQuery);
  expect(Object.keys(summary).slice(0, 5)).toEqual(['state', 'runbook', 'target', 'waiting', 'decisions']);
  expect(summary.waiting).toMatchObject({ gate: 'restore', allowed: ['approve', 'stop'] });
  expect(JSON.stringify(summary.steps)).not.toContain('sha256');

  await handle.executeUpdate(approveUpdate, {
    args: [{ ...pasted, actor: 'alice', comment: 'backup checked' }],
  });
  await handle.result();
  page = await metadata(handle);
  details = page.currentDetails!;
  expect(details).toMatch(/— \*\*COMPLETED\*\*\n[^]*\*\*Outcome:\*\* restored at /);
  expect(details).toMatch(/Approved by: \*\*alice\*\* \(gate `restore`/);
  expect(details).toContain('approve gate `restore` — backup checked');
  const done = (await handle.query(summaryQuery)) as RunSummary;
  expect(done.outcome).toBe('restored');

  // The timeline names steps, the wait at the gate, and the ledger writes.
  const entries = await timeline(handle);
  const summaries = entries.map((e) => e.summary);
  expect(summaries).toContain('verifyRestored: verify the restored primary');
  expect(summaries.filter((s) => s.startsWith('verifyPrimary'))).toHaveLength(1);
  expect(entries).toContainEqual({
    kind: 'timer',
    summary: 'waiting for a person — gate restore: approve (quorum 1) or stop',
  });
  expect(summaries.some((s) => /^audit: \d+ events? \(/.test(s))).toBe(true);
});

test('the restore gate says which files approving replaces, adds and removes, and what changed after the backup', async () => {
  const root = path.join(dir, 'storage', 'root');
  const full = await tw.client.workflow.execute('fullBackup', {
    taskQueue: tw.taskQueue,
    workflowId: `page-full-${Date.now()}`,
    args: [{ target: 'storage' }],
  });
  expect(full.state).toBe('completed');
  await new Promise((r) => setTimeout(r, 20)); // every change below is later than the backup
  // After the backup: a note rewritten, a file added, one deleted, a database written, and one
  // file touched without a change (its bytes still match: not counted).
  fs.writeFileSync(path.join(root, 'projects', 'p0', 'notes', 'n0.md'), '# rewritten after the backup\n');
  fs.writeFileSync(path.join(root, 'projects', 'p1', 'late.json'), '{"late": true}');
  fs.rmSync(path.join(root, 'projects', 'p1', 'notes', 'n1.md'));
  writeDatabase(path.join(root, 'core.db'), 3, 91);
  const touched = path.join(root, 'config', 'server-defaults.json');
  fs.utimesSync(touched, new Date(), new Date());

  const handle = await tw.client.workflow.start('restore', {
    taskQueue: tw.taskQueue,
    workflowId: `page-restore-${Date.now()}`,
    args: [{ target: 'storage' }],
  });
  const status: RunStatus = await statusWhen(
    tw.client,
    handle.workflowId,
    (s) => s.state === 'waiting',
    'the gate',
  );
  const plan = status.waiting!.plan!;
  expect(plan.effects[0]).toMatch(/^2 files replaced \(.*\), 1 added, 1 removed \(.*\), \d+ unchanged$/);
  expect(plan.effects[1]).toBe('databases whose content differs from the backup: core.db');
  expect(plan.effects[2]).toMatch(/^3 files \(.*\) changed after the backup was taken/);
  expect(plan.newest!.map((f) => f.path).sort()).toEqual([
    'core.db',
    'projects/p0/notes/n0.md',
    'projects/p1/late.json',
  ]);
  expect(status.waiting!.reason).toMatch(
    /Approving: replaces the live root with backup .*: 2 files replaced, 1 added, 1 removed; 3 files .* changed after the backup and their changes are lost; 1 databases differ$/,
  );
  const details = (await metadata(handle)).currentDetails!;
  expect(details).toContain('- changed after the backup, newest first:');
  expect(details).toContain('`projects/p1/late.json`');
  await handle.executeUpdate(approveUpdate, { args: [{ actor: 'alice' }] });
  expect((await handle.result()).state).toBe('completed');
});

test('current details render every state in short markdown (pure)', () => {
  const base: RunStatus = {
    runbook: 'corruptedStoreRecovery',
    target: 'store',
    state: 'running',
    startedAt: '2026-11-30T10:00:00.000Z',
    currentStep: 'findValidBackup',
    steps: [
      { name: 'resolveTarget', state: 'succeeded', attempts: 1, startedAt: '2026-11-30T10:00:00.000Z' },
    ],
    decisions: [],
    facts: {},
  };
  expect(currentDetails(base, 'wf-1', storeMeta)).toContain(
    'On step `findValidBackup`: verify backups newest first',
  );
  const failed = currentDetails(
    {
      ...base,
      state: 'waiting',
      waiting: {
        kind: 'failure',
        step: 'findValidBackup',
        reason: 'no valid backup',
        errorType: 'NoValidBackup',
        since: '2026-11-30T10:01:00.000Z',
        allowed: ['retry', 'stop'],
      },
    },
    'wf-1',
    storeMeta,
  );
  expect(failed).toContain('### A person is needed: step `findValidBackup` failed');
  expect(failed).toContain('npx lifeboat retry wf-1 --as "<your name>"');
  expect(failed).toContain('npx lifeboat stop wf-1 --as "<your name>" --reason "<why>"');
  expect(failed).not.toContain('approve');
  const stopped = currentDetails(
    {
      ...base,
      state: 'stopped',
      endedAt: '2026-11-30T10:05:00.000Z',
      decisions: [
        { action: 'stop', actor: 'bob', at: '2026-11-30T10:04:59.000Z', comment: 'doing it by hand' },
      ],
    },
    'wf-1',
    storeMeta,
  );
  expect(stopped).toContain('**Outcome:** stopped by bob: doing it by hand at 2026-11-30 10:05:00 UTC');
  expect(stopped).toContain('No person approved anything in this run.');
  expect(stopped).toContain('What earlier steps changed was put back by their compensations.');
  const halfBack = currentDetails(
    {
      ...base,
      state: 'stopped',
      endedAt: '2026-11-30T10:05:00.000Z',
      error: 'compensations failed: putPreviousRootBack: EACCES',
    },
    'wf-1',
    storeMeta,
  );
  expect(halfBack).toContain(
    'NOT everything was put back: compensations failed: putPreviousRootBack: EACCES',
  );
});
