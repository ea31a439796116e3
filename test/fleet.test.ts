/**
 * fleet on a real dev server with real stores: healthCheck over four targets of which one fails
 * halts at maxErrors 1 after the canary and a wave, naming the failed child and never starting the
 * last; corruptedStoreRecovery over a label selector, started with the CLI without --target, waits at
 * the gate between waves, halts when a child waits at a failure, and a stop stops that child. Bad
 * input is refused naming what exists instead.
 */
import { WorkflowFailedError, WorkflowNotFoundError } from '@temporalio/client';
import * as path from 'node:path';
import { selectTargets, type FleetTarget } from '../activities/fleet';
import { formatFleet } from '../client/format';
import { SA_RUNBOOK_TARGET } from '../common/constants';
import { approveUpdate, stopUpdate } from '../common/messages';
import type { RunOutcome } from '../common/types';
import { FLEET_RUNBOOKS, fleetLabel, type FleetResult } from '../runbooks/fleet';
import { RUNBOOKS } from '../runbooks/registry';
import type { FleetRow } from '../workflows/engine/fleet';
import { writeStoreFixture } from '../scripts/demo-data';
import {
  lifeboat,
  startWorker,
  statusWhen,
  tempDir,
  uniqueQueue,
  writeConfig,
  type TestWorker,
} from './helpers';

let tw: TestWorker;
let configFile: string;

function store(dir: string, name: string, primary: 'intact' | 'corrupt', backups: 'intact'[]) {
  const f = writeStoreFixture(path.join(dir, name), primary, backups);
  return { primary: f.primary, backups: f.backups, quarantine: f.quarantine };
}

beforeAll(async () => {
  const dir = tempDir('fleet');
  const db = { role: 'db' };
  const written = writeConfig(dir, {
    auditLedger: 'audit.sqlite',
    targets: {
      db1: { store: store(dir, 'db1', 'intact', ['intact']), labels: db },
      db2: { store: store(dir, 'db2', 'intact', ['intact']), labels: db },
      // No store and no repository: healthCheck refuses it, so its child run fails.
      db3: { description: 'only commands', commands: { start: { argv: ['true'] } }, labels: db },
      db4: { store: store(dir, 'db4', 'intact', ['intact']), labels: db },
      s1: { store: store(dir, 's1', 'intact', []), labels: { role: 'store', site: 'eu' } },
      // A corrupt primary and no backup: corruptedStoreRecovery waits after findValidBackup fails.
      s2: { store: store(dir, 's2', 'corrupt', []), labels: { role: 'store' } },
    },
  });
  configFile = written.file;
  tw = await startWorker(written.config, uniqueQueue('fleet'));
});

afterAll(async () => {
  await tw?.stop();
});

const unique = () => Math.random().toString(36).slice(2, 8);

function start(input: Record<string, unknown>) {
  return tw.client.workflow.start('fleet', {
    taskQueue: tw.taskQueue,
    workflowId: `fleet-${unique()}`,
    args: [input],
  });
}

const rowOf = (rows: FleetRow[], target: string) => rows.find((r) => r.target === target)!;

test('over four targets with one failing and maxErrors 1: the canary, a wave, then a halt naming the failed child; the last never starts', async () => {
  const handle = await start({
    runbook: 'healthCheck',
    targets: ['db1', 'db2', 'db3', 'db4'],
    canary: 1,
    maxConcurrency: 2,
    maxErrors: 1,
  });
  const outcome = (await handle.result()) as RunOutcome<FleetResult>;
  expect(outcome.state).toBe('completed');
  const result = outcome.result!;
  expect(result).toMatchObject({
    outcome: 'halted',
    runbook: 'healthCheck',
    fleet: 'fleet:db1,db2,+2',
    completed: ['db1', 'db2'],
    failed: ['db3'],
    notStarted: ['db4'],
    halted: { failed: ['db3'], notStarted: ['db4'] },
  });
  expect(result.halted!.reason).toMatch(
    /^1 child run\(s\) failed or wait at a failure \(maxErrors 1\): db3 \(failed: /,
  );
  expect(result.warning).toContain('not started: db4');
  const id = handle.workflowId;
  expect(result.targets.map((r) => [r.target, r.wave, r.state])).toEqual([
    ['db1', 1, 'completed'],
    ['db2', 2, 'completed'],
    ['db3', 2, 'failed'],
    ['db4', 3, 'not started'],
  ]);
  const db3 = rowOf(result.targets, 'db3');
  expect(db3.outcome).toMatch(/target 'db3' has neither a 'store' section nor a 'repository'/);
  expect(db3).toMatchObject({ workflowId: `${id}-db3`, link: `/namespaces/default/workflows/${id}-db3` });
  expect(db3.durationMs).toBeGreaterThanOrEqual(0);
  expect(rowOf(result.targets, 'db4').startedAt).toBeUndefined();
  // The status says the same: the table, and each child among the steps.
  expect(outcome.status.facts.fleet).toEqual(result.targets);
  expect(outcome.status.steps.map((s) => s.name)).toEqual([
    'resolveTarget',
    'selectTargets',
    'child:db1',
    'child:db2',
    'child:db3',
  ]);
  // Temporal agrees: three children of the fleet, the fourth never started.
  const children: string[] = [];
  for await (const run of tw.client.workflow.list({ query: `ParentWorkflowId = '${id}'` }))
    children.push(run.workflowId);
  expect(children.sort()).toEqual([`${id}-db1`, `${id}-db2`, `${id}-db3`]);
  await expect(tw.client.workflow.getHandle(`${id}-db4`).describe()).rejects.toBeInstanceOf(
    WorkflowNotFoundError,
  );
  const description = await handle.describe();
  expect(description.typedSearchAttributes.get(SA_RUNBOOK_TARGET)).toBe('fleet:db1,db2,+2');
});

test('below maxErrors every target runs: outcome errors names the failed child; with none failing, completed', async () => {
  const [withFailure, all] = await Promise.all([
    start({ runbook: 'healthCheck', targets: ['db3', 'db1', 'db2'], maxConcurrency: 1, maxErrors: 2 }),
    start({ runbook: 'healthCheck', targets: ['db1', 'db2'], maxConcurrency: 5, maxErrors: 1 }),
  ]);
  const failed = ((await withFailure.result()) as RunOutcome<FleetResult>).result!;
  expect(failed).toMatchObject({
    outcome: 'errors',
    failed: ['db3'],
    completed: ['db1', 'db2'],
    notStarted: [],
  });
  expect(failed.halted).toBeUndefined();
  expect(failed.warning).toBe('1 child run(s) failed: db3');
  expect(failed.targets.map((r) => r.wave)).toEqual([1, 2, 3]);
  const done = ((await all.result()) as RunOutcome<FleetResult>).result!;
  expect(done).toMatchObject({ outcome: 'completed', completed: ['db1', 'db2'], failed: [] });
  expect(done.warning).toBeUndefined();
  expect(done.targets.map((r) => [r.wave, r.state])).toEqual([
    [1, 'completed'],
    [1, 'completed'],
  ]);
});

test('started by the CLI over a selector: a gate between waves, a halt when a child waits at a failure, and a stop that stops the child', async () => {
  const cli = (args: string[]) =>
    lifeboat(args, { LIFEBOAT_TASK_QUEUE: tw.taskQueue, LIFEBOAT_CONFIG: configFile });
  const input = {
    runbook: 'corruptedStoreRecovery',
    selector: { role: 'store' },
    maxConcurrency: 1,
    maxErrors: 1,
    approveWaves: true,
  };
  const started = await cli(['start', 'fleet', '--input', JSON.stringify(input)]);
  expect(started.stderr).toContain('lifeboat: started');
  expect(started.code).toBe(0);
  const id = started.stdout.trim();
  expect(id).toMatch(/^fleet-role_store-\d{8}T\d{6}Z-/);
  const handle = tw.client.workflow.getHandle(id);

  const atGate = await statusWhen(tw.client, id, (s) => s.waiting?.gate === 'wave', 'the gate before wave 2');
  expect(atGate.target).toBe('fleet:role=store');
  expect(atGate.waiting!.reason).toBe('start wave 2 of 2: s2. Approving: runs corruptedStoreRecovery on s2');
  const table = atGate.facts.fleet as FleetRow[];
  expect(table.map((r) => [r.target, r.state, r.outcome])).toEqual([
    ['s1', 'completed', 'intact'],
    ['s2', 'not started', undefined],
  ]);
  await handle.executeUpdate(approveUpdate, { args: [{ actor: 'alice' }] });

  const halted = await statusWhen(tw.client, id, (s) => s.facts.halted !== undefined, 'the fleet to halt');
  expect(halted.facts.halted).toMatchObject({ failed: ['s2'], notStarted: [] });
  const s2 = rowOf(halted.facts.fleet as FleetRow[], 's2');
  expect(s2).toMatchObject({ state: 'waiting', waitingAt: 'failure' });
  expect(s2.outcome).toMatch(/^waits after findValidBackup failed: /);

  const shown = await cli(['status', id]);
  expect(shown.stdout).toMatch(/TARGET\s+STATE\s+DURATION\s+LINK\s+OUTCOME/);
  expect(shown.stdout).toMatch(
    new RegExp(`s2\\s+waiting\\s+/namespaces/default/workflows/${id}-s2\\s+waits after`),
  );
  expect(shown.stdout).not.toContain('child:s1:');

  await handle.executeUpdate(stopUpdate, { args: [{ actor: 'alice', reason: 'enough' }] });
  const outcome = (await handle.result()) as RunOutcome<FleetResult>;
  expect(outcome).toMatchObject({ state: 'stopped', stoppedBy: 'alice' });
  expect(rowOf(outcome.status.facts.fleet as FleetRow[], 's2').state).toBe('stopped');
  const child = (await tw.client.workflow.getHandle(`${id}-s2`).result()) as RunOutcome;
  expect(child.state).toBe('stopped');
}, 60000);

/** The message the fleet run failed with. */
async function refusalOf(input: Record<string, unknown>): Promise<string> {
  const failure = await (await start(input)).result().then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(failure).toBeInstanceOf(WorkflowFailedError);
  const cause = (failure as WorkflowFailedError).cause as Error & { type?: string };
  expect(cause.type).toBe('InvalidInput');
  return cause.message;
}

const counts = { maxConcurrency: 2, maxErrors: 1 };

test('bad input is refused: no match names the selector and the labels there are; unknown runbooks, fleets of fleets and unknown targets are named', async () => {
  expect(await refusalOf({ runbook: 'healthCheck', selector: { role: 'web' }, ...counts })).toBe(
    'selector role=web matches no target; the labels that exist: role=db (4 targets), role=store (2 targets), site=eu (1 target)',
  );
  expect(await refusalOf({ runbook: 'healthChek', targets: ['db1'], ...counts })).toMatch(
    /^unknown runbook 'healthChek'; a fleet runs one of: adoptRepository, .*healthCheck/,
  );
  expect(await refusalOf({ runbook: 'fleet', targets: ['db1'], ...counts })).toMatch(
    /^a fleet cannot run fleet/,
  );
  expect(await refusalOf({ runbook: 'healthCheck', targets: ['db1', 'db9'], ...counts })).toBe(
    "unknown target 'db9'; the control plane knows: db1, db2, db3, db4, s1, s2",
  );
  const cli = await lifeboat(
    [
      'start',
      'fleet',
      '--input',
      JSON.stringify({ runbook: 'healthCheck', selector: { site: 'us' }, ...counts }),
    ],
    { LIFEBOAT_TASK_QUEUE: tw.taskQueue, LIFEBOAT_CONFIG: configFile },
  );
  expect(cli.code).toBe(2);
  expect(cli.stderr).toContain('selector site=us matches no target');
  const withTarget = await lifeboat(['start', 'fleet', '--target', 'db1', '--input', '{}'], {
    LIFEBOAT_TASK_QUEUE: tw.taskQueue,
  });
  expect(withTarget.code).toBe(2);
  expect(withTarget.stderr).toContain('fleet runs over many targets and takes no --target');
});

describe('without a server', () => {
  test('a fleet runs every registered runbook but itself', () => {
    expect(Object.keys(FLEET_RUNBOOKS).sort()).toEqual(
      RUNBOOKS.map((r) => r.name)
        .filter((n) => n !== 'fleet')
        .sort(),
    );
  });

  test('its name where a target would be: the selector, or the first names', () => {
    expect(fleetLabel({ selector: { site: 'eu', role: 'db' } })).toBe('fleet:role=db,site=eu');
    expect(fleetLabel({ selector: {} })).toBe('fleet:*');
    expect(fleetLabel({ targets: ['a', 'b', 'c'] })).toBe('fleet:a,b,c');
    expect(fleetLabel({ targets: ['a', 'b', 'c', 'd', 'e'] })).toBe('fleet:a,b,+3');
    expect(fleetLabel({ targets: 'a' })).toBe('fleet:?');
  });

  test('targets held elsewhere (the agents) are selected beside the config’s; missing sections are named', () => {
    const all: FleetTarget[] = [
      { name: 'h2', labels: { role: 'host' }, sections: ['driverStore'] },
      { name: 'h1', labels: { role: 'host' }, sections: [] },
    ];
    const request = { runbook: 'driverUpdate', requires: [], selector: { role: 'host' } };
    expect(selectTargets(all, request).map((t) => t.name)).toEqual(['h1', 'h2']);
    expect(() => selectTargets(all, { ...request, requires: ['driverStore'] })).toThrow(
      "driverUpdate needs config section 'driverStore' (h1 lacks it) of every target",
    );
    expect(() => selectTargets(all, { ...request, selector: undefined, targets: ['h1', 'h1'] })).toThrow(
      'input.targets names h1 twice',
    );
  });

  test('lifeboat status draws the table', () => {
    expect(
      formatFleet([
        { target: 'a', state: 'completed', durationMs: 1500, link: '/l/a', outcome: 'intact' },
        { target: 'bb', state: 'not started', link: '/l/bb' },
      ]),
    ).toEqual([
      'TARGET  STATE        DURATION  LINK   OUTCOME',
      'a       completed    1.5s      /l/a   intact',
      'bb      not started            /l/bb',
    ]);
  });
});
