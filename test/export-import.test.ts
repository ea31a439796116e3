/**
 * exportScope and importScope (procedure 003 §3.3, §3.4, §12) on a real dev server with real files,
 * SQLite databases and OpenPGP: a project and a module exported and read by the real `lifeboat
 * archive list|extract`; an import into another target and over a damaged project; bad input naming
 * what exists; another engine version and a damaged export STOPping before the root is touched; a
 * stop after the swap putting the project back.
 */
import { WorkflowFailedError, type WorkflowHandle } from '@temporalio/client';
import type { ApplicationFailure } from '@temporalio/common';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { approveUpdate, stopUpdate } from '../common/messages';
import type { RunOutcome } from '../common/types';
import { ConfigError, parseConfig } from '../config';
import type { ExportSummary } from '../activities/exports';
import { treeState, writeStorageRoot } from '../scripts/storage-root';
import {
  lifeboat,
  startWorker,
  statusWhen,
  tempDir,
  uniqueQueue,
  writeConfig,
  type TestWorker,
} from './helpers';
import { dbRows, expectSameTree } from './tree-helpers';

const PASSPHRASE_ENV = 'LIFEBOAT_TEST_EXPORT_PASSPHRASE';
let dir: string;
let usb: string;
let tw: TestWorker;
const rootOf = (name: string) => path.join(dir, name, 'root');

beforeAll(async () => {
  process.env[PASSPHRASE_ENV] = 'export-test-passphrase';
  dir = tempDir('export');
  usb = path.join(dir, 'usb');
  const targets: Record<string, unknown> = {};
  const setups: Record<string, { seed: number; projects: number; extra?: Record<string, unknown> }> = {
    source: { seed: 3, projects: 2 },
    // Another host: one project of its own, the same engine and modules.
    receiver: { seed: 9, projects: 1 },
    newer: { seed: 11, projects: 1, extra: { engineVersion: '3.0.0' } },
    // Its caches cannot be rebuilt: an import waits after the swap.
    stopper: {
      seed: 13,
      projects: 1,
      extra: {
        commands: {
          rebuildCaches: { argv: [process.execPath, '-e', 'process.exit(4)'], timeoutSeconds: 30 },
        },
      },
    },
  };
  for (const [name, s] of Object.entries(setups)) {
    writeStorageRoot(rootOf(name), { seed: s.seed, projects: s.projects, binaryBytes: 64 * 1024 });
    targets[name] = {
      root: rootOf(name),
      repository: path.join(dir, name, 'repo'),
      encryption: { passphraseEnv: PASSPHRASE_ENV },
      engineVersion: '2.1.0',
      modules: ['maps'],
      exports: { usb },
      ...s.extra,
    };
  }
  const { config } = writeConfig(dir, { auditLedger: 'audit.sqlite', targets });
  tw = await startWorker(config, uniqueQueue('export'));
});

afterAll(async () => {
  await tw?.stop();
});

function start(runbook: 'exportScope' | 'importScope', input: Record<string, unknown>) {
  return tw.client.workflow.start(runbook, {
    taskQueue: tw.taskQueue,
    workflowId: `${runbook}-${String(input.target)}-${Math.random().toString(36).slice(2, 8)}`,
    args: [input],
  });
}

async function exported(target: string, scope: Record<string, string>): Promise<ExportSummary> {
  const outcome = (await (
    await start('exportScope', { target, to: 'usb', ...scope })
  ).result()) as RunOutcome<ExportSummary>;
  expect(outcome.state).toBe('completed');
  return outcome.result!;
}

async function failure(handle: WorkflowHandle): Promise<ApplicationFailure> {
  const err = await handle.result().catch((e: unknown) => e);
  expect(err).toBeInstanceOf(WorkflowFailedError);
  return (err as WorkflowFailedError).cause as ApplicationFailure;
}

const atGate = (id: string) =>
  statusWhen(tw.client, id, (s) => s.waiting?.gate === 'import', `${id} at gate import`);

/** The files of `root` outside `scope`, for "nothing else was touched". */
function outside(root: string, scope: string) {
  return Object.fromEntries(Object.entries(treeState(root)).filter(([p]) => !p.startsWith(`${scope}/`)));
}

/** The tree of `root/scope` and its databases' rows. */
function scopeState(root: string, scope: string) {
  const at = path.join(root, scope);
  return { tree: treeState(at), rows: dbRows(at) };
}

test('a project export is a signed, encrypted archive that `lifeboat archive list` and `extract` read as that project', async () => {
  const result = await exported('source', { project: 'p0' });
  expect(result).toMatchObject({ scope: 'project', id: 'p0', path: 'projects/p0', verified: true });
  expect(result.archive).toBe(path.join(usb, `${result.exportId}.lbk`));
  expect(result.databases).toEqual(['projects/p0/project.db']);
  expect(fs.readdirSync(usb).filter((f) => f.startsWith('.'))).toEqual([]);

  const env = { [PASSPHRASE_ENV]: process.env[PASSPHRASE_ENV]! };
  const list = await lifeboat(['archive', 'list', result.archive, '--passphrase-env', PASSPHRASE_ENV], env);
  expect(list.code).toBe(0);
  expect(list.stdout).toMatch(
    new RegExp(
      `^export ${result.exportId} of project 'p0' \\(projects/p0\\) of target 'source', taken `,
      'm',
    ),
  );
  expect(list.stdout).toMatch(/engine 2\.1\.0, modules: maps/);
  expect(list.stdout).toMatch(/db projects\/p0\/project\.db/);
  expect(list.stdout).not.toMatch(/core\.db|projects\/p1|modules\//);
  const json = await lifeboat(
    ['archive', 'list', result.archive, '--passphrase-env', PASSPHRASE_ENV, '--json'],
    env,
  );
  const { manifest } = JSON.parse(json.stdout) as { manifest: Record<string, unknown> };
  expect(manifest).toMatchObject({
    export: { scope: 'project', id: 'p0', path: 'projects/p0' },
    engineVersion: '2.1.0',
    modules: ['maps'],
    target: 'source',
  });

  const into = path.join(dir, 'extracted-p0');
  const extract = await lifeboat(
    ['archive', 'extract', result.archive, '--passphrase-env', PASSPHRASE_ENV, '--into', into],
    env,
  );
  expect(extract.code).toBe(0);
  expect(fs.readdirSync(into)).toEqual(['projects']);
  const want = scopeState(rootOf('source'), 'projects/p0');
  expectSameTree(path.join(into, 'projects', 'p0'), want.tree, want.rows);
});

test('a module export holds the module data, settings and databases, and nothing else', async () => {
  const settings = path.join(rootOf('source'), 'modules', 'maps', 'module-settings.json');
  fs.writeFileSync(settings, '{"zoom": 3}');
  fs.mkdirSync(path.join(rootOf('source'), 'modules', 'maps', 'module-data'), { recursive: true });
  fs.writeFileSync(path.join(rootOf('source'), 'modules', 'maps', 'module-data', 'layer.geojson'), '{}');
  const result = await exported('source', { module: 'maps' });
  expect(result).toMatchObject({ scope: 'module', id: 'maps', path: 'modules/maps', files: 4 });
  expect(result.databases.sort()).toEqual(['modules/maps/module.db', 'modules/maps/tiles.index']);
  const list = await lifeboat(['archive', 'list', result.archive, '--passphrase-env', PASSPHRASE_ENV], {
    [PASSPHRASE_ENV]: process.env[PASSPHRASE_ENV]!,
  });
  expect(list.code).toBe(0);
  expect(list.stdout).toMatch(/^export \S+ of module 'maps' \(modules\/maps\) of target 'source'/m);
  for (const p of ['module-settings.json', 'module-data/layer.geojson', 'module.db', 'tiles.index'])
    expect(list.stdout).toContain(`modules/maps/${p}`);
  expect(list.stdout).not.toMatch(/projects\/|core\.db/);
});

test('an import into another target shows its plan at gate import, adds the project and touches nothing else', async () => {
  const exp = await exported('source', { project: 'p1' });
  const root = rootOf('receiver');
  const before = outside(root, 'projects/p1');
  expect(fs.existsSync(path.join(root, 'projects', 'p1'))).toBe(false);
  const handle = await start('importScope', { target: 'receiver', from: 'usb', exportId: exp.exportId });
  const gate = await atGate(handle.workflowId);
  expect(gate.waiting!.plan!.summary).toMatch(
    /^adds projects\/p1 to the live root \(it has no such project\) from project 'p1' \(export \S+ of target 'source', taken .*\): 7 files/,
  );
  expect(gate.waiting!.plan!.effects).toEqual(
    expect.arrayContaining([
      'added: projects/p1/project.db',
      'the way back: a stop removes projects/p1 again',
    ]),
  );
  await handle.executeUpdate(approveUpdate, { args: [{ actor: 'alice' }] });
  const outcome = (await handle.result()) as RunOutcome<Record<string, unknown>>;
  expect(outcome.result).toMatchObject({ scope: 'project', id: 'p1', replaced: false });
  expect(outcome.result!.previous).toBeUndefined();
  const want = scopeState(rootOf('source'), 'projects/p1');
  expectSameTree(path.join(root, 'projects', 'p1'), want.tree, want.rows);
  expect(outside(root, 'projects/p1')).toEqual(before);
  expect(fs.existsSync(path.join(dir, 'receiver', 'repo', '.lifeboat.lock'))).toBe(false);
});

test('an import over a damaged project brings it back as exported; what it replaced is kept beside the root', async () => {
  const root = rootOf('source');
  const exp = await exported('source', { project: 'p0' });
  const want = scopeState(root, 'projects/p0');
  const rest = outside(root, 'projects/p0');
  const project = path.join(root, 'projects', 'p0');
  fs.rmSync(path.join(project, 'notes', 'n1.md'));
  fs.writeFileSync(path.join(project, 'tiles', 'tile.bin'), 'damaged');
  // The database replaced whole by something that is not one (its WAL and shared memory gone with it).
  for (const side of ['-wal', '-shm']) fs.rmSync(path.join(project, `project.db${side}`), { force: true });
  fs.writeFileSync(path.join(project, 'project.db'), 'not a database any more');
  fs.writeFileSync(path.join(project, 'stray.txt'), 'written after the export');
  const handle = await start('importScope', { target: 'source', from: 'usb', exportId: exp.exportId });
  const plan = (await atGate(handle.workflowId)).waiting!.plan!;
  expect(plan.summary).toMatch(
    /^replaces projects\/p0 in the live root with project 'p0' .*: 2 files replaced, 1 added, 1 removed, 4 unchanged; nothing outside projects\/p0 is touched$/,
  );
  expect(plan.effects).toEqual(
    expect.arrayContaining([
      'replaced: projects/p0/project.db',
      'replaced: projects/p0/tiles/tile.bin',
      'added: projects/p0/notes/n1.md',
      'removed from the live root: projects/p0/stray.txt',
      'databases whose content differs from the export: projects/p0/project.db',
    ]),
  );
  await handle.executeUpdate(approveUpdate, { args: [{ actor: 'alice' }] });
  const outcome = (await handle.result()) as RunOutcome<{ previous: string; replaced: boolean }>;
  expect(outcome.result!.replaced).toBe(true);
  expectSameTree(project, want.tree, want.rows);
  expect(outside(root, 'projects/p0')).toEqual(rest);
  expect(fs.readFileSync(path.join(outcome.result!.previous, 'stray.txt'), 'utf8')).toBe(
    'written after the export',
  );
});

test.each([
  [
    'exportScope',
    { project: 'p9', to: 'usb' },
    /^input\.project: target 'source' has no project 'p9'; its projects \(projects\/ under .*\): p0, p1$/,
  ],
  [
    'exportScope',
    { module: 'sketch', to: 'usb' },
    /^input\.module: target 'source' has no module 'sketch'; its modules \(modules\/ under .*\): maps$/,
  ],
  [
    'exportScope',
    { project: 'p0', to: 'cloud' },
    /^input\.to: target 'source' has no export destination named 'cloud'; configured \(exports\): usb$/,
  ],
  ['exportScope', { project: 'p0', module: 'maps', to: 'usb' }, /give exactly one of project and module/],
  [
    'importScope',
    { from: 'cloud', exportId: 'x' },
    /^input\.from: target 'source' has no export destination named 'cloud'; configured \(exports\): usb$/,
  ],
  [
    'importScope',
    { from: 'usb', exportId: 'source-nothing' },
    /^input\.exportId: no export 'source-nothing' in destination 'usb' \(.*\); there: source-/,
  ],
] as const)(
  '%s %j fails at once as bad input, naming the field and what exists',
  async (runbook, input, message) => {
    const cause = await failure(await start(runbook, { target: 'source', ...input }));
    expect(cause.type).toBe('InvalidInput');
    expect(cause.message).toMatch(message);
  },
);

test('an export from another engine version STOPs with expected vs found; the root is not touched', async () => {
  const exp = await exported('source', { project: 'p0' });
  const before = treeState(rootOf('newer'));
  const handle = await start('importScope', { target: 'newer', from: 'usb', exportId: exp.exportId });
  const status = await statusWhen(
    tw.client,
    handle.workflowId,
    (s) => s.waiting?.step === 'inspectExport',
    'the version STOP',
  );
  expect(status.waiting!.errorType).toBe('VersionMismatch');
  expect(status.waiting!.reason).toBe(
    `engine version mismatch: the target runs 3.0.0, export ${exp.exportId} was made by 2.1.0`,
  );
  await handle.executeUpdate(stopUpdate, { args: [{ actor: 'alice', reason: 'wrong version' }] });
  expect(((await handle.result()) as RunOutcome).state).toBe('stopped');
  expect(treeState(rootOf('newer'))).toEqual(before);
});

test('a damaged export STOPs at its checksum before the root is touched, also when its sidecar was rewritten to match', async () => {
  const exp = await exported('source', { project: 'p1' });
  const bytes = fs.readFileSync(exp.archive);
  bytes[Math.floor(bytes.length / 2)] ^= 0xff;
  fs.writeFileSync(exp.archive, bytes);
  const root = rootOf('receiver');
  const before = treeState(root);
  const beside = fs.readdirSync(path.dirname(root)).sort();
  const stopAt = async (reason: RegExp) => {
    const handle = await start('importScope', { target: 'receiver', from: 'usb', exportId: exp.exportId });
    const status = await statusWhen(
      tw.client,
      handle.workflowId,
      (s) => s.waiting?.step === 'inspectExport',
      'the checksum STOP',
    );
    expect(status.waiting!.errorType).toBe('ChecksumMismatch');
    expect(status.waiting!.reason).toMatch(reason);
    await handle.executeUpdate(stopUpdate, { args: [{ actor: 'alice', reason: 'damaged' }] });
    expect(((await handle.result()) as RunOutcome).state).toBe('stopped');
    expect(treeState(root)).toEqual(before);
    expect(fs.readdirSync(path.dirname(root)).sort()).toEqual(beside);
  };
  await stopAt(/^export \S+ is refused: its archive \S+ has SHA-256 [0-9a-f]{16}…, its sidecar says/);
  // The sidecar made to match the damaged bytes: the archive itself fails to decrypt cleanly.
  const sidecar = JSON.parse(fs.readFileSync(exp.sidecar, 'utf8')) as Record<string, unknown>;
  sidecar.archiveSha256 = createHash('sha256').update(bytes).digest('hex');
  fs.writeFileSync(exp.sidecar, `${JSON.stringify(sidecar, null, 2)}\n`);
  await stopAt(/^export \S+( is damaged: the archive does not decrypt cleanly|: )/);
});

test('a stop after the swap puts the project back as it was and releases the lock', async () => {
  const root = rootOf('stopper');
  const exp = await exported('stopper', { project: 'p0' });
  fs.writeFileSync(path.join(root, 'projects', 'p0', 'notes', 'n0.md'), '# changed after the export\n');
  const before = treeState(root);
  const rows = dbRows(root);
  const handle = await start('importScope', { target: 'stopper', from: 'usb', exportId: exp.exportId });
  await atGate(handle.workflowId);
  await handle.executeUpdate(approveUpdate, { args: [{ actor: 'alice' }] });
  await statusWhen(
    tw.client,
    handle.workflowId,
    (s) => s.waiting?.step === 'rebuildCaches',
    'the failed rebuild',
  );
  expect(fs.readFileSync(path.join(root, 'projects', 'p0', 'notes', 'n0.md'), 'utf8')).not.toBe(
    '# changed after the export\n',
  );
  await handle.executeUpdate(stopUpdate, { args: [{ actor: 'bob', reason: 'caches will not rebuild' }] });
  expect(((await handle.result()) as RunOutcome).state).toBe('stopped');
  expectSameTree(root, before, rows);
  expect(fs.readdirSync(path.dirname(root)).filter((f) => f.includes('lifeboat-'))).toEqual([]);
  expect(fs.existsSync(path.join(dir, 'stopper', 'repo', '.lifeboat.lock'))).toBe(false);
});

test('an export destination inside the root, or in the repository or the offsite copy, is refused by the config', () => {
  const raw = {
    auditLedger: 'a.sqlite',
    targets: {
      data: {
        root: '/srv/data',
        repository: '/backups/data',
        offsite: '/mnt/offsite/data',
        encryption: { passphraseEnv: PASSPHRASE_ENV },
        exports: {
          inside: '/srv/data/exports',
          repo: '/backups/data',
          offsite: '/mnt/offsite',
          usb: '/mnt/usb',
        },
      },
    },
  };
  const err = (() => {
    try {
      parseConfig(raw, '/etc/lifeboat/lifeboat.config.json');
    } catch (e) {
      return e;
    }
  })();
  expect(err).toBeInstanceOf(ConfigError);
  expect((err as ConfigError).problems).toEqual([
    'targets.data.exports.inside must be outside the root',
    'targets.data.exports.repo must be a folder apart from the repository and the offsite copy',
    'targets.data.exports.offsite must be a folder apart from the repository and the offsite copy',
  ]);
});
