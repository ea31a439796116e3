/**
 * Backup and restore options and guards on a real dev server: a subset restored into the live
 * root, two runs at once on one target, quiesce/resume commands, a repository that is too full,
 * and paths that must be refused.
 */
import { WorkflowFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import Database from 'better-sqlite3';
import { execFileSync } from 'node:child_process';
import { randomFillSync } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createStorageActivities } from '../activities';
import { Catalog } from '../activities/lib/catalog';
import { writeManifest } from '../activities/lib/catalogSchema';
import { approveUpdate, retryUpdate, stopUpdate } from '../common/messages';
import type { RunOutcome } from '../common/types';
import type { BackupResult } from '../runbooks/backupSteps';
import { treeState, writeStorageRoot } from '../scripts/storage-root';
import { startWorker, statusWhen, tempDir, uniqueQueue, writeConfig, type TestWorker } from './helpers';

const PASSPHRASE_ENV = 'LIFEBOAT_TEST_OPTIONS_PASSPHRASE';

/** A catalog's recorded manifest replaced by `text`, as an edit of the file would. */
const rewriteManifest = (db: Database.Database, backupId: string, text: string) =>
  writeManifest(db, backupId, [Buffer.from(text)]);
let dir: string;
let tw: TestWorker;
let config: ReturnType<typeof writeConfig>['config'];
let tiny: string;

/** The file the target `concurrent`'s quiesce command waits for. */
const concurrentRelease = () => path.join(dir, 'concurrent', 'quiesce-released');

beforeAll(async () => {
  process.env[PASSPHRASE_ENV] = 'options-test-passphrase';
  dir = tempDir('options');
  tiny = path.join(dir, 'tiny-repo');
  fs.mkdirSync(tiny);
  // A repository on an 8 MiB file system: the disk-space check must see it fill up.
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=8m', 'tmpfs', tiny]);
  const base = (name: string, extra: Record<string, unknown> = {}) => ({
    root: path.join(dir, name, 'root'),
    repository: path.join(dir, name, 'repo'),
    encryption: { passphraseEnv: PASSPHRASE_ENV },
    ...extra,
  });
  for (const name of ['subset', 'concurrent', 'commands', 'failing', 'full-disk', 'retention'])
    writeStorageRoot(path.join(dir, name, 'root'), { seed: name.length });
  const marker = (n: string) => path.join(dir, 'commands', n);
  ({ config } = writeConfig(dir, {
    auditLedger: 'audit.sqlite',
    targets: {
      subset: base('subset', {
        commands: { rebuildCaches: { argv: ['touch', path.join(dir, 'subset', 'caches-rebuilt')] } },
      }),
      // The quiesce command waits for the test to release it: the first backup holds the lock till then.
      concurrent: base('concurrent', {
        commands: {
          quiesce: {
            argv: ['sh', '-c', 'until [ -e "$0" ]; do sleep 0.05; done', concurrentRelease()],
            timeoutSeconds: 120,
          },
        },
      }),
      commands: base('commands', {
        commands: {
          quiesce: { argv: ['touch', marker('quiesced')] },
          resume: { argv: ['touch', marker('resumed')] },
        },
      }),
      failing: base('failing', {
        commands: {
          quiesce: { argv: ['sh', '-c', 'echo "database refuses to pause" >&2; exit 3'] },
          resume: { argv: ['touch', path.join(dir, 'failing', 'resumed')] },
        },
      }),
      'full-disk': base('full-disk', { repository: tiny }),
      retention: base('retention', { retention: { keepLast: 1 } }),
    },
  }));
  tw = await startWorker(config, uniqueQueue('options'));
});

afterAll(async () => {
  // A backup left waiting in its quiesce command (a failed test) ends, so the worker can stop.
  if (dir) fs.writeFileSync(concurrentRelease(), '');
  await tw?.stop();
  execFileSync('umount', [tiny]);
});

function start(runbook: string, input: Record<string, unknown>) {
  return tw.client.workflow.start(runbook, {
    taskQueue: tw.taskQueue,
    workflowId: `${runbook}-${String(input.target)}-${Math.random().toString(36).slice(2, 8)}`,
    args: [input],
  });
}
const waiting = (id: string) => statusWhen(tw.client, id, (s) => s.state === 'waiting', `${id} waiting`);

test('a subset restored into the live root replaces only those paths; the rest keeps its changes', async () => {
  const root = path.join(dir, 'subset', 'root');
  const backup = (await (
    await start('fullBackup', { target: 'subset' })
  ).result()) as RunOutcome<BackupResult>;
  expect(backup.state).toBe('completed');
  const before = treeState(root);
  // p0 gets damaged; p1 changes legitimately after the backup.
  fs.writeFileSync(path.join(root, 'projects', 'p0', 'notes', 'n0.md'), 'damaged');
  fs.rmSync(path.join(root, 'projects', 'p0', 'tiles'), { recursive: true });
  fs.writeFileSync(path.join(root, 'projects', 'p0', 'stray.tmp'), 'left by a crash');
  fs.writeFileSync(path.join(root, 'projects', 'p1', 'notes', 'n0.md'), 'new work since the backup');

  const handle = await start('restore', {
    target: 'subset',
    paths: ['projects/p0', 'config/server-defaults.json'],
  });
  const gate = await waiting(handle.workflowId);
  expect(gate.waiting!.reason).toMatch(/restore projects\/p0, config\/server-defaults\.json from backup/);
  await handle.executeUpdate(approveUpdate, { args: [{ actor: 'alice' }] });
  const outcome = (await handle.result()) as RunOutcome<{ replaced: string[]; previousVersions: string }>;
  expect(outcome.state).toBe('completed');
  expect(outcome.result!.replaced).toEqual(['projects/p0', 'config/server-defaults.json']);
  expect(fs.existsSync(path.join(dir, 'subset', 'caches-rebuilt'))).toBe(true);

  const after = treeState(root);
  for (const p of Object.keys(before).filter(
    (k) => k.startsWith('projects/p0/') && !k.endsWith('.db') && !/-(wal|shm)$/.test(k),
  )) {
    expect({ p, sha: after[p]?.sha256 }).toEqual({ p, sha: before[p].sha256 });
  }
  expect(after['projects/p0/stray.tmp']).toBeUndefined();
  expect(fs.readFileSync(path.join(root, 'projects', 'p1', 'notes', 'n0.md'), 'utf8')).toBe(
    'new work since the backup',
  );
  // What the subset replaced is kept, not deleted.
  expect(
    fs.readFileSync(path.join(outcome.result!.previousVersions, 'projects', 'p0', 'stray.tmp'), 'utf8'),
  ).toBe('left by a crash');
});

test('undoing a subset swap (a stop) leaves the root exactly as it was, added paths included', async () => {
  const root = path.join(dir, 'subset', 'root');
  const catalog = new Catalog(config.catalog);
  const acts = createStorageActivities(config, catalog);
  try {
    const backupId = `subset-undo-${Date.now()}`;
    await acts.writeBackup('subset', { backupId, kind: 'full', createdBy: 'test' });
    fs.rmSync(path.join(root, 'projects', 'p1', 'tiles'), { recursive: true });
    const before = treeState(root);
    const tag = `undo-${Date.now()}`;
    await acts.stageRestore('subset', backupId, tag, { paths: ['projects/p1/tiles', 'projects/p0/notes'] });
    await acts.swapInSubset('subset', tag, ['projects/p1/tiles', 'projects/p0/notes']);
    expect(fs.existsSync(path.join(root, 'projects', 'p1', 'tiles', 'tile.bin'))).toBe(true);
    await acts.undoSubsetSwap('subset', tag);
    expect(treeState(root)).toEqual(before);
    expect(fs.readdirSync(path.dirname(root)).filter((f) => f.includes(tag))).toEqual([]);
  } finally {
    catalog.close();
  }
});

test('two backups of one target at once: the second STOPs naming the first, and succeeds on retry', async () => {
  fs.rmSync(concurrentRelease(), { force: true });
  const holder = await start('fullBackup', { target: 'concurrent' });
  let waiter: Awaited<ReturnType<typeof start>>;
  try {
    // The first holds the lock in its quiesce command until the release below.
    await statusWhen(tw.client, holder.workflowId, (s) => s.currentStep === 'quiesce', 'the first to lock');
    waiter = await start('fullBackup', { target: 'concurrent' });
    const lockedOut = await waiting(waiter.workflowId);
    expect(lockedOut.waiting).toMatchObject({ step: 'acquireLock', errorType: 'LockHeld' });
    expect(lockedOut.waiting!.reason).toContain(`locked by workflow ${holder.workflowId} (fullBackup)`);
  } finally {
    fs.writeFileSync(concurrentRelease(), '');
  }
  expect(((await holder.result()) as RunOutcome).state).toBe('completed');
  await waiter.executeUpdate(retryUpdate, { args: [{ actor: 'bob' }] });
  expect(((await waiter.result()) as RunOutcome).state).toBe('completed');
});

test('quiesce and resume commands run around the snapshot; a failing quiesce STOPs, and stop still resumes', async () => {
  const ok = (await (await start('fullBackup', { target: 'commands' })).result()) as RunOutcome<BackupResult>;
  expect(ok.state).toBe('completed');
  expect(fs.existsSync(path.join(dir, 'commands', 'quiesced'))).toBe(true);
  expect(fs.existsSync(path.join(dir, 'commands', 'resumed'))).toBe(true);
  expect(ok.status.steps.map((s) => s.name)).toEqual(
    expect.arrayContaining(['quiesce', 'writeBackup', 'resume', 'releaseLock', 'verifyBackup']),
  );

  const failing = await start('fullBackup', { target: 'failing' });
  const status = await waiting(failing.workflowId);
  expect(status.waiting).toMatchObject({ step: 'quiesce', errorType: 'CommandFailed' });
  expect(status.waiting!.reason).toMatch(
    /command 'quiesce' \(sh -c .*\) exited with 3: database refuses to pause/,
  );
  await failing.executeUpdate(stopUpdate, { args: [{ actor: 'bob', reason: 'database busy' }] });
  const stopped = (await failing.result()) as RunOutcome;
  expect(stopped.state).toBe('stopped');
  // The compensation resumed the application and released the lock.
  expect(fs.existsSync(path.join(dir, 'failing', 'resumed'))).toBe(true);
  expect(fs.existsSync(path.join(dir, 'failing', 'repo', '.lifeboat.lock'))).toBe(false);
});

test('too little space in the repository STOPs with the figures; nothing is written', async () => {
  const root = path.join(dir, 'full-disk', 'root');
  const blob = Buffer.alloc(12 * 1024 * 1024);
  randomFillSync(blob);
  fs.writeFileSync(path.join(root, 'big.bin'), blob);
  const handle = await start('fullBackup', { target: 'full-disk' });
  const status = await waiting(handle.workflowId);
  expect(status.waiting).toMatchObject({ step: 'writeBackup', errorType: 'DiskSpace' });
  expect(status.waiting!.reason).toMatch(
    /not enough space in .*tiny-repo: the backup needs up to \d+\.\d MiB \(\d+\.\d MiB of data and a margin\), [\d.]+ MiB is free/,
  );
  await handle.executeUpdate(stopUpdate, { args: [{ actor: 'bob', reason: 'add a disk' }] });
  await handle.result();
  expect(fs.readdirSync(tiny)).toEqual([]);
});

test.each([
  [['../etc'], /input\.paths\[0\] "\.\.\/etc" is refused: the path climbs out with '\.\.'/],
  [['/etc/passwd'], /is refused: the path is absolute/],
  [['projects', 'projects/p0'], /"projects\/p0" lies inside "projects"; give one of them/],
  [[], /input\.paths must name at least one path/],
])('restore paths %j fail fast with a reason', async (paths, message) => {
  const handle = await start('restore', { target: 'subset', paths });
  const err = await handle.result().catch((e: unknown) => e);
  expect(err).toBeInstanceOf(WorkflowFailedError);
  const cause = (err as WorkflowFailedError).cause as ApplicationFailure;
  expect(cause.type).toBe('InvalidInput');
  expect(cause.message).toMatch(message);
});

test('applyRetention with dryRun lists what would go and removes nothing; without it, removes', async () => {
  const catalog = new Catalog(config.catalog);
  const acts = createStorageActivities(config, catalog);
  try {
    await acts.writeBackup('retention', { backupId: 'retention-1-full', kind: 'full', createdBy: 'test' });
    await new Promise((r) => setTimeout(r, 20));
    await acts.writeBackup('retention', { backupId: 'retention-2-full', kind: 'full', createdBy: 'test' });
  } finally {
    catalog.close();
  }
  const archive = path.join(dir, 'retention', 'repo', 'retention-1-full.lbk');
  const dry = (await (
    await start('applyRetention', { target: 'retention', dryRun: true })
  ).result()) as RunOutcome<{
    wouldRemove: { backupId: string; reasons: string[] }[];
  }>;
  expect(dry.result!.wouldRemove).toEqual([expect.objectContaining({ backupId: 'retention-1-full' })]);
  expect(dry.result!.wouldRemove[0].reasons.join(' ')).toMatch(/not selected by keep-last/);
  expect(fs.existsSync(archive)).toBe(true);

  const real = (await (await start('applyRetention', { target: 'retention' })).result()) as RunOutcome<{
    removed: { backupId: string }[];
    removedFiles: string[];
  }>;
  expect(real.result!.removed.map((r) => r.backupId)).toEqual(['retention-1-full']);
  expect(real.result!.removedFiles).toContain(archive);
  expect(fs.existsSync(archive)).toBe(false);
  expect(fs.existsSync(path.join(dir, 'retention', 'repo', 'retention-2-full.lbk'))).toBe(true);
});

test('an incremental takes the parent’s word on which unchanged files are databases; rehash looks again', async () => {
  const root = path.join(dir, 'subset', 'root');
  const db = fs.readdirSync(path.join(root, 'projects', 'p0')).find((f) => f.endsWith('.db'));
  const dbBytes = fs.readFileSync(path.join(root, 'projects', 'p0', db!));
  // A file as large as a database, not one: then given the database's bytes, its size and mtime kept.
  const imposter = path.join(root, 'imposter.bin');
  fs.writeFileSync(imposter, randomFillSync(Buffer.alloc(dbBytes.length)));
  const stamp = new Date('2026-01-02T03:04:05Z');
  fs.utimesSync(imposter, stamp, stamp);
  const catalog = new Catalog(config.catalog);
  const acts = createStorageActivities(config, catalog);
  const kindOf = (backupId: string, p: string) =>
    catalog.manifest(backupId)!.files.find((f) => f.path === p)?.kind;
  try {
    const t = Date.now();
    await acts.writeBackup('subset', { backupId: `sniff-${t}-full`, kind: 'full', createdBy: 'test' });
    expect(kindOf(`sniff-${t}-full`, 'imposter.bin')).toBe('file');
    fs.writeFileSync(imposter, dbBytes);
    fs.utimesSync(imposter, stamp, stamp);
    // A new file is looked at: this one is a database.
    fs.writeFileSync(path.join(root, 'added.db'), dbBytes);
    await acts.writeBackup('subset', { backupId: `sniff-${t}-incr`, kind: 'incremental', createdBy: 'test' });
    expect(kindOf(`sniff-${t}-incr`, 'imposter.bin')).toBe('file');
    expect(kindOf(`sniff-${t}-incr`, 'added.db')).toBe('sqlite');
    await acts.writeBackup('subset', {
      backupId: `sniff-${t}-rehash`,
      kind: 'incremental',
      createdBy: 'test',
      rehash: true,
    });
    expect(kindOf(`sniff-${t}-rehash`, 'imposter.bin')).toBe('sqlite');
  } finally {
    catalog.close();
    fs.rmSync(imposter, { force: true });
    fs.rmSync(path.join(root, 'added.db'), { force: true });
  }
});

test('verify notices a catalog row whose manifest was edited (the list restores plan from)', async () => {
  const catalog = new Catalog(config.catalog);
  const acts = createStorageActivities(config, catalog);
  const backupId = `edited-row-${Date.now()}`;
  try {
    await acts.writeBackup('subset', { backupId, kind: 'full', createdBy: 'test' });
    expect((await acts.verifyBackup('subset', backupId)).ok).toBe(true);
    // One file dropped from the recorded list; the archive and the row's SHA-256 column are untouched.
    const manifest = catalog.manifest(backupId)!;
    const edited = { ...manifest, files: manifest.files.slice(1) };
    const db = new Database(config.catalog);
    rewriteManifest(db, backupId, JSON.stringify(edited));
    db.close();
    const report = await acts.verifyBackup('subset', backupId);
    expect(report.ok).toBe(false);
    expect(report.problem).toMatch(
      /differs from the one recorded when the backup was made \(manifest edited\)/,
    );
    // The same row re-serialised (other whitespace) is the same manifest; a row that is no longer
    // JSON at all is an edited one, said so, not a crash.
    const rewrite = (text: string) => {
      const rows = new Database(config.catalog);
      rewriteManifest(rows, backupId, text);
      rows.close();
    };
    rewrite(JSON.stringify(manifest, null, 2));
    expect((await acts.verifyBackup('subset', backupId)).ok).toBe(true);
    rewrite(JSON.stringify(manifest).slice(0, -1));
    const broken = await acts.verifyBackup('subset', backupId);
    expect(broken.ok).toBe(false);
    expect(broken.problem).toMatch(/manifest edited/);
  } finally {
    catalog.close();
  }
});
