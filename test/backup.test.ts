/**
 * Backups and restores of a storage root on a real dev server with real files, SQLite databases
 * and OpenPGP: round trips through full and incremental backups, damaged and hostile archives
 * that must STOP before the root is touched, locks, secrets, and version checks.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import { Catalog } from '../activities/lib/catalog';
import { END, MAGIC, frameChunk, frameHeader, frameTrailer } from '../activities/lib/archive';
import { encryptStream } from '../activities/lib/crypto';
import { approveUpdate, stopUpdate } from '../common/messages';
import type { RunOutcome, RunStatus } from '../common/types';
import type { BackupResult } from '../runbooks/backupSteps';
import { treeState, writeDatabase, writeStorageRoot } from '../scripts/storage-root';
import { dbRows, expectSameTree } from './tree-helpers';
import {
  lifeboat,
  startWorker,
  statusWhen,
  tempDir,
  uniqueQueue,
  writeConfig,
  type TestWorker,
} from './helpers';

const PASSPHRASE_ENV = 'LIFEBOAT_TEST_BACKUP_PASSPHRASE';
const PASSPHRASE = 'tr0ub4dor&3-lifeboat-test-secret';

let dir: string;
let tw: TestWorker;
let catalogFile: string;

function targetConfig(name: string, extra: Record<string, unknown> = {}) {
  return {
    root: path.join(dir, name, 'root'),
    repository: path.join(dir, name, 'repo'),
    encryption: { passphraseEnv: PASSPHRASE_ENV },
    engineVersion: '2.1.0',
    modules: ['maps', 'sketch'],
    restoreInto: { inspect: path.join(dir, name, 'inspect') },
    ...extra,
  };
}

const TARGETS = ['roundtrip', 'damage', 'locked', 'stale', 'symlink', 'version', 'offsite', 'cli'];

beforeAll(async () => {
  process.env[PASSPHRASE_ENV] = PASSPHRASE;
  dir = tempDir('backup');
  const targets: Record<string, unknown> = {};
  for (const name of TARGETS) {
    writeStorageRoot(path.join(dir, name, 'root'), { seed: name.length });
    targets[name] = targetConfig(
      name,
      name === 'offsite' ? { offsite: path.join(dir, name, 'offsite'), retention: { keepLast: 1 } } : {},
    );
  }
  const { config } = writeConfig(dir, { auditLedger: 'audit.sqlite', targets });
  catalogFile = config.catalog;
  tw = await startWorker(config, uniqueQueue('backup'));
});

afterAll(async () => {
  await tw?.stop();
});

async function run<R>(
  runbook: string,
  input: Record<string, unknown>,
): Promise<{ id: string; result: () => Promise<RunOutcome<R>> }> {
  const handle = await tw.client.workflow.start(runbook, {
    taskQueue: tw.taskQueue,
    workflowId: `${runbook}-${String(input.target)}-${Math.random().toString(36).slice(2, 8)}`,
    args: [input],
  });
  return { id: handle.workflowId, result: () => handle.result() as Promise<RunOutcome<R>> };
}

async function backup(target: string, kind: 'fullBackup' | 'incrementalBackup'): Promise<BackupResult> {
  const r = await run<BackupResult>(kind, { target });
  const outcome = await r.result();
  expect(outcome.state).toBe('completed');
  return outcome.result!;
}

const waiting = (id: string) => statusWhen(tw.client, id, (s) => s.state === 'waiting', `${id} waiting`);

test('full + two incrementals + restore yields the source tree at that time; the inspection folder gets an older one', async () => {
  const root = path.join(dir, 'roundtrip', 'root');
  const full = await backup('roundtrip', 'fullBackup');
  expect(full).toMatchObject({ kind: 'full', verified: true });
  expect(full.databases.sort()).toEqual([
    'core.db',
    'modules/maps/module.db',
    'modules/maps/tiles.index',
    'projects/p0/project.db',
    'projects/p1/project.db',
  ]);
  const atFull = treeState(root);
  const dbAtFull = dbRows(root);

  // Change a note, add a file, delete one, write to a database.
  fs.writeFileSync(path.join(root, 'projects', 'p0', 'notes', 'n0.md'), '# rewritten\n');
  fs.writeFileSync(path.join(root, 'projects', 'p1', 'new.json'), '{"added": true}');
  fs.rmSync(path.join(root, 'projects', 'p1', 'notes', 'n1.md'));
  writeDatabase(path.join(root, 'core.db'), 3, 77);
  const inc1 = await backup('roundtrip', 'incrementalBackup');
  expect(inc1).toMatchObject({ kind: 'incremental', parent: full.backupId, deleted: 1 });
  expect(inc1.storedFiles).toBe(3); // the note, the new file and core.db

  fs.chmodSync(path.join(root, 'projects', 'p1', 'new.json'), 0o640);
  fs.appendFileSync(path.join(root, 'config', 'server-defaults.json'), '\n');
  const inc2 = await backup('roundtrip', 'incrementalBackup');
  expect(inc2.parent).toBe(inc1.backupId);
  const atInc2 = treeState(root);
  const dbAtInc2 = dbRows(root);

  // Disaster: the root is damaged and partly gone.
  fs.rmSync(path.join(root, 'projects'), { recursive: true });
  fs.writeFileSync(path.join(root, 'core.db'), 'garbage');
  const r = await run('restore', { target: 'roundtrip' });
  const gate = await waiting(r.id);
  expect(gate.waiting).toMatchObject({ kind: 'gate', gate: 'restore' });
  expect(gate.facts.chain).toEqual([full.backupId, inc1.backupId, inc2.backupId]);
  await tw.client.workflow.getHandle(r.id).executeUpdate(approveUpdate, { args: [{ actor: 'alice' }] });
  const outcome = await r.result();
  expect(outcome.state).toBe('completed');
  expectSameTree(root, atInc2, dbAtInc2);
  const previous = (outcome.result as { previousRoot: string }).previousRoot;
  expect(fs.readFileSync(path.join(previous, 'core.db'), 'utf8')).toBe('garbage');

  // The full backup, restored for inspection, is the tree as it was then.
  const inspect = await run('restore', { target: 'roundtrip', backupId: full.backupId, into: 'inspect' });
  await waiting(inspect.id);
  await tw.client.workflow.getHandle(inspect.id).executeUpdate(approveUpdate, { args: [{ actor: 'alice' }] });
  const inspected = await inspect.result();
  expectSameTree((inspected.result as { restoredInto: string }).restoredInto, atFull, dbAtFull);
  expectSameTree(root, atInc2, dbAtInc2);
});

describe('damaged or hostile archives STOP the restore before the root is touched', () => {
  let base: BackupResult;
  let archive: string;
  let original: Buffer;
  const root = () => path.join(dir, 'damage', 'root');

  beforeAll(async () => {
    base = await backup('damage', 'fullBackup');
    archive = base.archive;
    original = fs.readFileSync(archive);
  });
  afterEach(() => {
    fs.writeFileSync(archive, original);
    process.env[PASSPHRASE_ENV] = PASSPHRASE;
  });

  async function expectStop(reason: RegExp, errorType?: string): Promise<RunStatus> {
    const before = treeState(root());
    const r = await run('restore', { target: 'damage' });
    const status = await waiting(r.id);
    expect(status.waiting?.kind).toBe('failure');
    expect(status.waiting?.step).toBe('inspectBackup');
    expect(status.waiting?.reason).toMatch(reason);
    if (errorType)
      expect({ type: status.waiting?.errorType, reason: status.waiting?.reason }).toMatchObject({
        type: errorType,
      });
    await tw.client.workflow
      .getHandle(r.id)
      .executeUpdate(stopUpdate, { args: [{ actor: 'alice', reason: 'test' }] });
    expect((await r.result()).state).toBe('stopped');
    expect(treeState(root())).toEqual(before);
    expect(fs.readdirSync(path.dirname(root())).filter((f) => f.includes('lifeboat-'))).toEqual([]);
    return status;
  }

  /** Replaces the backup's archive with one made of these plaintext parts, encrypted with the target's passphrase. */
  async function plant(...parts: Buffer[]): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of await encryptStream(Readable.from([Buffer.concat([MAGIC, ...parts])]), {
      passphraseEnv: PASSPHRASE_ENV,
    }))
      chunks.push(c as Buffer);
    fs.writeFileSync(archive, Buffer.concat(chunks));
  }
  const entry = (header: Record<string, unknown>, body = Buffer.from('x')) => {
    const sha = createHash('sha256').update(body).digest('hex') as string;
    return Buffer.concat([
      frameHeader({ kind: 'file', mode: 0o644, mtimeMs: 0, size: body.length, codec: 'store', ...header }),
      frameChunk(body),
      frameTrailer(sha, body.length),
    ]);
  };

  test('a flipped byte', async () => {
    const damaged = Buffer.from(original);
    damaged[Math.floor(damaged.length * 0.6)] ^= 0x40;
    fs.writeFileSync(archive, damaged);
    await expectStop(/does not decrypt cleanly|does not match its checksum|corrupt/, 'ChecksumMismatch');
  });

  test('a truncated archive', async () => {
    fs.writeFileSync(archive, original.subarray(0, Math.floor(original.length / 2)));
    await expectStop(new RegExp(base.backupId));
  });

  test('a wrong passphrase', async () => {
    process.env[PASSPHRASE_ENV] = 'not the passphrase';
    const status = await expectStop(/cannot be decrypted with the configured passphrase/, 'KeyProblem');
    expect(JSON.stringify(status)).not.toContain('not the passphrase');
  });

  test.each([
    [
      "an entry with '..'",
      () => entry({ path: '../escape.txt' }),
      /"\.\.\/escape\.txt" is refused: the path climbs out/,
    ],
    ['an absolute path', () => entry({ path: '/etc/cron.d/x' }), /is refused: the path is absolute/],
    [
      'a symlink',
      () => entry({ path: 'link', kind: 'symlink' }),
      /"link" is refused: its kind 'symlink' is not a regular file/,
    ],
    [
      'a device file',
      () => entry({ path: 'dev/sda', kind: 'device' }),
      /its kind 'device' is not a regular file/,
    ],
  ])('%s', async (_what, make, reason) => {
    await plant(make(), END);
    await expectStop(reason, 'ChecksumMismatch');
    expect(fs.existsSync(path.join(dir, 'damage', 'escape.txt'))).toBe(false);
  });

  test('an archive whose manifest was edited, or that lacks or adds an entry', async () => {
    const manifest = new Catalog(catalogFile, { readonly: true }).manifest(base.backupId)!;
    const first = manifest.files[0];
    const body = (m: object) => Buffer.from(JSON.stringify(m));
    const manifestEntry = (m: object) =>
      entry({ path: 'manifest.json', kind: 'manifest', size: body(m).length }, body(m));
    // Only the manifest: every file it lists is missing.
    await plant(manifestEntry(manifest), END);
    await expectStop(/lists ".*" but the archive has no such entry/);
    // An edited manifest (a file's size changed), consistent with nothing.
    await plant(
      manifestEntry({ ...manifest, files: [{ ...first, size: first.size + 1 }, ...manifest.files.slice(1)] }),
      END,
    );
    await expectStop(/no such entry|differs from the manifest|manifest edited/);
  });
});

test('a second run on a locked target STOPs naming the holder; a dead holder needs a decision to break', async () => {
  const repo = path.join(dir, 'locked', 'repo');
  fs.mkdirSync(repo, { recursive: true });
  fs.writeFileSync(
    path.join(repo, '.lifeboat.lock'),
    JSON.stringify({
      workflowId: 'other-run',
      runId: 'r',
      purpose: 'restore',
      host: os.hostname(),
      pid: process.pid,
      acquiredAt: '2026-11-21T00:00:00Z',
    }),
  );
  const r = await run('fullBackup', { target: 'locked' });
  const status = await waiting(r.id);
  expect(status.waiting).toMatchObject({ kind: 'failure', step: 'acquireLock', errorType: 'LockHeld' });
  expect(status.waiting!.reason).toMatch(/locked by workflow other-run \(restore\)/);
  await tw.client.workflow
    .getHandle(r.id)
    .executeUpdate(stopUpdate, { args: [{ actor: 'bob', reason: 'other run owns it' }] });
  await r.result();
  expect(fs.existsSync(path.join(repo, '.lifeboat.lock'))).toBe(true);

  const staleRepo = path.join(dir, 'stale', 'repo');
  fs.mkdirSync(staleRepo, { recursive: true });
  fs.writeFileSync(
    path.join(staleRepo, '.lifeboat.lock'),
    JSON.stringify({
      workflowId: 'dead-run',
      runId: 'r',
      purpose: 'fullBackup',
      host: os.hostname(),
      pid: 2 ** 22 + 12345,
      acquiredAt: '2026-11-20T00:00:00Z',
    }),
  );
  const s = await run<BackupResult>('fullBackup', { target: 'stale' });
  const gate = await waiting(s.id);
  expect(gate.waiting).toMatchObject({ kind: 'gate', gate: 'breakLock' });
  expect(gate.waiting!.reason).toMatch(/held by workflow dead-run .* whose process is gone/);
  await tw.client.workflow
    .getHandle(s.id)
    .executeUpdate(approveUpdate, { args: [{ actor: 'bob', comment: 'dead worker' }] });
  const outcome = await s.result();
  expect(outcome.state).toBe('completed');
  expect(fs.readdirSync(staleRepo).some((f) => f.startsWith('.lifeboat.lock.broken-'))).toBe(true);
  expect(fs.existsSync(path.join(staleRepo, '.lifeboat.lock'))).toBe(false);
});

test('a symlink in the root STOPs the backup naming it; nothing is written', async () => {
  const root = path.join(dir, 'symlink', 'root');
  fs.symlinkSync('/etc/passwd', path.join(root, 'config', 'passwd-link'));
  const r = await run('fullBackup', { target: 'symlink' });
  const status = await waiting(r.id);
  expect(status.waiting).toMatchObject({ step: 'writeBackup', errorType: 'UnsupportedFile' });
  expect(status.waiting!.reason).toMatch(/config\/passwd-link \(a symbolic link\)/);
  await tw.client.workflow
    .getHandle(r.id)
    .executeUpdate(stopUpdate, { args: [{ actor: 'bob', reason: 'fix the link' }] });
  await r.result();
  expect(fs.readdirSync(path.join(dir, 'symlink', 'repo'))).toEqual([]);
});

test('an engine version or module set that differs STOPs the restore with expected vs found', async () => {
  await backup('version', 'fullBackup');
  const configFile = path.join(dir, 'lifeboat.config.json');
  const raw = JSON.parse(fs.readFileSync(configFile, 'utf8')) as {
    targets: Record<string, Record<string, unknown>>;
  };
  // A second worker config in which the target has moved on to 3.0.0.
  raw.targets.version.engineVersion = '3.0.0';
  const { config } = writeConfig(tempDir('backup-version'), {
    ...raw,
    auditLedger: path.join(dir, 'audit2.sqlite'),
    catalog: catalogFile,
  });
  const other = await startWorker(config, uniqueQueue('version'));
  try {
    const handle = await other.client.workflow.start('restore', {
      taskQueue: other.taskQueue,
      workflowId: `restore-version-${Date.now()}`,
      args: [{ target: 'version' }],
    });
    const status = await statusWhen(
      other.client,
      handle.workflowId,
      (s) => s.state === 'waiting',
      'version STOP',
    );
    expect(status.waiting).toMatchObject({ step: 'inspectBackup', errorType: 'VersionMismatch' });
    expect(status.waiting!.reason).toBe(
      'engine version mismatch: the target runs 3.0.0, the backup was made by 2.1.0',
    );
    await handle.executeUpdate(stopUpdate, { args: [{ actor: 'bob', reason: 'upgrade first' }] });
    await handle.result();
  } finally {
    await other.stop();
  }
});

test('offsite copies are verified; retention keeps the newest and the chain it needs', async () => {
  const first = await backup('offsite', 'fullBackup');
  const second = await backup('offsite', 'incrementalBackup');
  expect(second.offsite).toEqual([
    path.join(dir, 'offsite', 'offsite', `${second.backupId}.lbk`),
    path.join(dir, 'offsite', 'offsite', `${second.backupId}.json`),
  ]);
  expect(fs.readFileSync(second.offsite![0])).toEqual(fs.readFileSync(second.archive));
  // keepLast 1 keeps the incremental, and its parent because it needs it.
  expect(second.retention.removed).toEqual([]);
  expect(second.retention.kept.sort()).toEqual([first.backupId, second.backupId].sort());
  const third = await backup('offsite', 'fullBackup');
  expect(third.retention.removed.sort()).toEqual([first.backupId, second.backupId].sort());
  expect(fs.existsSync(first.archive)).toBe(false);
  expect(fs.existsSync(third.archive)).toBe(true);

  // offsiteReplicate copies the newest backup again (a lost offsite copy) and checks it by its hash.
  for (const copy of third.offsite!) fs.rmSync(copy);
  const replicated = await run<{ copied: string[] }>('offsiteReplicate', { target: 'offsite' });
  const outcome = await replicated.result();
  expect(outcome.state).toBe('completed');
  expect(outcome.result!.copied.sort()).toEqual([...third.offsite!].sort());
  expect(fs.readFileSync(third.offsite![0])).toEqual(fs.readFileSync(third.archive));
});

test('the passphrase never appears in workflow history or search attributes', async () => {
  const r = await run('fullBackup', { target: 'roundtrip' });
  await r.result();
  const history = await tw.client.workflow.getHandle(r.id).fetchHistory();
  const text = JSON.stringify(history);
  expect(text).toContain('writeBackup');
  expect(text).not.toContain(PASSPHRASE);
  const description = await tw.client.workflow.getHandle(r.id).describe();
  expect(JSON.stringify(description.raw)).not.toContain(PASSPHRASE);
});

test('`lifeboat backups list` and `backups verify` read the catalog and verify through the runbook', async () => {
  const full = await backup('cli', 'fullBackup');
  fs.appendFileSync(path.join(dir, 'cli', 'root', 'config', 'server-defaults.json'), ' ');
  const inc = await backup('cli', 'incrementalBackup');
  const env = { LIFEBOAT_CONFIG: path.join(dir, 'lifeboat.config.json'), LIFEBOAT_TASK_QUEUE: tw.taskQueue };
  const cli = (...args: string[]) => lifeboat(args, env);

  const listed = await cli('backups', 'list', '--target', 'cli');
  expect(listed.code).toBe(0);
  expect(listed.stdout).toMatch(new RegExp(`${inc.backupId} +incremental .* verified`));
  expect(listed.stdout).toContain(`parent ${full.backupId}`);
  const json = JSON.parse((await cli('backups', 'list', '--target', 'cli', '--json')).stdout) as {
    backupId: string;
    verifyOk: number;
  }[];
  expect(json.map((e) => e.backupId)).toEqual([inc.backupId, full.backupId]);

  // The runbook verified the backup when it made it: the same bytes keep those checks, unless asked.
  const one = await cli('backups', 'verify', full.backupId);
  expect(one.code).toBe(0);
  expect(one.stdout).toMatch(
    new RegExp(
      `ok  ${full.backupId}: \\d+ files, 5 databases pass integrity_check \\(5 checked by an earlier verification in the same bytes\\)\n`,
    ),
  );
  const rechecked = await cli('backups', 'verify', full.backupId, '--recheck-databases');
  expect(rechecked.code).toBe(0);
  expect(rechecked.stdout).toMatch(
    new RegExp(`ok  ${full.backupId}: \\d+ files, 5 databases pass integrity_check\n`),
  );
  const all = await cli('backups', 'verify', '--all', '--target', 'cli');
  expect(all.code).toBe(0);
  expect(all.stdout.trim().split('\n')).toHaveLength(2);

  const damaged = fs.readFileSync(inc.archive);
  fs.writeFileSync(inc.archive, damaged.subarray(0, damaged.length - 100));
  const failed = await cli('backups', 'verify', inc.backupId);
  expect(failed.code).toBe(1);
  expect(failed.stderr).toMatch(/verification FAILED/);
  expect(failed.stderr).toContain(inc.backupId);
  fs.writeFileSync(inc.archive, damaged);

  for (const [args, message] of [
    [['backups', 'list', '--target', 'atlantis'], /unknown target 'atlantis'/],
    [['backups', 'verify'], /give a backup id or --all --target <name>/],
    [['backups', 'verify', full.backupId, '--all'], /give a backup id or --all --target <name>, not both/],
    [['backups', 'verify', '--all'], /--all needs --target <name>/],
    [['backups', 'verify', 'no-such-backup'], /no backup 'no-such-backup' in the catalog/],
  ] as [string[], RegExp][]) {
    const result = await cli(...args);
    expect({ args, code: result.code }).toEqual({ args, code: 2 });
    expect(result.stderr).toMatch(message);
  }
});
