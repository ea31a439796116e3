/**
 * corruptedConfigRecovery on a real dev server with real files: an intact config, a corrupt one
 * restored from the newest backup that parses (automatic gate) with pruning, the loud fallback to
 * the compiled-in default, NoValidBackup then retry, stops at the gates; and the replace/undo helper
 * the runbook's compensation uses, when there was no file before.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  createConfigFileActivities,
  replaceKeepingOriginal,
  timeOfStamp,
  undoReplace,
} from '../activities/configFile';
import type { AuditRow } from '../activities/lib/ledger';
import { approveUpdate, retryUpdate, stopUpdate } from '../common/messages';
import type { RunOutcome } from '../common/types';
import type { CorruptedConfigRecoveryResult } from '../runbooks/corruptedConfigRecovery';
import { configText, writeConfigDemo, writeConfigFixture, type ConfigFixture } from '../scripts/demo-config';
import {
  eventually,
  snapshotTree,
  startWorker,
  statusWhen,
  tempDir,
  uniqueQueue,
  writeConfig,
  type TestWorker,
  auditRowsOf,
} from './helpers';

type Outcome = RunOutcome<CorruptedConfigRecoveryResult>;

let dir: string;
let ledgerFile: string;
let tw: TestWorker;
const fx: Record<string, ConfigFixture> = {};

beforeAll(async () => {
  dir = tempDir('config');
  fx.intact = writeConfigFixture(path.join(dir, 'intact'), { config: 'intact', backups: ['good'] });
  fx.restore = writeConfigFixture(path.join(dir, 'restore'), {
    config: 'corrupt',
    backups: ['good', 'good', 'good', 'bad'],
    keep: 1,
  });
  // A file someone placed by hand: not named by a timestamp, so dated by mtime and never pruned.
  const manual = path.join(fx.restore.backups, 'hand-copy.toml');
  fs.writeFileSync(manual, 'not = [valid');
  fs.utimesSync(manual, new Date('2025-06-01'), new Date('2025-06-01'));
  fx.fallback = writeConfigFixture(path.join(dir, 'fallback'), {
    config: 'corrupt',
    backups: [],
    withDefault: true,
  });
  fx.allBad = writeConfigFixture(path.join(dir, 'allBad'), {
    format: 'json',
    config: 'empty',
    backups: ['bad', 'empty'],
    withDefault: true,
  });
  fx.retry = writeConfigFixture(path.join(dir, 'retry'), { config: 'corrupt', backups: [] });
  fx.humanGate = writeConfigFixture(path.join(dir, 'humanGate'), {
    config: 'missing',
    backups: ['good'],
    gates: { restoreConfig: { automatic: false, approvers: ['alice'] } },
  });
  const targets: Record<string, unknown> = { bare: { description: 'no configFile section' } };
  for (const [name, f] of Object.entries(fx)) targets[name] = f.target;
  const { config } = writeConfig(dir, { auditLedger: 'audit.sqlite', targets });
  ledgerFile = config.auditLedger;
  tw = await startWorker(config, uniqueQueue('config'));
});

afterAll(async () => {
  await tw?.stop();
});

function start(target: string) {
  return tw.client.workflow.start('corruptedConfigRecovery', {
    taskQueue: tw.taskQueue,
    workflowId: `config-${target}-${Math.random().toString(36).slice(2, 8)}`,
    args: [{ target }],
  });
}

function auditRows(workflowId: string): AuditRow[] {
  return auditRowsOf(ledgerFile, workflowId);
}

function detailsOf(rows: AuditRow[], event: string): Record<string, unknown> {
  const row = rows.find((r) => r.event === event);
  if (!row) throw new Error(`no '${event}' event among ${rows.map((r) => r.event).join(', ')}`);
  return JSON.parse(row.details) as Record<string, unknown>;
}

test('an intact config completes the run and changes nothing', async () => {
  const before = snapshotTree(path.join(dir, 'intact'));
  const handle = await start('intact');
  const outcome = (await handle.result()) as Outcome;
  expect(outcome.state).toBe('completed');
  expect(outcome.result).toMatchObject({ outcome: 'intact', file: fx.intact.file, tried: [], pruned: [] });
  expect(snapshotTree(path.join(dir, 'intact'))).toEqual(before);
});

test('a corrupt config: the newest backup that parses is restored on its own, the corrupt one quarantined, backups pruned to keep', async () => {
  const f = fx.restore;
  const [oldest, older, good, bad] = f.backupNames;
  const corruptBytes = fs.readFileSync(f.file);
  const handle = await start('restore');
  const outcome = (await handle.result()) as Outcome;
  expect(outcome.state).toBe('completed');
  const result = outcome.result!;
  expect(result).toMatchObject({
    outcome: 'restoredBackup',
    file: f.file,
    source: path.join(f.backups, good),
    corruption: expect.stringMatching(/^not valid TOML at line \d+, column \d+: /),
  });
  expect(result.warning).toBeUndefined();
  // The newer backup that does not parse was skipped, with its reason.
  expect(result.tried).toEqual([
    expect.objectContaining({
      name: bad,
      valid: false,
      datedBy: 'name',
      problem: expect.stringMatching(/^not valid TOML at line 11, column 5: /),
    }),
    expect.objectContaining({ name: good, valid: true, takenAt: '2026-01-03T03:00:00.000Z' }),
  ]);
  // The config is the backup, byte for byte; the corrupt file is in the incident's quarantine folder.
  expect(fs.readFileSync(f.file)).toEqual(f.contents[path.join(f.backups, good)]);
  expect(path.dirname(path.dirname(result.quarantined!))).toBe(f.quarantine);
  expect(fs.readFileSync(result.quarantined!)).toEqual(corruptBytes);
  // keep = 1: the newest backup stays, the one just restored is spared, older ones go; a file not
  // named by a timestamp is not Lifeboat's to prune.
  expect(result.pruned).toEqual([older, oldest]);
  expect(fs.readdirSync(f.backups).sort()).toEqual([good, bad, 'hand-copy.toml'].sort());
  // The automatic gate opened by policy; the alert CFG-002 is in the audit.
  expect(outcome.status.decisions).toEqual([
    expect.objectContaining({ action: 'approve', actor: 'policy', gate: 'restoreConfig' }),
  ]);
  const rows = auditRows(handle.workflowId);
  expect(detailsOf(rows, 'config.parseFailed')).toMatchObject({ alert: 'CFG-002', file: f.file, line: 11 });
  expect(rows.some((r) => r.event === 'config.defaultUsed')).toBe(false);
  expect(fs.readdirSync(path.dirname(f.file)).filter((n) => n.includes('lifeboat-tmp'))).toEqual([]);
});

test('an empty backup folder with a default: waits at useDefault naming the folder; approval installs the default, loudly', async () => {
  const f = fx.fallback;
  const corruptBytes = fs.readFileSync(f.file);
  const handle = await start('fallback');
  const waiting = await statusWhen(tw.client, handle.workflowId, (s) => s.state === 'waiting', 'the gate');
  expect(waiting.waiting).toMatchObject({ kind: 'gate', gate: 'useDefault', approvers: ['*'], quorum: 1 });
  expect(waiting.waiting!.reason).toContain('EVERY BACKUP FAILED');
  expect(waiting.waiting!.reason).toContain(`the folder ${f.backups} is empty`);
  expect(waiting.waiting!.reason).toContain(`COMPILED-IN DEFAULT ${f.defaultFile}`);
  expect(fs.readFileSync(f.file)).toEqual(corruptBytes);

  await handle.executeUpdate(approveUpdate, { args: [{ actor: 'alice', comment: 'defaults will do' }] });
  const outcome = (await handle.result()) as Outcome;
  const result = outcome.result!;
  expect(result).toMatchObject({ outcome: 'restoredDefault', source: f.defaultFile, tried: [], pruned: [] });
  expect(result.warning).toMatch(/^FELL BACK TO THE COMPILED-IN DEFAULT /);
  expect(result.warning).toContain(`the folder ${f.backups} is empty`);
  expect(fs.readFileSync(f.file)).toEqual(f.contents[f.defaultFile!]);
  expect(fs.readFileSync(result.quarantined!)).toEqual(corruptBytes);
  expect(outcome.status.facts.warning).toBe(result.warning);

  const defaultUsed = detailsOf(auditRows(handle.workflowId), 'config.defaultUsed');
  expect(defaultUsed).toMatchObject({ warning: result.warning, default: f.defaultFile, file: f.file });
});

test('every backup fails (JSON): the gate lists each one; stop there leaves the config byte-identical', async () => {
  const f = fx.allBad;
  const [older, newest] = f.backupNames;
  const before = snapshotTree(path.join(dir, 'allBad'));
  const handle = await start('allBad');
  const waiting = await statusWhen(tw.client, handle.workflowId, (s) => s.state === 'waiting', 'the gate');
  expect(waiting.facts.corruption).toBe('the file is empty');
  expect(waiting.waiting!.gate).toBe('useDefault');
  expect(waiting.waiting!.reason).toMatch(
    new RegExp(`${newest}: the file is empty; ${older}: not valid JSON at line \\d+, column \\d+: expected `),
  );

  await handle.executeUpdate(stopUpdate, { args: [{ actor: 'bob', reason: 'will fix the backup by hand' }] });
  const outcome = (await handle.result()) as Outcome;
  expect(outcome).toMatchObject({ state: 'stopped', stoppedBy: 'bob' });
  expect(snapshotTree(path.join(dir, 'allBad'))).toEqual(before);
  expect(auditRows(handle.workflowId).some((r) => r.event === 'config.defaultUsed')).toBe(false);
});

test('no backup and no default: STOP NoValidBackup; a responder places a backup and retries; it is restored', async () => {
  const f = fx.retry;
  const handle = await start('retry');
  const waiting = await statusWhen(tw.client, handle.workflowId, (s) => s.state === 'waiting', 'the STOP');
  expect(waiting.waiting).toMatchObject({
    kind: 'failure',
    step: 'findParsableBackup',
    errorType: 'NoValidBackup',
    allowed: ['retry', 'stop'],
  });
  const reason = `no backup in ${f.backups} parses (the folder ${f.backups} is empty), and the target names no compiled-in default; place a valid backup there and retry, or stop`;
  expect(waiting.waiting!.reason).toBe(reason);
  await eventually(
    async () =>
      auditRows(handle.workflowId).some(
        (r) => r.event === 'run.waiting' && (JSON.parse(r.details) as { reason: string }).reason === reason,
      ) || undefined,
    'the reason in the audit',
  );

  const placed = path.join(f.backups, '2026-02-01T09-30-00Z.toml');
  fs.writeFileSync(placed, configText('toml', 42));
  await handle.executeUpdate(retryUpdate, { args: [{ actor: 'carol', comment: 'placed a backup' }] });
  const outcome = (await handle.result()) as Outcome;
  expect(outcome.result).toMatchObject({ outcome: 'restoredBackup', source: placed });
  expect(fs.readFileSync(f.file, 'utf8')).toBe(configText('toml', 42));
  expect(fs.readFileSync(outcome.result!.quarantined!)).toEqual(f.contents[f.file]);
});

test('a missing config with a human restoreConfig gate: it waits; stop leaves everything as found', async () => {
  const root = path.join(dir, 'humanGate');
  const before = snapshotTree(root);
  const handle = await start('humanGate');
  const waiting = await statusWhen(tw.client, handle.workflowId, (s) => s.state === 'waiting', 'the gate');
  expect(waiting.waiting).toMatchObject({ gate: 'restoreConfig', approvers: ['alice'] });
  expect(waiting.waiting!.reason).toContain('(the file is missing)');
  expect(waiting.waiting!.reason).toContain(`restore backup ${fx.humanGate.backupNames[0]}`);
  await handle.executeUpdate(stopUpdate, { args: [{ actor: 'alice', reason: 'not now' }] });
  expect(((await handle.result()) as Outcome).state).toBe('stopped');
  expect(snapshotTree(root)).toEqual(before);
  expect(fs.existsSync(fx.humanGate.file)).toBe(false);
});

test('a target without a configFile section fails at once, naming the section', async () => {
  const handle = await start('bare');
  await expect(handle.result()).rejects.toMatchObject({
    cause: expect.objectContaining({
      type: 'InvalidInput',
      message: expect.stringMatching(
        /target 'bare' has no 'configFile' section .*corruptedConfigRecovery needs it/,
      ),
    }),
  });
});

describe('the compensation: replace and undo', () => {
  test('when there was no file, undo takes the installed file away again (kept in quarantine)', async () => {
    const d = tempDir('config-undo');
    const file = path.join(d, 'app', 'config.toml');
    const source = path.join(d, 'good.toml');
    fs.writeFileSync(source, configText('toml', 1));
    const folder = path.join(d, 'quarantine', 'incident');
    const replaced = await replaceKeepingOriginal(file, source, folder, 't1');
    expect(replaced.quarantined).toBeUndefined();
    expect(fs.readFileSync(file, 'utf8')).toBe(configText('toml', 1));
    // A retry of the replace does not mistake the installed file for the original.
    await replaceKeepingOriginal(file, source, folder, 't1');
    expect(fs.existsSync(path.join(folder, 'config.toml'))).toBe(false);

    expect(await undoReplace(file, folder, 't1')).toEqual({ action: 'removed' });
    expect(fs.existsSync(file)).toBe(false);
    expect(fs.readFileSync(path.join(folder, 'config.toml.installed'), 'utf8')).toBe(configText('toml', 1));
    expect(await undoReplace(file, folder, 't1')).toEqual({ action: 'none' });
  });

  test('putConfigBack restores the corrupt file byte for byte after installConfig', async () => {
    const d = tempDir('config-putback');
    const f = writeConfigFixture(d, { config: 'corrupt', backups: ['good'] });
    const { config } = writeConfig(d, { auditLedger: 'audit.sqlite', targets: { t: f.target } });
    const acts = createConfigFileActivities(config);
    const choice = await acts.findParsableConfigBackup('t');
    const installed = await acts.installConfig('t', choice, 'incident-1');
    expect(fs.readFileSync(f.file)).toEqual(f.contents[path.join(f.backups, f.backupNames[0])]);
    expect(installed.quarantined).toBe(path.join(f.quarantine, 'incident-1', 'config.toml'));
    expect(await acts.putConfigBack('t', 'incident-1')).toEqual({ action: 'putBack' });
    expect(fs.readFileSync(f.file)).toEqual(f.contents[f.file]);
  });
});

describe('the STOPs the activities raise where the run must not guess', () => {
  function activitiesFor(spec: Parameters<typeof writeConfigFixture>[1]) {
    const d = tempDir('config-stops');
    const f = writeConfigFixture(d, spec);
    const { config } = writeConfig(d, { auditLedger: 'audit.sqlite', targets: { t: f.target } });
    return { f, acts: createConfigFileActivities(config) };
  }

  test('no backup folder, and a default that does not parse either', async () => {
    const { f, acts } = activitiesFor({ config: 'corrupt', backups: [], withDefault: true });
    fs.rmSync(f.backups, { recursive: true });
    fs.writeFileSync(f.defaultFile!, '[app\n');
    await expect(acts.findParsableConfigBackup('t')).rejects.toMatchObject({
      type: 'NoValidBackup',
      message: `no backup in ${f.backups} parses (the folder ${f.backups} does not exist), and the compiled-in default ${f.defaultFile} does not parse either (not valid TOML at line 1, column 5: illegal character in key); place a valid backup in ${f.backups} and retry, or stop`,
    });
  });

  test('a backup that changed after it was checked is not installed', async () => {
    const { f, acts } = activitiesFor({ config: 'corrupt', backups: ['good'] });
    const choice = await acts.findParsableConfigBackup('t');
    fs.appendFileSync(choice.file, '# edited\n');
    await expect(acts.installConfig('t', choice, 'incident-1')).rejects.toMatchObject({
      type: 'ChecksumMismatch',
      message: expect.stringContaining(`${choice.file} changed since it was checked`),
    });
    expect(fs.readFileSync(f.file)).toEqual(f.contents[f.file]);
  });

  test('a restored config that does not parse, or is not the file installed, is an IntegrityFailure', async () => {
    const { f, acts } = activitiesFor({ config: 'corrupt', backups: [] });
    await expect(acts.checkConfigFile('t', { require: true })).rejects.toMatchObject({
      type: 'IntegrityFailure',
      message: expect.stringMatching(/^the config .* does not parse: not valid TOML at line 11/),
    });
    fs.writeFileSync(f.file, configText('toml', 7));
    await expect(
      acts.checkConfigFile('t', { require: true, expectSha256: '0'.repeat(64) }),
    ).rejects.toMatchObject({
      type: 'IntegrityFailure',
      message: expect.stringContaining('changed after it was replaced'),
    });
  });
});

test('the demo target is a corrupt config whose newest backup is torn, with a default', () => {
  const d = tempDir('config-demo');
  const target = writeConfigDemo(d) as { configFile: { file: string; default: string; backups: string } };
  expect(fs.readdirSync(target.configFile.backups)).toHaveLength(3);
  expect(fs.existsSync(target.configFile.default)).toBe(true);
  const { config } = writeConfig(d, { auditLedger: 'audit.sqlite', targets: { demo: target } });
  expect(config.targets.demo.configFile).toMatchObject({ format: 'toml', keep: 10 });
});

test.each([
  ['2026-01-05T10-20-30Z', '2026-01-05T10:20:30.000Z'],
  ['2026-01-05T10:20:30.250+02:00', '2026-01-05T08:20:30.250Z'],
  ['20260105_102030', '2026-01-05T10:20:30.000Z'],
  ['20260105T102030Z', '2026-01-05T10:20:30.000Z'],
  ['2026-01-05', '2026-01-05T00:00:00.000Z'],
  ['1767225600', '2026-01-01T00:00:00.000Z'],
  ['20261305_102030', undefined],
  ['config-backup', undefined],
])('backup name stamp %s', (stem, iso) => {
  expect(timeOfStamp(stem)?.toISOString()).toBe(iso);
});
