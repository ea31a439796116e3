/**
 * mergeRestore on a real dev server with real files, SQLite databases and encrypted backups: the
 * plan shown to two distinct approvers (files added, conflicts with both versions), the keepLive
 * and takeBackup policies, databases never merged, nothing removed, and a stop after the files went
 * in putting every one back.
 */
import Database from 'better-sqlite3';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { approveUpdate, stopUpdate } from '../common/messages';
import type { RunOutcome, RunStatus } from '../common/types';
import { treeState, writeDatabase, writeStorageRoot } from '../scripts/storage-root';
import {
  refusal,
  startWorker,
  statusWhen,
  tempDir,
  uniqueQueue,
  writeConfig,
  type TestWorker,
} from './helpers';
import { dbRows, expectSameTree } from './tree-helpers';

const PASSPHRASE_ENV = 'LIFEBOAT_TEST_MERGE_PASSPHRASE';
let dir: string;
let tw: TestWorker;
const rootOf = (name: string) => path.join(dir, name, 'root');

beforeAll(async () => {
  process.env[PASSPHRASE_ENV] = 'merge-test-passphrase';
  dir = tempDir('merge');
  const targets: Record<string, unknown> = {};
  for (const name of ['keepLive', 'takeBackup', 'stopped', 'same']) {
    writeStorageRoot(rootOf(name), { seed: 5 });
    targets[name] = {
      root: rootOf(name),
      repository: path.join(dir, name, 'repo'),
      encryption: { passphraseEnv: PASSPHRASE_ENV },
      // The stopped target's caches cannot be rebuilt: the run waits after the files went in.
      ...(name === 'stopped'
        ? {
            commands: {
              rebuildCaches: { argv: [process.execPath, '-e', 'process.exit(4)'], timeoutSeconds: 30 },
            },
          }
        : {}),
    };
  }
  const { config } = writeConfig(dir, { auditLedger: 'audit.sqlite', targets });
  tw = await startWorker(config, uniqueQueue('merge'));
  for (const name of Object.keys(targets)) {
    const full = await tw.client.workflow.execute('fullBackup', {
      taskQueue: tw.taskQueue,
      workflowId: `merge-full-${name}-${Date.now()}`,
      args: [{ target: name }],
    });
    expect(full.state).toBe('completed');
  }
});

afterAll(async () => {
  await tw?.stop();
});

/** After the backup: a file lost, a note rewritten, a database written, a new file only live. */
function diverge(name: string): void {
  const root = rootOf(name);
  fs.rmSync(path.join(root, 'projects', 'p1', 'notes', 'n1.md'));
  fs.writeFileSync(path.join(root, 'projects', 'p0', 'notes', 'n0.md'), '# rewritten live\n');
  writeDatabase(path.join(root, 'core.db'), 3, 555);
  fs.writeFileSync(path.join(root, 'projects', 'p0', 'only-live.json'), '{"live": true}');
}

async function start(target: string, policy?: string) {
  return tw.client.workflow.start('mergeRestore', {
    taskQueue: tw.taskQueue,
    workflowId: `merge-${target}-${Math.random().toString(36).slice(2, 8)}`,
    args: [{ target, ...(policy ? { policy } : {}) }],
  });
}

const atGate = (id: string) =>
  statusWhen(tw.client, id, (s) => s.waiting?.gate === 'merge', `${id} at gate merge`);

test('keepLive: missing files come back, conflicts stay live, nothing is removed; two distinct approvers', async () => {
  diverge('keepLive');
  const root = rootOf('keepLive');
  const liveNote = fs.readFileSync(path.join(root, 'projects', 'p0', 'notes', 'n0.md'));
  const liveDb = dbRows(root)['core.db'];
  const handle = await start('keepLive');
  const gate: RunStatus = await atGate(handle.workflowId);
  expect(gate.waiting).toMatchObject({ quorum: 2, approvers: ['*'] });
  const plan = gate.waiting!.plan!;
  expect(plan.summary).toMatch(/adds 1 files; 2 conflicts, all kept live; removes nothing$/);
  expect(plan.effects).toEqual(
    expect.arrayContaining([
      expect.stringMatching(
        /^conflict core\.db \(database\): live .* sha256 [0-9a-f]{12}…; backup .* sha256 [0-9a-f]{12}…$/,
      ),
      expect.stringMatching(/^conflict projects\/p0\/notes\/n0\.md: live 17 B, /),
      expect.stringMatching(/^2 conflicts \(1 databases, never merged\): the live version is KEPT/),
    ]),
  );
  // Two distinct people: the same one twice is refused.
  const first = await handle.executeUpdate(approveUpdate, { args: [{ actor: 'alice' }] });
  expect(first.message).toMatch(/approval recorded \(1 of 2\)/);
  expect(await refusal(handle.executeUpdate(approveUpdate, { args: [{ actor: 'alice' }] }))).toMatch(
    /'alice' has already approved gate 'merge'/,
  );
  await handle.executeUpdate(approveUpdate, { args: [{ actor: 'bob' }] });
  const outcome = (await handle.result()) as RunOutcome<Record<string, unknown>>;
  expect(outcome.result).toMatchObject({
    outcome: 'merged',
    policy: 'keepLive',
    added: ['projects/p1/notes/n1.md'],
    conflicts: 2,
  });
  expect(fs.existsSync(path.join(root, 'projects', 'p1', 'notes', 'n1.md'))).toBe(true);
  expect(fs.readFileSync(path.join(root, 'projects', 'p0', 'notes', 'n0.md'))).toEqual(liveNote);
  expect(dbRows(root)['core.db']).toEqual(liveDb);
  expect(fs.existsSync(path.join(root, 'projects', 'p0', 'only-live.json'))).toBe(true);
});

/**
 * Leaves committed rows of `file` in its WAL, as a process that died without a checkpoint does: the
 * WAL is copied while the connection is open and put back after it closed.
 */
function rowsOnlyInWal(file: string, name: string): void {
  const db = new Database(file);
  db.pragma('wal_autocheckpoint = 0');
  db.prepare('INSERT INTO items (name, body) VALUES (?, ?)').run(name, 'in the WAL only');
  const wal = fs.readFileSync(`${file}-wal`);
  db.close();
  fs.writeFileSync(`${file}-wal`, wal);
}

test("takeBackup: conflicts take the backup's version, the live one kept beside the root", async () => {
  diverge('takeBackup');
  const root = rootOf('takeBackup');
  // The live database has rows only in its WAL: they belong to it, never to the backup's version.
  rowsOnlyInWal(path.join(root, 'core.db'), 'live-wal-row');
  const liveRows = dbRows(root)['core.db'];
  const handle = await start('takeBackup', 'takeBackup');
  const gate = await atGate(handle.workflowId);
  expect(gate.waiting!.plan!.summary).toMatch(/2 conflicts, 2 replaced by the backup's version/);
  for (const actor of ['alice', 'bob']) await handle.executeUpdate(approveUpdate, { args: [{ actor }] });
  const outcome = (await handle.result()) as RunOutcome<{ previousVersions: string; replaced: string[] }>;
  expect(outcome.result!.replaced.sort()).toEqual(['core.db', 'projects/p0/notes/n0.md']);
  expect(fs.readFileSync(path.join(root, 'projects', 'p0', 'notes', 'n0.md'), 'utf8')).not.toBe(
    '# rewritten live\n',
  );
  expect(
    fs.readFileSync(path.join(outcome.result!.previousVersions, 'projects', 'p0', 'notes', 'n0.md'), 'utf8'),
  ).toBe('# rewritten live\n');
  expect(fs.existsSync(path.join(root, 'projects', 'p0', 'only-live.json'))).toBe(true);
  const merged = dbRows(root)['core.db'] as { name: string }[];
  expect(merged.some((r) => r.name === 'live-wal-row' || r.name.startsWith('item-555-'))).toBe(false);
  const kept = dbRows(outcome.result!.previousVersions)['core.db'];
  expect(kept).toEqual(liveRows);
});

test('a stop after the files went in puts every one back', async () => {
  diverge('stopped');
  const root = rootOf('stopped');
  const before = treeState(root);
  const dbBefore = dbRows(root);
  const handle = await start('stopped', 'takeBackup');
  await atGate(handle.workflowId);
  for (const actor of ['alice', 'bob']) await handle.executeUpdate(approveUpdate, { args: [{ actor }] });
  await statusWhen(
    tw.client,
    handle.workflowId,
    (s) => s.waiting?.step === 'rebuildCaches',
    'the failed rebuild',
  );
  expect(treeState(root)).not.toEqual(before);
  await handle.executeUpdate(stopUpdate, { args: [{ actor: 'carol', reason: 'caches will not rebuild' }] });
  expect(((await handle.result()) as RunOutcome).state).toBe('stopped');
  expectSameTree(root, before, dbBefore);
});

test('a live root that already holds everything the backup has: nothing to merge, no gate', async () => {
  const outcome = (await (await start('same')).result()) as RunOutcome<Record<string, unknown>>;
  expect(outcome.result).toMatchObject({ outcome: 'nothingToMerge', added: [], conflicts: 0 });
});
