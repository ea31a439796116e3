/**
 * driverUpdate, failedDriverUpdate and driverBackup on a real dev server, against both adapters:
 * `pnputil` through the stand-in executables in test/standins (put on PATH here; they keep a
 * simulated Windows driver store and record every argv), and `directory` through the demo fixture.
 */
import { WorkflowFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { safeDeviceId, validateBackup } from '../activities/lib/drivers/backups';
import type { AuditRow } from '../activities/lib/ledger';
import { approveUpdate, retryUpdate, skipUpdate, statusQuery, stopUpdate } from '../common/messages';
import type { RunOutcome, RunStatus } from '../common/types';
import type { DriverBackupResult } from '../runbooks/driverBackup';
import type { DriverUpdateResult } from '../runbooks/driverUpdate';
import type { FailedDriverUpdateResult } from '../runbooks/failedDriverUpdate';
import {
  AUDIO,
  directoryName,
  infText,
  KEYBOARD,
  NETDRV_1_0,
  NETDRV_1_1,
  NIC,
  writeDriverPackage,
  writeDriversDemo,
  writeDriverUpdates,
  writePnputilStandinState,
} from '../scripts/demo-drivers';
import { ConfigError, parseConfig } from '../config';
import {
  ROOT,
  lifeboat,
  snapshotTree,
  startWorker,
  statusWhen,
  tempDir,
  uniqueQueue,
  writeConfig,
  type TestWorker,
  auditRowsOf,
} from './helpers';

const STANDINS = path.join(ROOT, 'test', 'standins');
const STANDIN_ENV = [
  'PNPUTIL_STANDIN_STATE',
  'PNPUTIL_STANDIN_LOG',
  'PNPUTIL_STANDIN_HANG',
  'POWERSHELL_STANDIN_LOG',
  'POWERSHELL_STANDIN_FAIL',
  'POWERSHELL_STANDIN_RECENT',
];

let dir: string;
let updates: string;
let ledgerFile: string;
let tw: TestWorker;
let savedPath: string | undefined;
let standinCount = 0;
const demos: Record<string, Record<string, unknown>> = {};

function pnTarget(name: string, extra: Record<string, unknown> = {}) {
  return {
    driverStore: {
      adapter: 'pnputil',
      backups: path.join(dir, name, 'backups'),
      updates,
      minFreeBytes: 0,
      keepSets: 2,
      timeoutSeconds: 20,
      settleSeconds: 0,
      ...extra,
    },
  };
}

function dirTarget(name: string, extra: Record<string, unknown> = {}) {
  const demo = writeDriversDemo(path.join(dir, name));
  demos[name] = demo;
  return { ...demo, driverStore: { ...(demo.driverStore as object), settleSeconds: 1, ...extra } };
}

beforeAll(async () => {
  dir = tempDir('drivers');
  updates = path.join(dir, 'updates');
  writeDriverUpdates(updates);
  writeDriverPackage(path.join(updates, 'netdrv-1.2.0.0-lowrank'), {
    ...NETDRV_1_1,
    version: '1.2.0.0',
    markers: ['; standin-rank=low'],
  });
  writeDriverPackage(path.join(updates, 'netdrv-1.3.0.0-reboot'), {
    ...NETDRV_1_1,
    version: '1.3.0.0',
    markers: ['; standin-reboot-required'],
  });
  writeDriverPackage(path.join(updates, 'ps2kbd-broken'), {
    inf: 'ps2kbd.inf',
    className: 'Keyboard',
    provider: 'Contoso Ltd.',
    date: '02/02/2025',
    version: '1.0.0.0',
    hardwareId: 'ACPI\\PNP0303',
    description: 'Contoso PS/2 Keyboard',
    markers: ['; standin-problem-code=10'],
  });
  const targets: Record<string, unknown> = {
    pnUpdate: pnTarget('pnUpdate'),
    pnRollback: pnTarget('pnRollback'),
    pnRollbackFails: pnTarget('pnRollbackFails'),
    pnGate: pnTarget('pnGate'),
    pnFailed: pnTarget('pnFailed'),
    pnSystemRestore: pnTarget('pnSystemRestore'),
    pnInvalid: pnTarget('pnInvalid'),
    pnSets: pnTarget('pnSets'),
    pnHang: pnTarget('pnHang', { timeoutSeconds: 1 }),
    pnNotApplied: pnTarget('pnNotApplied'),
    pnNoBackup: pnTarget('pnNoBackup'),
    pnFull: pnTarget('pnFull', { minFreeBytes: 2 ** 52 }),
    pnMissing: pnTarget('pnMissing', { pnputil: path.join(dir, 'no-such-pnputil') }),
    dirUpdate: dirTarget('dirUpdate'),
    dirRollback: dirTarget('dirRollback'),
    dirNoInf: dirTarget('dirNoInf'),
    dirReplace: dirTarget('dirReplace'),
  };
  // A rebuilt package under the name of the one in the store: different bytes, same folder name.
  writeDriverPackage(path.join(dir, 'dirReplace', 'updates', directoryName(NETDRV_1_0)), {
    ...NETDRV_1_0,
    description: 'Contoso Gigabit Network Connection (rebuilt)',
  });
  const brokenPackage = path.join(dir, 'dirNoInf', 'driver-store', 'broken-pkg');
  fs.mkdirSync(brokenPackage, { recursive: true });
  fs.writeFileSync(path.join(brokenPackage, 'broken.sys'), 'MZ not a package');
  const { config } = writeConfig(dir, { auditLedger: 'audit.sqlite', targets });
  ledgerFile = config.auditLedger;
  savedPath = process.env.PATH;
  // The worker runs in this process and spawns pnputil/powershell with this environment.
  process.env.PATH = `${STANDINS}${path.delimiter}${savedPath ?? ''}`;
  tw = await startWorker(config, uniqueQueue('drivers'));
});

afterAll(async () => {
  await tw?.stop();
  process.env.PATH = savedPath;
  for (const key of STANDIN_ENV) delete process.env[key];
});

/** A fresh simulated Windows driver store and fresh argv logs for each test. */
beforeEach(() => {
  const at = path.join(dir, `standin-${++standinCount}`);
  fs.mkdirSync(at, { recursive: true });
  for (const key of STANDIN_ENV) delete process.env[key];
  process.env.PNPUTIL_STANDIN_STATE = writePnputilStandinState(at);
  process.env.PNPUTIL_STANDIN_LOG = path.join(at, 'pnputil.log');
  process.env.POWERSHELL_STANDIN_LOG = path.join(at, 'powershell.log');
});

function calls(file: string | undefined): string[][] {
  if (!file || !fs.existsSync(file)) return [];
  return fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as string[]);
}
const pnputilCalls = () => calls(process.env.PNPUTIL_STANDIN_LOG);
const powershellCalls = () => calls(process.env.POWERSHELL_STANDIN_LOG);

interface StandinDevice {
  instanceId: string;
  driver?: string;
  problemCode: number;
}
function standinState(): { devices: StandinDevice[]; packages: { publishedName: string }[] } {
  return JSON.parse(fs.readFileSync(process.env.PNPUTIL_STANDIN_STATE!, 'utf8'));
}
function standinDevice(id: string): StandinDevice {
  return standinState().devices.find((d) => d.instanceId === id)!;
}
/** Changes a device in the simulated store, as Windows (or System Restore) would. */
function setStandinDevice(id: string, patch: Partial<StandinDevice>): void {
  const state = standinState();
  Object.assign(
    state.devices.find((d) => d.instanceId === id)!,
    patch,
  );
  fs.writeFileSync(process.env.PNPUTIL_STANDIN_STATE!, JSON.stringify(state, null, 2));
}

function start(runbook: string, input: Record<string, unknown>) {
  return tw.client.workflow.start(runbook, {
    taskQueue: tw.taskQueue,
    workflowId: `${runbook}-${String(input.target)}-${Math.random().toString(36).slice(2, 8)}`,
    args: [input],
  });
}

type Handle = Awaited<ReturnType<typeof start>>;

/** Waits for a state of the run; on a time-out, says where the run is instead. */
async function waitFor(handle: Handle, predicate: (s: RunStatus) => boolean, what: string) {
  try {
    return await statusWhen(tw.client, handle.workflowId, predicate, what);
  } catch (err) {
    const s = await handle.query(statusQuery);
    throw new Error(
      `${(err as Error).message}; the run is ${s.state} at ${s.currentStep}: ${s.waiting?.reason ?? s.error ?? ''}`,
    );
  }
}
const atGate = (gate: string) => (s: RunStatus) => s.waiting?.gate === gate;
const waitingAt = (step: string) => (s: RunStatus) => s.state === 'waiting' && s.waiting?.step === step;

async function approve(handle: Handle, actor = 'alice'): Promise<void> {
  await handle.executeUpdate(approveUpdate, { args: [{ actor }] });
}

function audit(workflowId: string): AuditRow[] {
  return auditRowsOf(ledgerFile, workflowId);
}

async function auditHas(workflowId: string, event: string, text: string | RegExp): Promise<AuditRow> {
  const deadline = Date.now() + 10000;
  for (;;) {
    const row = audit(workflowId).find(
      (r) =>
        r.event === event && (typeof text === 'string' ? r.details.includes(text) : text.test(r.details)),
    );
    if (row) return row;
    if (Date.now() > deadline) throw new Error(`no ${event} audit row with ${String(text)}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

function partialOf(folder: string): string {
  return path.join(path.dirname(folder), `.${path.basename(folder)}.partial`);
}

/** Runs driverUpdate to completion with one approval. */
async function updateDriver(target: string, pkg: string): Promise<RunOutcome<DriverUpdateResult>> {
  const handle = await start('driverUpdate', { target, device: NIC, package: pkg });
  await waitFor(handle, atGate('install'), 'the install gate');
  await approve(handle);
  await waitFor(handle, (s) => s.state === 'completed', 'driverUpdate to complete');
  return (await handle.result()) as RunOutcome<DriverUpdateResult>;
}

describe('driverUpdate with the pnputil adapter', () => {
  test('restore point, validated pre-update backup, approval, install: the device works on the new driver', async () => {
    const handle = await start('driverUpdate', {
      target: 'pnUpdate',
      device: NIC,
      package: 'netdrv-1.1.0.0',
    });
    const gate = await waitFor(handle, atGate('install'), 'the install gate');
    const backup = gate.facts.backup as string;
    expect(backup.startsWith(path.join(dir, 'pnUpdate', 'backups', 'pre-update', safeDeviceId(NIC)))).toBe(
      true,
    );
    expect(gate.waiting!.reason).toContain(
      `install netdrv-1.1.0.0 (Contoso Ltd. 06/02/2025 1.1.0.0) on ${NIC} (Contoso Gigabit Network Connection), now using oem3.inf; pre-update backup ${backup}; restore point made`,
    );
    expect(powershellCalls()).toEqual([
      [
        '-NoProfile',
        '-NonInteractive',
        '-Command',
        "Checkpoint-Computer -Description 'Lifeboat driverUpdate netdrv-1.1.0.0 on Contoso Gigabit Network Connection' -RestorePointType MODIFY_SETTINGS -ErrorAction Stop",
      ],
    ]);
    // Nothing is installed before the approval.
    expect(pnputilCalls().some((c) => c[0] === '/add-driver')).toBe(false);
    expect(standinDevice(NIC)).toMatchObject({ driver: 'oem3.inf', problemCode: 0 });

    await approve(handle);
    const outcome = (await handle.result()) as RunOutcome<DriverUpdateResult>;
    expect(outcome.result).toEqual({
      outcome: 'updated',
      device: NIC,
      package: 'netdrv-1.1.0.0',
      driverBefore: 'oem3.inf',
      driverAfter: 'oem9.inf',
      problemCodeBefore: 0,
      problemCodeAfterInstall: 0,
      problemCodeAfter: 0,
      backup,
      restorePoint: {
        created: true,
        description: 'Lifeboat driverUpdate netdrv-1.1.0.0 on Contoso Gigabit Network Connection',
      },
      rebootRequired: false,
    });
    expect(standinDevice(NIC)).toMatchObject({ driver: 'oem9.inf', problemCode: 0 });
    expect(pnputilCalls().slice(-2)).toEqual([
      ['/add-driver', path.join(updates, 'netdrv-1.1.0.0', '*.inf'), '/subdirs', '/install'],
      ['/enum-devices', '/instanceid', NIC],
    ]);
    // The pre-update backup holds the old package byte for byte, and validates.
    expect(fs.readdirSync(path.join(backup, 'oem3.inf')).sort()).toEqual([
      'netdrv.cat',
      'netdrv.inf',
      'netdrv.sys',
    ]);
    expect(fs.readFileSync(path.join(backup, 'oem3.inf', 'netdrv.inf'), 'utf8')).toBe(infText(NETDRV_1_0));
    expect(await validateBackup(backup)).toMatchObject({ valid: true, packages: 1, files: 3 });
  });

  test('the new driver leaves problem code 28: automatic rollback from the pre-update backup; the device works again', async () => {
    const handle = await start('driverUpdate', {
      target: 'pnRollback',
      device: NIC,
      package: 'netdrv-2.0.0.0-broken',
    });
    await waitFor(handle, atGate('install'), 'the install gate');
    await approve(handle);
    const outcome = (await handle.result()) as RunOutcome<DriverUpdateResult>;
    const backup = outcome.result!.backup!;
    expect(outcome.result).toMatchObject({
      outcome: 'rolledBack',
      driverBefore: 'oem3.inf',
      driverAfter: 'oem3.inf',
      problemCodeBefore: 0,
      problemCodeAfterInstall: 28,
      problemCodeAfter: 0,
    });
    expect(standinDevice(NIC)).toMatchObject({ driver: 'oem3.inf', problemCode: 0 });
    // The exact pnputil invocations, in order.
    expect(pnputilCalls()).toEqual([
      ['/enum-devices', '/instanceid', NIC],
      ['/enum-drivers'],
      ['/enum-devices', '/instanceid', NIC],
      ['/enum-drivers'],
      ['/export-driver', 'oem3.inf', path.join(partialOf(backup), 'oem3.inf')],
      ['/add-driver', path.join(updates, 'netdrv-2.0.0.0-broken', '*.inf'), '/subdirs', '/install'],
      ['/enum-devices', '/instanceid', NIC],
      ['/enum-devices', '/instanceid', NIC],
      ['/add-driver', path.join(backup, 'oem3.inf', '*.inf'), '/subdirs', '/install'],
      ['/enum-devices', '/instanceid', NIC],
    ]);
    expect(await validateBackup(backup)).toMatchObject({ valid: true, packages: 1 });
    expect(outcome.status.steps.map((s) => s.name)).toEqual([
      'resolveTarget',
      'findDevice',
      'checkPackage',
      'checkDiskSpace',
      'createRestorePoint',
      'exportPreUpdateBackup',
      'gate:install',
      'installDriver',
      'verifyDevice',
      'rollbackDriver',
      'verifyRolledBack',
    ]);
    await auditHas(handle.workflowId, 'driver.rollback', 'problem code 28 after the update');
    // The failing package stays in the store (nothing is deleted).
    expect(standinState().packages.map((p) => p.publishedName)).toContain('oem9.inf');
  });

  test('the pre-update driver does not work either: STOP after the automatic rollback, with the way out', async () => {
    const handle = await start('driverUpdate', {
      target: 'pnRollbackFails',
      device: NIC,
      package: 'netdrv-2.0.0.0-broken',
    });
    const gate = await waitFor(handle, atGate('install'), 'the install gate');
    // Whatever broke the device breaks the old driver too (the stand-in reads this line on install).
    const inf = path.join(gate.facts.backup as string, 'oem3.inf', 'netdrv.inf');
    fs.writeFileSync(inf, `; standin-problem-code=31\r\n${fs.readFileSync(inf, 'utf8')}`);
    await approve(handle);
    const waiting = await waitFor(handle, waitingAt('verifyRolledBack'), 'the STOP after the rollback');
    expect(waiting.waiting!.errorType).toBe('DeviceProblem');
    expect(waiting.waiting!.reason).toBe(
      `device ${NIC} (Contoso Gigabit Network Connection) reports problem code 31 (Windows cannot load the drivers) [31 (0x1F) [CM_PROB_FAILED_ADD]] with driver oem10.inf; the rollback from ${gate.facts.backup as string} did not make it work; run System Restore (rstrui.exe) to the restore point made before the update, then retry to re-check the device, or stop`,
    );
    expect(waiting.facts.problemCodeAfterInstall).toBe(28);
    await handle.executeUpdate(stopUpdate, { args: [{ actor: 'alice', reason: 'System Restore by hand' }] });
    expect(((await handle.result()) as RunOutcome).state).toBe('stopped');
  });

  test('the restore point fails (System Protection off): skippable; a stop at the install gate changes nothing', async () => {
    process.env.POWERSHELL_STANDIN_FAIL = '1';
    const stateBefore = fs.readFileSync(process.env.PNPUTIL_STANDIN_STATE!);
    const handle = await start('driverUpdate', { target: 'pnGate', device: NIC, package: 'netdrv-1.1.0.0' });
    const failed = await waitFor(handle, waitingAt('createRestorePoint'), 'the restore point STOP');
    expect(failed.waiting).toMatchObject({ errorType: 'CommandFailed', allowed: ['retry', 'skip', 'stop'] });
    expect(failed.waiting!.reason).toMatch(
      /^powershell -NoProfile -NonInteractive -Command Checkpoint-Computer/,
    );
    expect(failed.waiting!.reason).toContain('System Protection is turned off for the system drive');
    expect(failed.waiting!.reason).toContain('skip to go on without a restore point');

    await handle.executeUpdate(skipUpdate, {
      args: [{ actor: 'bob', comment: 'System Protection is off here' }],
    });
    const gate = await waitFor(handle, atGate('install'), 'the install gate');
    expect(gate.facts.restorePoint).toEqual({ created: false, description: '', note: 'skipped' });
    expect(gate.waiting!.reason).toContain('no new restore point (skipped)');

    await handle.executeUpdate(stopUpdate, { args: [{ actor: 'bob', reason: 'not today' }] });
    const outcome = (await handle.result()) as RunOutcome;
    expect(outcome).toMatchObject({ state: 'stopped', stoppedBy: 'bob' });
    expect(fs.readFileSync(process.env.PNPUTIL_STANDIN_STATE!)).toEqual(stateBefore);
    expect(pnputilCalls().some((c) => c[0] === '/add-driver')).toBe(false);
  });

  test('a package the store does not select for the device: STOP, and stop leaves the working driver', async () => {
    process.env.POWERSHELL_STANDIN_RECENT = '1';
    const handle = await start('driverUpdate', {
      target: 'pnNotApplied',
      device: NIC,
      package: 'netdrv-1.2.0.0-lowrank',
    });
    const gate = await waitFor(handle, atGate('install'), 'the install gate');
    // Windows makes one restore point a day unless told otherwise, and only warns about a second.
    expect(gate.facts.restorePoint).toMatchObject({
      created: false,
      note: expect.stringContaining('one has already been created within the past 1440 minutes'),
    });
    expect(gate.waiting!.reason).toContain('no new restore point (WARNING: A new system restore point');
    await approve(handle);
    const waiting = await waitFor(handle, waitingAt('confirmDriverApplied'), 'the STOP');
    expect(waiting.waiting!.errorType).toBe('DeviceProblem');
    expect(waiting.waiting!.reason).toContain(
      `device ${NIC} (Contoso Gigabit Network Connection) uses oem3.inf, not oem9.inf`,
    );
    await handle.executeUpdate(stopUpdate, { args: [{ actor: 'carol', reason: 'keep the old driver' }] });
    const outcome = (await handle.result()) as RunOutcome;
    expect(outcome.state).toBe('stopped');
    // The compensation found the device on its pre-update driver and left it alone.
    await auditHas(handle.workflowId, 'compensation.succeeded', '"changed":false');
    expect(standinDevice(NIC)).toMatchObject({ driver: 'oem3.inf', problemCode: 0 });
  });

  test('a device with an inbox driver: the backup STOPs (skippable); a failed update without backup STOPs until the device works', async () => {
    const handle = await start('driverUpdate', {
      target: 'pnNoBackup',
      device: KEYBOARD,
      package: 'ps2kbd-broken',
    });
    const noBackup = await waitFor(handle, waitingAt('exportPreUpdateBackup'), 'the backup STOP');
    expect(noBackup.waiting!.errorType).toBe('NoValidBackup');
    expect(noBackup.waiting!.reason).toContain('uses keyboard.inf, which the driver store does not list');
    await handle.executeUpdate(skipUpdate, { args: [{ actor: 'alice' }] });
    const gate = await waitFor(handle, atGate('install'), 'the install gate');
    expect(gate.waiting!.reason).toContain('NO pre-update backup (skipped)');
    await approve(handle);
    const broken = await waitFor(handle, waitingAt('verifyDeviceWithoutBackup'), 'the device STOP');
    expect(broken.waiting!.errorType).toBe('DeviceProblem');
    expect(broken.waiting!.reason).toContain('reports problem code 10 (the device cannot start)');
    expect(broken.waiting!.reason).toContain(
      'there is no pre-update backup to roll back from; run System Restore',
    );
    // A responder restores the system: the keyboard is back on its inbox driver.
    setStandinDevice(KEYBOARD, { driver: 'keyboard.inf', problemCode: 0 });
    await handle.executeUpdate(retryUpdate, { args: [{ actor: 'alice', comment: 'System Restore done' }] });
    const outcome = (await handle.result()) as RunOutcome<DriverUpdateResult>;
    expect(outcome.result).toMatchObject({
      outcome: 'rolledBack',
      problemCodeAfterInstall: 10,
      problemCodeAfter: 0,
      driverAfter: 'keyboard.inf',
    });
    expect(outcome.result!.backup).toBeUndefined();
  });
});

describe('failedDriverUpdate', () => {
  test('with a pre-update backup: gate, rollback, the device verified at problem code 0', async () => {
    // pnputil exits 3010: installed, finished by the next reboot.
    const update = await updateDriver('pnFailed', 'netdrv-1.3.0.0-reboot');
    expect(update.result).toMatchObject({
      outcome: 'updated',
      driverAfter: 'oem9.inf',
      rebootRequired: true,
    });
    const backup = update.result!.backup!;
    // The user sees the device malfunction after the update.
    setStandinDevice(NIC, { problemCode: 43 });
    const before = pnputilCalls().length;

    const handle = await start('failedDriverUpdate', { target: 'pnFailed', device: NIC });
    const gate = await waitFor(handle, atGate('rollback'), 'the rollback gate');
    expect(gate.waiting!.reason).toBe(
      `roll ${NIC} (Contoso Gigabit Network Connection, problem code 43, driver oem9.inf) back to netdrv.inf 01/15/2025 1.0.0.0 from ${backup}. Approving: installs netdrv.inf 01/15/2025 1.0.0.0 from the pre-update backup ${backup} on ${NIC}, in place of oem9.inf`,
    );
    expect(gate.waiting!.plan!.effects).toEqual([
      `device ${NIC} (Contoso Gigabit Network Connection) stops using oem9.inf (problem code 43)`,
      'the failed driver package stays in the driver store (pnputil /enum-drivers lists it)',
      expect.stringMatching(/^the way back: /),
    ]);
    expect(gate.facts.backupsChecked).toEqual([{ folder: backup, valid: true }]);
    expect(standinDevice(NIC)).toMatchObject({ driver: 'oem9.inf', problemCode: 43 });
    await approve(handle, 'dave');
    const outcome = (await handle.result()) as RunOutcome<FailedDriverUpdateResult>;
    expect(outcome.result).toEqual({
      outcome: 'rolledBack',
      device: NIC,
      problemCodeBefore: 43,
      problemCodeAfter: 0,
      driverBefore: 'oem9.inf',
      driverAfter: 'oem3.inf',
      backup,
      rebootRequired: false,
    });
    expect(standinDevice(NIC)).toMatchObject({ driver: 'oem3.inf', problemCode: 0 });
    expect(pnputilCalls().slice(before)).toEqual([
      ['/enum-devices', '/instanceid', NIC],
      ['/enum-drivers'],
      ['/enum-devices', '/instanceid', NIC],
      ['/add-driver', path.join(backup, 'oem3.inf', '*.inf'), '/subdirs', '/install'],
      ['/enum-devices', '/instanceid', NIC],
    ]);
    expect(outcome.status.decisions).toEqual([
      expect.objectContaining({ action: 'approve', actor: 'dave', gate: 'rollback' }),
    ]);
  });

  test('without a backup: waits for System Restore; a retry while still broken waits again; once it works, retry completes', async () => {
    setStandinDevice(NIC, { driver: 'oem8.inf', problemCode: 28 });
    const handle = await start('failedDriverUpdate', { target: 'pnSystemRestore', device: NIC });
    const held = await waitFor(handle, waitingAt('systemRestore'), 'the System Restore hold');
    const folder = path.join(dir, 'pnSystemRestore', 'backups', 'pre-update', safeDeviceId(NIC));
    expect(held.waiting).toMatchObject({ errorType: 'NoValidBackup', allowed: ['retry', 'stop'] });
    expect(held.waiting!.reason).toBe(
      `no pre-update backup of ${NIC} in ${folder}; run System Restore (rstrui.exe) to the restore point made before the update, then retry to re-check the device, or stop`,
    );
    await auditHas(handle.workflowId, 'step.held', 'rstrui.exe');

    await handle.executeUpdate(retryUpdate, { args: [{ actor: 'erin', comment: 'restored (I think)' }] });
    const still = await waitFor(handle, waitingAt('recheckDevice'), 'the re-check STOP');
    expect(still.waiting!.errorType).toBe('DeviceProblem');
    expect(still.waiting!.reason).toContain('reports problem code 28 (the drivers are not installed)');
    expect(still.waiting!.reason).toContain('run System Restore (rstrui.exe)');

    // System Restore puts the machine back as it was before the update.
    setStandinDevice(NIC, { driver: 'oem3.inf', problemCode: 0 });
    await handle.executeUpdate(retryUpdate, { args: [{ actor: 'erin', comment: 'restored for real' }] });
    const outcome = (await handle.result()) as RunOutcome<FailedDriverUpdateResult>;
    expect(outcome.result).toMatchObject({
      outcome: 'systemRestore',
      problemCodeBefore: 28,
      problemCodeAfter: 0,
      driverAfter: 'oem3.inf',
    });
    expect(outcome.status.steps.find((s) => s.name === 'recheckDevice')).toMatchObject({ attempts: 2 });
    expect(pnputilCalls().some((c) => c[0] === '/add-driver')).toBe(false);
  });

  test('without a backup, stop ends the run as stopped with nothing changed', async () => {
    setStandinDevice(AUDIO, { problemCode: 39 });
    const stateBefore = fs.readFileSync(process.env.PNPUTIL_STANDIN_STATE!);
    const handle = await start('failedDriverUpdate', { target: 'pnSystemRestore', device: AUDIO });
    await waitFor(handle, waitingAt('systemRestore'), 'the System Restore hold');
    await handle.executeUpdate(stopUpdate, { args: [{ actor: 'erin', reason: 'reinstalling the machine' }] });
    const outcome = (await handle.result()) as RunOutcome;
    expect(outcome).toMatchObject({ state: 'stopped', stopReason: 'reinstalling the machine' });
    expect(fs.readFileSync(process.env.PNPUTIL_STANDIN_STATE!)).toEqual(stateBefore);
  });

  test('a pre-update backup folder without .inf is passed over with the reason; when it is the only one, STOP', async () => {
    const update = await updateDriver('pnInvalid', 'netdrv-1.1.0.0');
    const good = update.result!.backup!;
    // A newer backup whose package folder lost its .inf.
    const damaged = path.join(path.dirname(good), '29990101T000000Z-damaged');
    fs.cpSync(good, damaged, { recursive: true });
    fs.rmSync(path.join(damaged, 'oem3.inf', 'netdrv.inf'));
    setStandinDevice(NIC, { problemCode: 43 });

    const first = await start('failedDriverUpdate', { target: 'pnInvalid', device: NIC });
    const gate = await waitFor(first, atGate('rollback'), 'the rollback gate');
    expect(gate.facts.backupsChecked).toEqual([
      { folder: damaged, valid: false, problem: 'package folder oem3.inf has no .inf file' },
      { folder: good, valid: true },
    ]);
    expect(gate.facts.backupUsed).toBe(good);
    await first.executeUpdate(stopUpdate, { args: [{ actor: 'alice', reason: 'checked the search' }] });
    await first.result();

    fs.rmSync(good, { recursive: true });
    const before = snapshotTree(path.dirname(damaged));
    const second = await start('failedDriverUpdate', { target: 'pnInvalid', device: NIC });
    const stop = await waitFor(second, waitingAt('findPreUpdateBackup'), 'the STOP');
    expect(stop.waiting).toMatchObject({ errorType: 'IntegrityFailure', allowed: ['retry', 'skip', 'stop'] });
    expect(stop.waiting!.reason).toContain(
      `no usable pre-update backup of ${NIC} in ${path.dirname(damaged)}: 29990101T000000Z-damaged: package folder oem3.inf has no .inf file`,
    );
    await auditHas(second.workflowId, 'step.failed', 'package folder oem3.inf has no .inf file');
    // Skipping goes on to System Restore.
    await second.executeUpdate(skipUpdate, { args: [{ actor: 'alice' }] });
    const held = await waitFor(second, waitingAt('systemRestore'), 'the System Restore hold');
    expect(held.waiting!.reason).toMatch(/^no pre-update backup of .* run System Restore/);
    await second.executeUpdate(stopUpdate, { args: [{ actor: 'alice', reason: 'done looking' }] });
    expect(((await second.result()) as RunOutcome).state).toBe('stopped');
    expect(snapshotTree(path.dirname(damaged))).toEqual(before);
  });
});

describe('driverBackup', () => {
  test('each run writes a validated set of every package; the last keepSets valid sets are kept', async () => {
    const sets = path.join(dir, 'pnSets', 'backups', 'sets');
    fs.mkdirSync(path.join(sets, '00000000T000000Z-notaset'), { recursive: true });
    const results: DriverBackupResult[] = [];
    for (let i = 0; i < 3; i += 1) {
      const handle = await start('driverBackup', { target: 'pnSets' });
      results.push(((await handle.result()) as RunOutcome<DriverBackupResult>).result!);
    }
    const [first, second, third] = results;
    expect(third).toMatchObject({
      drivers: 3,
      files: 9,
      removed: [first.set],
      kept: [third.set, second.set],
    });
    expect(third.invalid).toEqual([
      {
        folder: path.join(sets, '00000000T000000Z-notaset'),
        problem: expect.stringContaining('driver-backup.json is missing'),
      },
    ]);
    expect(fs.readdirSync(sets).sort()).toEqual(
      ['00000000T000000Z-notaset', path.basename(second.set), path.basename(third.set)].sort(),
    );
    for (const set of [second.set, third.set]) {
      expect(await validateBackup(set)).toMatchObject({ valid: true, packages: 3, files: 9 });
      expect(fs.readdirSync(set).filter((n) => n.startsWith('netdrv.inf_amd64_'))).toHaveLength(1);
    }
    expect(pnputilCalls().slice(0, 2)).toEqual([
      ['/enum-drivers'],
      ['/export-driver', '*', partialOf(first.set)],
    ]);
  });

  test('a pnputil that hangs past timeoutSeconds: STOP "timed out" in status and audit; nothing half-written is left', async () => {
    process.env.PNPUTIL_STANDIN_HANG = '/export-driver';
    const backups = path.join(dir, 'pnHang', 'backups');
    fs.mkdirSync(path.join(backups, 'sets', '20200101T000000Z-kept'), { recursive: true });
    fs.writeFileSync(path.join(backups, 'sets', '20200101T000000Z-kept', 'note.txt'), 'an older set');
    const before = snapshotTree(backups);
    const handle = await start('driverBackup', { target: 'pnHang' });
    const waiting = await waitFor(handle, waitingAt('exportDriverSet'), 'the time-out STOP');
    expect(waiting.waiting!.errorType).toBe('CommandFailed');
    expect(waiting.waiting!.reason).toMatch(
      /^pnputil \/export-driver \* .*\.partial timed out after 1s \(driverStore\.timeoutSeconds\) and was ended/,
    );
    await auditHas(handle.workflowId, 'step.failed', 'timed out after 1s');
    expect(snapshotTree(backups)).toEqual(before);
    expect(fs.readdirSync(path.join(backups, 'sets'))).toEqual(['20200101T000000Z-kept']);
    await handle.executeUpdate(stopUpdate, { args: [{ actor: 'alice', reason: 'pnputil is stuck' }] });
    expect(((await handle.result()) as RunOutcome).state).toBe('stopped');
  });

  test('too little free space: STOP DiskSpace with the figures', async () => {
    const handle = await start('driverBackup', { target: 'pnFull' });
    const waiting = await waitFor(handle, waitingAt('checkDiskSpace'), 'the disk space STOP');
    expect(waiting.waiting!.errorType).toBe('DiskSpace');
    expect(waiting.waiting!.reason).toMatch(
      /^only [\d.]+ GiB \(\d+ bytes\) free for .*; driverStore\.minFreeBytes asks for 4194304\.00 GiB \(4503599627370496 bytes\)/,
    );
    await handle.executeUpdate(stopUpdate, { args: [{ actor: 'alice', reason: 'ok' }] });
    await handle.result();
    expect(pnputilCalls()).toEqual([]);
  });

  test('a pnputil that is not there: STOP naming the setting', async () => {
    const handle = await start('driverBackup', { target: 'pnMissing' });
    const waiting = await waitFor(handle, waitingAt('exportDriverSet'), 'the STOP');
    expect(waiting.waiting!.reason).toBe(
      `cannot run pnputil (driverStore.pnputil): '${path.join(dir, 'no-such-pnputil')}' was not found; install it or set driverStore.pnputil to its path, then retry`,
    );
    await handle.executeUpdate(stopUpdate, { args: [{ actor: 'alice', reason: 'ok' }] });
    await handle.result();
  });
});

describe('the directory adapter', () => {
  function devicesOf(name: string) {
    const file = (demos[name].driverStore as { devices: string }).devices;
    return (JSON.parse(fs.readFileSync(file, 'utf8')) as { devices: StandinDevice[] }).devices;
  }

  test('driverUpdate: package copied into the store, device bound, rescan run; restore point is a copy', async () => {
    const store = path.join(dir, 'dirUpdate', 'driver-store');
    const storeBefore = snapshotTree(store);
    const outcome = await updateDriver('dirUpdate', 'netdrv-1.1.0.0');
    expect(outcome.result).toMatchObject({
      outcome: 'updated',
      driverBefore: directoryName(NETDRV_1_0),
      driverAfter: 'netdrv-1.1.0.0',
      problemCodeAfter: 0,
    });
    expect(devicesOf('dirUpdate').find((d) => d.instanceId === NIC)).toMatchObject({
      driver: 'netdrv-1.1.0.0',
      problemCode: 0,
    });
    expect(snapshotTree(path.join(store, 'netdrv-1.1.0.0'))).toEqual(
      snapshotTree(path.join(updates, 'netdrv-1.1.0.0')),
    );
    const where = outcome.result!.restorePoint.where!;
    expect(snapshotTree(path.join(where, 'store'))).toEqual(storeBefore);
    expect(fs.existsSync(path.join(where, 'devices.json'))).toBe(true);
    expect(fs.readdirSync(path.join(outcome.result!.backup!))).toEqual([
      'driver-backup.json',
      directoryName(NETDRV_1_0),
    ]);
  });

  test('driverUpdate: the rescan reports problem code 28; rolled back automatically; nothing deleted', async () => {
    const outcome = await updateDriver('dirRollback', 'netdrv-2.0.0.0-broken');
    expect(outcome.result).toMatchObject({
      outcome: 'rolledBack',
      problemCodeAfterInstall: 28,
      problemCodeAfter: 0,
      driverAfter: directoryName(NETDRV_1_0),
    });
    expect(devicesOf('dirRollback').find((d) => d.instanceId === NIC)).toMatchObject({
      driver: directoryName(NETDRV_1_0),
      problemCode: 0,
    });
    const store = path.join(dir, 'dirRollback', 'driver-store');
    expect(fs.readdirSync(store).sort()).toEqual(
      ['ctxaudio-6.0.9000.1', 'ctxusbf-2.3.1.0', 'netdrv-1.0.0.0', 'netdrv-2.0.0.0-broken'].sort(),
    );
    // The verify step polled for settleSeconds before giving up on the new driver.
    const verify = outcome.status.steps.find((s) => s.name === 'verifyDevice')!;
    expect(verify.durationMs).toBeGreaterThanOrEqual(900);
  });

  test('driverUpdate: a different package under a name the store has: the old one is moved aside, never deleted', async () => {
    const store = path.join(dir, 'dirReplace', 'driver-store');
    const name = directoryName(NETDRV_1_0);
    const old = snapshotTree(path.join(store, name));
    const outcome = await updateDriver('dirReplace', name);
    expect(outcome.result).toMatchObject({ outcome: 'updated', driverBefore: name, driverAfter: name });
    expect(snapshotTree(path.join(store, name))).toEqual(
      snapshotTree(path.join(dir, 'dirReplace', 'updates', name)),
    );
    const aside = fs.readdirSync(path.join(store, '.lifeboat-replaced'));
    expect(aside).toEqual([expect.stringMatching(new RegExp(`^${name.replace(/\./g, '\\.')}\\.\\d{8}T`))]);
    expect(snapshotTree(path.join(store, '.lifeboat-replaced', aside[0]))).toEqual(old);
    expect(fs.readdirSync(store).filter((n) => n.includes('lifeboat-tmp'))).toEqual([]);
  });

  test('driverBackup: a store package without .inf fails validation: STOP naming it; nothing is kept as a set', async () => {
    const handle = await start('driverBackup', { target: 'dirNoInf' });
    const waiting = await waitFor(handle, waitingAt('exportDriverSet'), 'the IntegrityFailure');
    expect(waiting.waiting!.errorType).toBe('IntegrityFailure');
    expect(waiting.waiting!.reason).toMatch(
      /^the driver backup in .*\.partial is not valid: package folder broken-pkg has no \.inf file/,
    );
    await auditHas(handle.workflowId, 'step.failed', 'package folder broken-pkg has no .inf file');
    await handle.executeUpdate(stopUpdate, { args: [{ actor: 'alice', reason: 'fix the store first' }] });
    await handle.result();
    const sets = path.join(dir, 'dirNoInf', 'driver-backups', 'sets');
    expect(fs.readdirSync(sets).filter((n) => !n.startsWith('.'))).toEqual([]);
  });
});

describe('bad input and bad config', () => {
  async function failureOf(input: Record<string, unknown>): Promise<ApplicationFailure> {
    const handle = await start('driverUpdate', input);
    try {
      await handle.result();
    } catch (err) {
      expect(err).toBeInstanceOf(WorkflowFailedError);
      return (err as WorkflowFailedError).cause as ApplicationFailure;
    }
    throw new Error('the run did not fail');
  }

  test.each<[string, Record<string, unknown>, () => string]>([
    [
      'an unknown device id',
      { device: 'PCI\\VEN_DEAD&DEV_BEEF\\0', package: 'netdrv-1.1.0.0' },
      () =>
        `input.device: unknown device id 'PCI\\VEN_DEAD&DEV_BEEF\\0' on target 'pnUpdate'; known devices include '${NIC}', '${AUDIO}'`,
    ],
    [
      'an unknown package',
      { device: NIC, package: 'netdrv-9' },
      () =>
        `input.package: there is no driver package 'netdrv-9' in ${updates}; have: netdrv-1.1.0.0, netdrv-1.2.0.0-lowrank, netdrv-1.3.0.0-reboot, netdrv-2.0.0.0-broken, ps2kbd-broken, release-notes`,
    ],
    [
      'a package that is a path',
      { device: NIC, package: '../pnUpdate' },
      () => 'input.package must be the name of a folder',
    ],
    [
      'a package folder without .inf',
      { device: NIC, package: 'release-notes' },
      () =>
        `input.package: ${path.join(updates, 'release-notes')} holds no .inf file, so it is not a driver package`,
    ],
    ['a missing device field', { package: 'netdrv-1.1.0.0' }, () => 'input.device is required'],
  ])('%s fails the run at once, naming the field', async (_what, input, message) => {
    const failure = await failureOf({ target: 'pnUpdate', ...input });
    expect(failure.type).toBe('InvalidInput');
    expect(failure.message).toContain(message());
    expect(pnputilCalls().some((c) => c[0] === '/add-driver' || c[0] === '/export-driver')).toBe(false);
  });

  test("lifeboat start refuses an unknown device id with exit code 2 and the worker's message", async () => {
    const result = await lifeboat(
      [
        'start',
        'driverUpdate',
        '--target',
        'pnUpdate',
        '--input',
        JSON.stringify({ device: 'USB\\NOPE', package: 'netdrv-1.1.0.0' }),
      ],
      { LIFEBOAT_TASK_QUEUE: tw.taskQueue },
    );
    expect(result.code).toBe(2);
    expect(result.stderr).toContain("input.device: unknown device id 'USB\\NOPE' on target 'pnUpdate'");
  });

  test('an adapter that does not exist is a config error naming driverStore.adapter and the adapters', () => {
    const raw = {
      auditLedger: 'audit.sqlite',
      targets: { win: { driverStore: { adapter: 'devcon', backups: 'b', updates: 'u' } } },
    };
    let problems: string[] = [];
    try {
      parseConfig(raw, path.join(dir, 'bad.json'));
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      problems = (err as ConfigError).problems;
    }
    expect(problems).toEqual([
      'targets.win.driverStore.adapter is "devcon"; the driver store adapters are: pnputil, directory',
    ]);
  });
});
