/**
 * The projectImport drill (procedure 003 §3.3, §12) on a real dev server with real files, SQLite
 * databases and OpenPGP: the first project of the sandbox's root is exported to the sandbox's copy
 * of the export destination, lost, imported back by importScope as the drill's child run, and the
 * checklist compares it with its state before the disaster; production (its root and its export
 * destination) keeps every byte and mtime. An export damaged before the import fails the drill
 * (signed, not passed); a target without an export destination is refused.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { DrillProofFile } from '../activities/drillProof';
import { sandboxPath } from '../activities/lib/sandbox';
import { approveUpdate, stopUpdate } from '../common/messages';
import type { RunOutcome } from '../common/types';
import type { DrDrillResult } from '../runbooks/drDrill';
import { drillSection, writeDrillKeys } from '../scripts/demo-drill';
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
import { dbRows, expectSameTree, snapshot } from './tree-helpers';

const PASSPHRASE_ENV = 'LIFEBOAT_TEST_DRILL_IMPORT_PASSPHRASE';
const OBJECTIVES = { rtoMinutes: 60, rpoMinutes: 60 };

let dir: string;
let prod: string;
let root: string;
let usb: string;
let drills: string;
let configFile: string;
let tw: TestWorker;
let before: Record<string, string>;
/** The project the drill loses, as it was (read before the snapshot: opening a database adds its -shm). */
let want: ReturnType<typeof treeState>;
let wantRows: ReturnType<typeof dbRows>;

const cli = (args: string[]) =>
  lifeboat(args, { LIFEBOAT_TASK_QUEUE: tw.taskQueue, LIFEBOAT_CONFIG: configFile });

beforeAll(async () => {
  process.env[PASSPHRASE_ENV] = 'drill-import-test-passphrase';
  dir = tempDir('drill-import');
  prod = path.join(dir, 'prod');
  root = path.join(prod, 'root');
  usb = path.join(prod, 'usb');
  drills = path.join(dir, 'drills');
  writeStorageRoot(root, { seed: 5, projects: 2, binaryBytes: 64 * 1024 });
  fs.mkdirSync(usb, { recursive: true });
  fs.writeFileSync(path.join(usb, 'README.txt'), 'production export destination\n');
  const keys = await writeDrillKeys(path.join(dir, 'keys'));
  const storage = {
    root,
    repository: path.join(prod, 'repo'),
    encryption: { passphraseEnv: PASSPHRASE_ENV },
    engineVersion: '3.0.0',
    modules: ['maps'],
    objectives: OBJECTIVES,
    drill: drillSection(drills, keys),
  };
  const targets = {
    exporting: { ...storage, exports: { usb, spare: path.join(prod, 'spare') } },
    noExports: storage,
  };
  const written = writeConfig(dir, { auditLedger: 'audit.sqlite', targets });
  configFile = written.file;
  tw = await startWorker(written.config, uniqueQueue('drill-import'));
  want = treeState(path.join(root, 'projects', 'p0'));
  wantRows = dbRows(path.join(root, 'projects', 'p0'));
  before = snapshot(prod);
}, 60000);

afterAll(async () => {
  await tw?.stop();
});

test('projectImport: a lost project comes back from its export, as it was before the disaster; production untouched', async () => {
  const handle = await tw.client.workflow.start('drDrill', {
    taskQueue: tw.taskQueue,
    workflowId: `drDrill-exporting-projectImport-${Math.random().toString(36).slice(2, 8)}`,
    args: [{ target: 'exporting', scenario: 'projectImport' }],
  });
  const outcome = (await handle.result()) as RunOutcome<DrDrillResult>;
  expect(outcome.state).toBe('completed');
  const result = outcome.result!;
  expect(result.checks.filter((c) => !c.ok)).toEqual([]);
  expect(result).toMatchObject({ outcome: 'passed', passed: true, scenario: 'projectImport' });
  expect(result.recovery).toMatchObject({ runbook: 'importScope', state: 'completed' });
  expect(result.checks.map((c) => c.name)).toEqual([
    'recoveryCompleted',
    'importedFromExport',
    'projectFilesRestored',
    'projectDatabasesRestored',
    'projectModesAndMtimes',
  ]);
  expect(result.rto).toMatchObject({ objectiveMinutes: 60, met: true });
  expect(result.rpo).toMatchObject({ objectiveMinutes: 60, met: true });
  expect(result.backup?.id).toMatch(/^drill-.*-project-p0$/);

  // The proof lists the checks, signed.
  expect(fs.existsSync(result.proof.signaturePath)).toBe(true);
  const file = JSON.parse(fs.readFileSync(result.proof.path, 'utf8')) as DrillProofFile;
  expect(file.contentSha256).toBe(result.proof.contentSha256);
  expect(file.proof).toMatchObject({
    kind: 'lifeboat.drillProof',
    scenario: 'projectImport',
    passed: true,
    checks: result.checks,
    recovery: { runbook: 'importScope', state: 'completed' },
    backup: { id: result.backup!.id },
  });
  const verified = await cli(['proof', 'verify', result.proof.path]);
  expect(verified.code).toBe(0);

  // The export was written to the sandbox's copy of the first destination; the project is back.
  const exported = sandboxPath(result.sandbox, usb);
  expect(fs.readdirSync(exported)).toEqual(
    expect.arrayContaining([`${result.backup!.id}.lbk`, `${result.backup!.id}.json`]),
  );
  expectSameTree(path.join(sandboxPath(result.sandbox, root), 'projects', 'p0'), want, wantRows);
  const disaster = JSON.parse(fs.readFileSync(path.join(result.sandbox, 'disaster.json'), 'utf8')) as {
    export: unknown;
  };
  expect(disaster.export).toEqual({ from: 'usb', exportId: result.backup!.id, project: 'p0' });

  expect(snapshot(prod)).toEqual(before);
  expect(fs.existsSync(path.join(prod, 'spare'))).toBe(false);
}, 120000);

test('an export damaged before the import: the recovery stops at it; stopping it fails the drill, with a signed proof, never a pass', async () => {
  const handle = await tw.client.workflow.start('drDrill', {
    taskQueue: tw.taskQueue,
    workflowId: `drDrill-exporting-projectImport-${Math.random().toString(36).slice(2, 8)}`,
    args: [{ target: 'exporting', scenario: 'projectImport', approvals: 'people' }],
  });
  const child = tw.client.workflow.getHandle(`${handle.workflowId}-importScope`);
  const atGate = await statusWhen(
    tw.client,
    child.workflowId,
    (s) => s.waiting?.gate === 'import',
    'the import to wait at its gate',
  );
  // Bytes of the export's archive overwritten in the sandbox's destination while the import waits.
  const drillId = atGate.target.replace(/^exporting@drill-/, '');
  const destination = sandboxPath(path.join(drills, drillId), usb);
  const archive = fs.readdirSync(destination).find((f) => f.endsWith('.lbk'))!;
  const bytes = fs.readFileSync(path.join(destination, archive));
  bytes.fill(0x41, Math.floor(bytes.length / 2), Math.floor(bytes.length / 2) + 256);
  fs.writeFileSync(path.join(destination, archive), bytes);
  await child.executeUpdate(approveUpdate, { args: [{ actor: 'alice' }] });
  const stopped = await statusWhen(
    tw.client,
    child.workflowId,
    (s) => s.state === 'waiting' && s.waiting?.kind !== 'gate',
    'the import to stop at the damaged export',
  );
  expect(stopped.waiting).toMatchObject({ step: 'stageImport', errorType: 'ChecksumMismatch' });
  expect(stopped.waiting!.reason).toContain(`its archive ${archive} has SHA-256`);
  await child.executeUpdate(stopUpdate, { args: [{ actor: 'alice', reason: 'the export is damaged' }] });

  const result = ((await handle.result()) as RunOutcome<DrDrillResult>).result!;
  expect(result).toMatchObject({ outcome: 'failed', passed: false, scenario: 'projectImport' });
  expect(result.recovery).toMatchObject({ runbook: 'importScope', state: 'stopped' });
  const byName = Object.fromEntries(result.checks.map((c) => [c.name, c]));
  expect(byName.recoveryCompleted).toMatchObject({
    ok: false,
    detail: expect.stringContaining('ended stopped: stopped by alice: the export is damaged'),
  });
  expect(byName.importedFromExport.ok).toBe(false);
  expect(byName.projectFilesRestored).toMatchObject({
    ok: false,
    detail: expect.stringMatching(/^\d+ file\(s\) missing/),
  });
  expect(result.warning).toMatch(/^DRILL FAILED \(projectImport\): recoveryCompleted: /);
  const file = JSON.parse(fs.readFileSync(result.proof.path, 'utf8')) as DrillProofFile;
  expect(file.proof).toMatchObject({ passed: false, checks: result.checks, approvals: 'people' });
  expect((await cli(['proof', 'verify', result.proof.path])).code).toBe(0);
  expect(snapshot(prod)).toEqual(before);
}, 120000);

test('a target without an export destination is refused by the scenario check, naming what it lacks', async () => {
  const refused = await cli([
    'start',
    'drDrill',
    '--target',
    'noExports',
    '--input',
    '{"scenario": "projectImport"}',
  ]);
  expect(refused.code).toBe(2);
  expect(refused.stderr).toContain(
    "scenario 'projectImport' does not fit target 'noExports': it runs importScope against the sandbox, which needs an export destination (targets.noExports.exports;",
  );
  expect(snapshot(prod)).toEqual(before);
});
