/**
 * migration on a real dev server with real files, SQLite databases, OpenPGP-encrypted backups and a
 * stand-in migration program: a migration that passes keeps its changes after a verified backup; one
 * that fails half-way, one that hangs past its timeout, and one whose verification fails wait at gate
 * `rollback` with what restoring will change, and approved, bring back the root exactly as it was
 * before (the migrated root kept beside it); a stop at the gate leaves the root and releases the
 * lock; a target without the commands fails at once.
 */
import { WorkflowFailedError } from '@temporalio/client';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { approveUpdate, stopUpdate } from '../common/messages';
import type { RunOutcome, RunStatus } from '../common/types';
import { writeMigrationFixture, type MigrationFixture } from '../scripts/demo-migration';
import { treeState } from '../scripts/storage-root';
import { startWorker, statusWhen, tempDir, uniqueQueue, writeConfig, type TestWorker } from './helpers';
import { dbRows, expectSameTree } from './tree-helpers';

const PASSPHRASE_ENV = 'LIFEBOAT_TEST_MIGRATION_PASSPHRASE';
const encryption = { passphraseEnv: PASSPHRASE_ENV };

let dir: string;
let tw: TestWorker;
const fixtures: Record<string, MigrationFixture> = {};

const TARGETS = {
  passes: [],
  failsHalfway: ['FAIL'],
  hangs: ['HANG'],
  verifyFails: ['VERIFY-FAIL'],
  stopped: ['FAIL'],
} as const;

beforeAll(async () => {
  process.env[PASSPHRASE_ENV] = 'migration-test-passphrase';
  dir = tempDir('migration');
  const targets: Record<string, unknown> = {};
  for (const [name, markers] of Object.entries(TARGETS)) {
    fixtures[name] = writeMigrationFixture(path.join(dir, name), {
      markers: [...markers],
      encryption,
      timeoutSeconds: name === 'hangs' ? 2 : 60,
    });
    targets[name] = fixtures[name].target;
  }
  const noCommands = { ...fixtures.passes.target, commands: {}, root: path.join(dir, 'bare') };
  const { config } = writeConfig(dir, {
    auditLedger: 'audit.sqlite',
    targets: { ...targets, bare: noCommands },
  });
  tw = await startWorker(config, uniqueQueue('migration'));
});

afterAll(async () => {
  await tw?.stop();
});

async function start(target: string) {
  return tw.client.workflow.start('migration', {
    taskQueue: tw.taskQueue,
    workflowId: `migration-${target}-${Math.random().toString(36).slice(2, 8)}`,
    args: [{ target }],
  });
}

const atRollback = (id: string) =>
  statusWhen(tw.client, id, (s) => s.waiting?.gate === 'rollback', `${id} at gate rollback`);

test('a migration that passes its verification keeps its changes, after a verified backup', async () => {
  const f = fixtures.passes;
  const outcome = (await (await start('passes')).result()) as RunOutcome<Record<string, unknown>>;
  expect(outcome.result).toMatchObject({ outcome: 'migrated', backupId: expect.stringMatching(/^passes-/) });
  expect(fs.readFileSync(path.join(f.root, 'schema-version'), 'utf8')).toBe('2\n');
  const backupRun = outcome.status.steps.find((s) => s.name === 'backupFirst');
  expect(backupRun).toMatchObject({
    state: 'succeeded',
    result: { runbook: 'fullBackup', state: 'completed' },
  });
  expect(fs.readdirSync(f.repository).filter((n) => n.endsWith('.lbk'))).toHaveLength(1);
});

const CORE_DIFFERS = 'databases whose content differs from the backup: core.db';
describe.each([
  [
    'failsHalfway',
    /the migration failed: command 'migrate' \(.*\) exited with 3: migration step 2 of 3 failed/,
    CORE_DIFFERS,
  ],
  // It hangs before it writes anything: nothing differs, and the plan says that too.
  [
    'hangs',
    /the migration failed: command 'migrate' \(.*\) timed out after 2s and was ended/,
    'no database differs from the backup',
  ],
  [
    'verifyFails',
    /the verification of the migration failed: command 'verify' \(.*\) exited with 1: verify: schema 2/,
    CORE_DIFFERS,
  ],
])('%s', (name, reason, databases) => {
  test('waits at gate rollback with what restoring changes; approved, the root is as it was before', async () => {
    const f = fixtures[name];
    const before = treeState(f.root);
    const dbBefore = dbRows(f.root);
    const handle = await start(name);
    const gate: RunStatus = await atRollback(handle.workflowId);
    expect(gate.waiting!.reason).toMatch(reason);
    // What the migration wrote to core.db before it failed (or verify found it wanting) is in the plan.
    expect(gate.waiting!.plan!.effects[1]).toBe(databases);
    await handle.executeUpdate(approveUpdate, { args: [{ actor: 'alice', comment: 'roll back' }] });
    const outcome = (await handle.result()) as RunOutcome<{ outcome: string; migratedRoot: string }>;
    expect(outcome.result).toMatchObject({ outcome: 'rolledBack' });
    expectSameTree(f.root, before, dbBefore);
    // The migrated root is kept beside it, for whoever wants to see what the migration did.
    expect(fs.existsSync(path.join(outcome.result!.migratedRoot, 'core.db'))).toBe(true);
  });
});

test('a stop at the rollback gate leaves the root as the migration left it and releases the lock', async () => {
  const f = fixtures.stopped;
  const handle = await start('stopped');
  await atRollback(handle.workflowId);
  const migrated = treeState(f.root);
  await handle.executeUpdate(stopUpdate, {
    args: [{ actor: 'bob', reason: 'will restore by hand after looking' }],
  });
  expect(((await handle.result()) as RunOutcome).state).toBe('stopped');
  expect(treeState(f.root)).toEqual(migrated);
  // The lock is free: a backup of the target runs at once.
  fs.rmSync(path.join(f.dir, 'FAIL'));
  const next = (await (await start('stopped')).result()) as RunOutcome<Record<string, unknown>>;
  expect(next.result).toMatchObject({ outcome: 'migrated' });
});

test('a target without migrate and verify commands fails at once, naming them', async () => {
  const err = await (await start('bare')).result().catch((e: unknown) => e);
  expect(err).toBeInstanceOf(WorkflowFailedError);
  expect(String((err as WorkflowFailedError).cause?.message)).toMatch(
    /target 'bare' has no 'commands.migrate', 'commands.verify' sections in the worker's config; migration needs them/,
  );
});
