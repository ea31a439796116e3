/**
 * auditChainRecovery on a real dev server with real files: an intact chain, a tampered entry named
 * with expected vs actual hash then restored from the newest verified backup with the gap recorded,
 * a line that is not JSON, no verifying backup (STOP, then stop), an empty backup folder (STOP,
 * place a backup, retry), and a stop at the gate.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createAuditChainActivities } from '../activities/auditChain';
import { hashEntry, toJsonLines } from '../activities/lib/chain';
import type { AuditRow } from '../activities/lib/ledger';
import { approveUpdate, retryUpdate, stopUpdate } from '../common/messages';
import type { RunOutcome } from '../common/types';
import type { AuditChainRecoveryResult } from '../runbooks/auditChainRecovery';
import { writeChainDemo, writeChainFixture, type ChainFixture } from '../scripts/demo-chain';
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

type Outcome = RunOutcome<AuditChainRecoveryResult>;

let dir: string;
let ledgerFile: string;
let tw: TestWorker;
const fx: Record<string, ChainFixture> = {};

beforeAll(async () => {
  dir = tempDir('chain');
  fx.intact = writeChainFixture(path.join(dir, 'intact'), { entries: 6, backups: [{ entries: 3 }] });
  fx.tampered = writeChainFixture(path.join(dir, 'tampered'), {
    entries: 12,
    damage: { kind: 'tamper', index: 9 },
    backups: [
      { entries: 5 },
      { entries: 8, format: 'array' },
      { entries: 10, damage: { kind: 'tamper', index: 2 } },
    ],
  });
  fx.notJson = writeChainFixture(path.join(dir, 'notJson'), {
    entries: 8,
    damage: { kind: 'notJson', index: 5 },
    backups: [{ entries: 6, divergeAt: 4 }],
  });
  fx.noBackup = writeChainFixture(path.join(dir, 'noBackup'), {
    entries: 6,
    damage: { kind: 'relink', index: 2 },
    backups: [{ entries: 4, damage: { kind: 'notJson', index: 1 } }, { entries: 0 }],
  });
  fx.emptyFolder = writeChainFixture(path.join(dir, 'emptyFolder'), {
    entries: 5,
    damage: { kind: 'tamper', index: 4 },
    backups: [],
  });
  fx.stopAtGate = writeChainFixture(path.join(dir, 'stopAtGate'), {
    entries: 5,
    damage: { kind: 'tamper', index: 1 },
    backups: [{ entries: 3 }],
  });
  const targets: Record<string, unknown> = {};
  for (const [name, f] of Object.entries(fx)) targets[name] = f.target;
  const { config } = writeConfig(dir, { auditLedger: 'audit.sqlite', targets });
  ledgerFile = config.auditLedger;
  tw = await startWorker(config, uniqueQueue('chain'));
});

afterAll(async () => {
  await tw?.stop();
});

function start(target: string) {
  return tw.client.workflow.start('auditChainRecovery', {
    taskQueue: tw.taskQueue,
    workflowId: `chain-${target}-${Math.random().toString(36).slice(2, 8)}`,
    args: [{ target }],
  });
}

function auditRows(workflowId: string): AuditRow[] {
  return auditRowsOf(ledgerFile, workflowId);
}

function detailsOf(rows: AuditRow[], event: string): Record<string, unknown> | undefined {
  const row = rows.find((r) => r.event === event);
  return row ? (JSON.parse(row.details) as Record<string, unknown>) : undefined;
}

const waitingFor = (id: string, what: string) =>
  statusWhen(tw.client, id, (s) => s.state === 'waiting', what);

test('an intact chain completes the run, names its head and changes nothing', async () => {
  const before = snapshotTree(path.join(dir, 'intact'));
  const handle = await start('intact');
  const outcome = (await handle.result()) as Outcome;
  expect(outcome.result).toEqual({
    outcome: 'intact',
    file: fx.intact.file,
    restoredEntries: 6,
    head: fx.intact.entries[5].hash,
  });
  expect(snapshotTree(path.join(dir, 'intact'))).toEqual(before);
});

test('a tampered entry: named with expected vs actual hash at the gate and in the audit; approval restores the newest verified backup and records the gap', async () => {
  const f = fx.tampered;
  const [, arrayBackup, damagedBackup] = f.backupNames;
  const brokenBytes = fs.readFileSync(f.file);
  const expected = hashEntry({ ...f.entries[9], actor: 'mallory' });
  const actual = f.entries[9].hash;
  const handle = await start('tampered');

  const waiting = await waitingFor(handle.workflowId, 'the restoreChain gate');
  expect(waiting.waiting).toMatchObject({ kind: 'gate', gate: 'restoreChain' });
  expect(waiting.facts.brokenAt).toEqual({
    index: 9,
    line: 10,
    reason: 'entry 9 (line 10): hash does not match its content',
    expected,
    actual,
  });
  const reason = waiting.waiting!.reason;
  expect(reason).toContain(`broken at entry 9: entry 9 (line 10): hash does not match its content`);
  expect(reason).toContain(`(expected ${expected}, actual ${actual})`);
  expect(reason).toContain(`restore backup ${arrayBackup} (8 entries, head ${f.entries[7].hash})`);
  expect(reason).toContain(
    '4 entries are lost (index 8 to 11, 2026-01-10T08:08:00.000Z to 2026-01-10T08:11:00.000Z); 1 of them verified',
  );
  // The newest backup was tried first and rejected with its own break.
  expect(waiting.facts.backupsTried).toEqual([
    expect.objectContaining({
      name: damagedBackup,
      valid: false,
      problem: expect.stringMatching(
        /^entry 2 \(line 3\): hash does not match its content \(expected [0-9a-f]{64}, actual [0-9a-f]{64}\)$/,
      ),
    }),
    expect.objectContaining({ name: arrayBackup, valid: true, entries: 8 }),
  ]);
  const broken = await eventually(
    async () => detailsOf(auditRows(handle.workflowId), 'chain.broken'),
    'chain.broken in the audit',
  );
  expect(broken).toMatchObject({ file: f.file, entries: 12, index: 9, line: 10, expected, actual });
  expect(fs.readFileSync(f.file)).toEqual(brokenBytes);

  await handle.executeUpdate(approveUpdate, {
    args: [{ actor: 'alice', comment: 'entries 8-11 re-imported later' }],
  });
  const outcome = (await handle.result()) as Outcome;
  const gap = {
    lost: 4,
    firstIndex: 8,
    lastIndex: 11,
    firstTime: '2026-01-10T08:08:00.000Z',
    lastTime: '2026-01-10T08:11:00.000Z',
    verifiedLost: 1,
    brokenChainEntries: 12,
    restoredEntries: 8,
  };
  expect(outcome.result).toMatchObject({
    outcome: 'restored',
    file: f.file,
    backupUsed: arrayBackup,
    restoredEntries: 8,
    head: f.entries[7].hash,
    gap,
  });
  expect(outcome.result!.divergesAt).toBeUndefined();
  // The array backup is written back as JSON lines; the broken chain is in quarantine, byte for byte.
  expect(fs.readFileSync(f.file, 'utf8')).toBe(toJsonLines(f.entries.slice(0, 8)));
  const quarantined = outcome.result!.quarantined!;
  expect(path.dirname(path.dirname(quarantined))).toBe(f.quarantine);
  expect(fs.readFileSync(quarantined)).toEqual(brokenBytes);
  const gapEvent = detailsOf(auditRows(handle.workflowId), 'chain.gap');
  expect(gapEvent).toMatchObject({ ...gap, backup: arrayBackup, quarantined, brokenAt: { index: 9 } });
  expect(fs.readdirSync(path.dirname(f.file)).filter((n) => n.includes('lifeboat-tmp'))).toEqual([]);
});

test('a line that is not JSON is the break; the backup (from another history after entry 4) is restored byte for byte', async () => {
  const f = fx.notJson;
  const brokenBytes = fs.readFileSync(f.file);
  const handle = await start('notJson');
  const waiting = await waitingFor(handle.workflowId, 'the gate');
  expect(waiting.facts.brokenAt).toEqual({
    index: 5,
    line: 6,
    reason: expect.stringMatching(
      /^line 6 is not JSON: expected .* but found the end of the input at column \d+$/,
    ),
  });
  expect(waiting.waiting!.reason).toContain('broken at entry 5: line 6 is not JSON');
  await handle.executeUpdate(approveUpdate, { args: [{ actor: 'alice' }] });
  const outcome = (await handle.result()) as Outcome;
  expect(outcome.result).toMatchObject({
    outcome: 'restored',
    restoredEntries: 6,
    divergesAt: 4,
    gap: { lost: 2, firstIndex: 6, lastIndex: 7, verifiedLost: 0, divergesAt: 4 },
  });
  expect(fs.readFileSync(f.file)).toEqual(f.contents[path.join(f.backups, f.backupNames[0])]);
  expect(fs.readFileSync(outcome.result!.quarantined!)).toEqual(brokenBytes);
});

test('no backup verifies: STOP naming each backup and why; stop leaves everything as found', async () => {
  const f = fx.noBackup;
  const [torn, empty] = f.backupNames;
  const before = snapshotTree(path.join(dir, 'noBackup'));
  const handle = await start('noBackup');
  const waiting = await waitingFor(handle.workflowId, 'the STOP');
  expect(waiting.waiting).toMatchObject({
    kind: 'failure',
    step: 'findVerifiedBackup',
    errorType: 'NoValidBackup',
  });
  expect(waiting.waiting!.reason).toMatch(
    new RegExp(
      `^no backup in ${f.backups} verifies \\(${empty}: it holds no entries; ${torn}: line 2 is not JSON: .*\\); place a verified backup there and retry, or stop$`,
    ),
  );
  // The break itself is named: entry 2 was edited and re-hashed, so entry 3 no longer links to it.
  expect(waiting.facts.brokenAt).toMatchObject({
    index: 3,
    reason: 'entry 3 (line 4): prevHash is not the hash of entry 2',
    actual: f.entries[2].hash,
  });
  await handle.executeUpdate(stopUpdate, { args: [{ actor: 'bob', reason: 'restoring from offsite' }] });
  expect(((await handle.result()) as Outcome).state).toBe('stopped');
  expect(snapshotTree(path.join(dir, 'noBackup'))).toEqual(before);
});

test('an empty backup folder: STOP; a responder places a verified backup and retries; it is restored', async () => {
  const f = fx.emptyFolder;
  const handle = await start('emptyFolder');
  const waiting = await waitingFor(handle.workflowId, 'the STOP');
  expect(waiting.waiting!.reason).toBe(
    `no backup in ${f.backups} verifies (the folder ${f.backups} is empty); place a verified backup there and retry, or stop`,
  );
  const placed = path.join(f.backups, '20260110_080300.json');
  fs.writeFileSync(placed, toJsonLines(f.entries.slice(0, 4)));
  await handle.executeUpdate(retryUpdate, { args: [{ actor: 'carol', comment: 'copied from offsite' }] });
  const gate = await statusWhen(tw.client, handle.workflowId, (s) => s.waiting?.kind === 'gate', 'the gate');
  expect(gate.facts.backupUsed).toBe('20260110_080300.json');
  await handle.executeUpdate(approveUpdate, { args: [{ actor: 'carol' }] });
  const outcome = (await handle.result()) as Outcome;
  expect(outcome.result).toMatchObject({
    outcome: 'restored',
    restoredEntries: 4,
    gap: { lost: 1, firstIndex: 4 },
  });
  expect(fs.readFileSync(f.file)).toEqual(fs.readFileSync(placed));
});

test('stop at the gate leaves the broken chain byte-identical', async () => {
  const root = path.join(dir, 'stopAtGate');
  const before = snapshotTree(root);
  const handle = await start('stopAtGate');
  await waitingFor(handle.workflowId, 'the gate');
  await handle.executeUpdate(stopUpdate, { args: [{ actor: 'alice', reason: 'forensics first' }] });
  const outcome = (await handle.result()) as Outcome;
  expect(outcome).toMatchObject({ state: 'stopped', stoppedBy: 'alice', stopReason: 'forensics first' });
  expect(snapshotTree(root)).toEqual(before);
});

test('putAuditChainBack puts the broken chain back byte for byte after a restore', async () => {
  const d = tempDir('chain-putback');
  const f = writeChainFixture(d, {
    entries: 4,
    damage: { kind: 'tamper', index: 3 },
    backups: [{ entries: 2 }],
  });
  const { config } = writeConfig(d, { auditLedger: 'audit.sqlite', targets: { t: f.target } });
  const acts = createAuditChainActivities(config);
  const choice = await acts.findVerifiedChainBackup('t');
  const restored = await acts.restoreAuditChain('t', choice.backup, choice.sha256, 'incident-1');
  expect(restored).toMatchObject({ entries: 2, gap: { lost: 2, verifiedLost: 1 } });
  expect(await acts.putAuditChainBack('t', 'incident-1')).toEqual({ action: 'putBack' });
  expect(fs.readFileSync(f.file)).toEqual(f.contents[f.file]);
  // A backup that changed after it was verified is refused.
  fs.appendFileSync(path.join(f.backups, choice.backup), '\n');
  await expect(acts.restoreAuditChain('t', choice.backup, choice.sha256, 'incident-2')).rejects.toMatchObject(
    {
      type: 'ChecksumMismatch',
    },
  );
  expect(fs.readFileSync(f.file)).toEqual(f.contents[f.file]);
});

test('a restored chain that does not verify, or lacks the restored head, is an IntegrityFailure; appended entries are fine', async () => {
  const d = tempDir('chain-verify');
  const f = writeChainFixture(d, { entries: 4, damage: { kind: 'tamper', index: 1 }, backups: [] });
  const { config } = writeConfig(d, { auditLedger: 'audit.sqlite', targets: { t: f.target } });
  const acts = createAuditChainActivities(config);
  await expect(acts.verifyAuditChain('t', { require: true })).rejects.toMatchObject({
    type: 'IntegrityFailure',
    message: expect.stringMatching(
      /does not verify: entry 1 \(line 2\): hash does not match its content \(expected /,
    ),
  });
  fs.writeFileSync(f.file, toJsonLines(f.entries));
  const restored = { entries: 2, head: f.entries[1].hash };
  expect(await acts.verifyAuditChain('t', { require: true, restored })).toMatchObject({
    valid: true,
    entries: 4,
  });
  await expect(
    acts.verifyAuditChain('t', { require: true, restored: { entries: 2, head: f.entries[2].hash } }),
  ).rejects.toMatchObject({
    type: 'IntegrityFailure',
    message: expect.stringContaining('does not hold the restored head'),
  });
  fs.rmSync(f.file);
  expect(await acts.verifyAuditChain('t')).toMatchObject({
    valid: false,
    brokenAt: { index: 0, reason: 'the chain file is missing' },
  });
});

test('the demo target: a 12-entry chain broken at entry 9 with two backups', async () => {
  const d = tempDir('chain-demo');
  const target = writeChainDemo(d);
  const { config } = writeConfig(d, { auditLedger: 'audit.sqlite', targets: { demo: target } });
  const acts = createAuditChainActivities(config);
  expect((await acts.verifyAuditChain('demo')).brokenAt).toMatchObject({ index: 9 });
  expect(await acts.findVerifiedChainBackup('demo')).toMatchObject({
    entries: 8,
    format: 'array',
    gap: { lost: 4 },
  });
});
