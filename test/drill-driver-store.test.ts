/**
 * The corruptedDriverStore drill (procedure 000 §3.3 in a sandbox) on a real dev server with the
 * `directory` adapter of `npm run up`'s demo: the sandbox gets its own copies of the store, the
 * device-status file and the driver backups (no restore points: no System Restore hold); packages
 * are damaged and devices marked 39/31 there; corruptedDriverStore restores the last known good set
 * as the drill's child run, the drill's rescan command rescanning the sandbox's copies; the checklist
 * finds every device at problem code 0 and every package back as it was. Production keeps every
 * byte and mtime. A set that lacks a package fails the drill (signed, not passed); targets that
 * cannot drill it are refused, naming the setting.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { DrillProofFile } from '../activities/drillProof';
import { sandboxPath, type SandboxRecord } from '../activities/lib/sandbox';
import { statusQuery, stopUpdate } from '../common/messages';
import type { RunOutcome } from '../common/types';
import type { DrDrillResult } from '../runbooks/drDrill';
import { drillSection, writeDrillKeys } from '../scripts/demo-drill';
import {
  AUDIO,
  CTXAUDIO,
  CTXUSBF,
  NETDRV_1_0,
  NIC,
  USB_ETHERNET,
  directoryName,
  driversDrillCommands,
  writeDriverSet,
  writeDriversDemo,
} from '../scripts/demo-drivers';
import { startWorker, statusWhen, tempDir, uniqueQueue, writeConfig, type TestWorker } from './helpers';
import { snapshot } from './tree-helpers';

let dir: string;
let prod: string;
let drills: string;
let tw: TestWorker;
let before: Record<string, string>;
type DriverDemo = { driverStore: { store: string; devices: string; backups: string } };
const demos: Record<string, DriverDemo> = {};

/** The files of a folder by relative path, with their SHA-256 (folders have none). */
function files(top: string): Record<string, string> {
  return Object.fromEntries(
    Object.entries(snapshot(top))
      .map(([p, line]) => [p, line.split(' ')[0]])
      .filter(([, sha]) => sha !== ''),
  );
}

const devicesOf = (file: string) =>
  (JSON.parse(fs.readFileSync(file, 'utf8')) as { devices: { instanceId: string; problemCode: number }[] })
    .devices;

async function start(target: string, scenario = 'corruptedDriverStore') {
  return tw.client.workflow.start('drDrill', {
    taskQueue: tw.taskQueue,
    workflowId: `drDrill-${target}-${scenario}-${Math.random().toString(36).slice(2, 8)}`,
    args: [{ target, scenario }],
  });
}

beforeAll(async () => {
  dir = tempDir('drill-drivers');
  prod = path.join(dir, 'prod');
  drills = path.join(dir, 'drills');
  const keys = await writeDrillKeys(path.join(dir, 'keys'));
  const demo = (name: string, options: { recoverySets?: boolean } = {}) => {
    const at = path.join(prod, name);
    demos[name] = writeDriversDemo(at, options) as DriverDemo;
    return { ...demos[name], drill: drillSection(drills, keys, driversDrillCommands(at)) };
  };
  // The demo as `npm run up` writes it, with a restore point a driverUpdate left: a drill must not wait for System Restore.
  const drivers = { ...demo('drivers', { recoverySets: true }), objectives: { rtoMinutes: 15 } };
  const point = path.join(demos.drivers.driverStore.backups, 'restore-points', '20250601T000000Z-update');
  fs.mkdirSync(point, { recursive: true });
  fs.writeFileSync(
    path.join(point, 'restore-point.json'),
    JSON.stringify({
      description: 'Lifeboat driverUpdate netdrv-1.1.0.0',
      createdAt: '2025-06-01T00:00:00.000Z',
    }),
  );
  // A set made before the network driver was installed: it cannot bring that one back.
  const staleSet = demo('staleSet');
  writeDriverSet(path.join(demos.staleSet.driverStore.backups, 'sets', '20240101T000000Z-old'), [
    CTXAUDIO,
    CTXUSBF,
  ]);
  const targets = {
    drivers,
    staleSet,
    noSet: demo('noSet'),
    noDrillRescan: { ...demo('noDrillRescan', { recoverySets: true }), drill: drillSection(drills, keys) },
    pnputil: {
      driverStore: {
        adapter: 'pnputil',
        backups: path.join(prod, 'pnputil', 'backups'),
        updates: path.join(prod, 'pnputil', 'updates'),
      },
      drill: drillSection(drills, keys),
    },
  };
  // The USB LAN adapter works on Windows' own driver on the stale-set machine.
  const devices = demos.staleSet.driverStore.devices;
  const doc = JSON.parse(fs.readFileSync(devices, 'utf8')) as {
    devices: { instanceId: string; driver?: string; problemCode: number }[];
  };
  Object.assign(
    doc.devices.find((d) => d.instanceId === USB_ETHERNET)!,
    {
      driver: 'netusbw10.inf',
      problemCode: 0,
    },
  );
  fs.writeFileSync(devices, JSON.stringify(doc, null, 2));
  const { config } = writeConfig(dir, { auditLedger: 'audit.sqlite', targets });
  tw = await startWorker(config, uniqueQueue('drill-drivers'));
  before = snapshot(prod);
}, 60000);

afterAll(async () => {
  await tw?.stop();
});

test('corruptedDriverStore: the damaged store comes back from the last known good set in the sandbox; every device works; production untouched', async () => {
  const handle = await start('drivers');
  const outcome = (await handle.result()) as RunOutcome<DrDrillResult>;
  expect(outcome.state).toBe('completed');
  const result = outcome.result!;
  expect(result.checks.filter((c) => !c.ok)).toEqual([]);
  expect(result).toMatchObject({ outcome: 'passed', passed: true, scenario: 'corruptedDriverStore' });
  expect(result.recovery).toMatchObject({
    runbook: 'corruptedDriverStore',
    state: 'completed',
    outcome: 'restoredFromSet',
  });
  expect(result.checks.map((c) => c.name)).toEqual([
    'recoveryCompleted',
    'devicesWorking',
    'driverFilesRestored',
    'restoredFromDriverSet',
  ]);
  expect(result.rto).toMatchObject({ objectiveMinutes: 15, met: true });
  expect(result.backup).toMatchObject({ id: '20250101T000000Z-demo', createdAt: '2025-01-01T00:00:00.000Z' });

  // The disaster: NIC's package deleted (39), the audio driver's bytes overwritten (31), in the sandbox.
  const { store, devices, backups } = demos.drivers.driverStore;
  const disaster = JSON.parse(fs.readFileSync(path.join(result.sandbox, 'disaster.json'), 'utf8')) as {
    actions: string[];
  };
  expect(disaster.actions).toEqual([
    `damaged 2 package(s) of the sandbox's driver store ${sandboxPath(result.sandbox, store)}: netdrv-1.0.0.0 (deleted), ctxaudio-6.0.9000.1 (bytes overwritten in ctxaudio.sys)`,
    `marked 2 device(s) in the sandbox's device-status file ${sandboxPath(result.sandbox, devices)}: ${NIC}: problem code 39, ${AUDIO}: problem code 31`,
  ]);
  // The child went from the scan to the set (no restore point in the sandbox), the gate opened by the drill.
  const child = await tw.client.workflow.getHandle(result.recovery.workflowId).query(statusQuery);
  expect(child.steps.map((s) => s.name)).toEqual(
    expect.arrayContaining([
      'scanDevices',
      'findRestorePoint',
      'findDriverSet',
      'restoreDriverSet',
      'verifyDevices',
    ]),
  );
  expect(child.steps.map((s) => s.name)).not.toContain('systemRestore');
  expect(child.facts.restorePoint).toBeNull();
  const record = JSON.parse(
    fs.readFileSync(path.join(result.sandbox, 'sandbox.json'), 'utf8'),
  ) as SandboxRecord;
  expect(record.skipped).toContainEqual({
    path: path.join(backups, 'restore-points'),
    reason: expect.stringContaining("System Restore is a person's to run"),
  });

  // The sandbox's devices all work; its store holds production's packages, byte for byte, and the
  // USB LAN adapter's driver from the set (which the demo machine lacked).
  expect(devicesOf(sandboxPath(result.sandbox, devices)).map((d) => d.problemCode)).toEqual([0, 0, 0, 0]);
  const sandboxStore = sandboxPath(result.sandbox, store);
  for (const pkg of fs.readdirSync(store))
    expect(files(path.join(sandboxStore, pkg))).toEqual(files(path.join(store, pkg)));
  expect(fs.readdirSync(sandboxStore).filter((n) => !n.startsWith('.'))).toContain('rtux64w10-10.68.0.0');

  const proof = JSON.parse(fs.readFileSync(result.proof.path, 'utf8')) as DrillProofFile;
  expect(proof.proof).toMatchObject({
    scenario: 'corruptedDriverStore',
    passed: true,
    checks: result.checks,
  });
  expect(fs.existsSync(result.proof.signaturePath)).toBe(true);
  expect(snapshot(prod)).toEqual(before);
});

test('a set without the package a device uses: the recovery stops naming the device; stopping it fails the drill, with a signed proof', async () => {
  const handle = await start('staleSet');
  const childId = `${handle.workflowId}-corruptedDriverStore`;
  const waiting = await statusWhen(
    tw.client,
    childId,
    (s) => s.state === 'waiting',
    'the recovery to stop at the full scan',
  );
  expect(waiting.waiting).toMatchObject({ step: 'verifyDevices', errorType: 'DeviceProblem' });
  expect(waiting.waiting!.reason).toContain(`1 of 4 device(s) still report a problem: ${NIC}`);
  await tw.client.workflow
    .getHandle(childId)
    .executeUpdate(stopUpdate, { args: [{ actor: 'alice', reason: 'the set is stale' }] });
  const result = ((await handle.result()) as RunOutcome<DrDrillResult>).result!;
  expect(result).toMatchObject({ outcome: 'failed', passed: false });
  expect(result.recovery.state).toBe('stopped');
  const byName = Object.fromEntries(result.checks.map((c) => [c.name, c]));
  expect(byName.recoveryCompleted.ok).toBe(false);
  expect(byName.devicesWorking).toMatchObject({
    ok: false,
    detail: expect.stringContaining(
      `1 of 4 device(s) of the sandbox's device scan still report a problem (1 with code 31 or 39): ${NIC}`,
    ),
  });
  expect(byName.driverFilesRestored).toMatchObject({
    ok: false,
    detail: expect.stringContaining(`1 package(s) of the store missing (${directoryName(NETDRV_1_0)})`),
  });
  const proof = JSON.parse(fs.readFileSync(result.proof.path, 'utf8')) as DrillProofFile;
  expect(proof.proof.passed).toBe(false);
  expect(fs.existsSync(result.proof.signaturePath)).toBe(true);
  expect(snapshot(prod)).toEqual(before);
});

test('targets that cannot drill it are refused by the scenario check, naming the setting', async () => {
  const refusal = async (target: string) => {
    const err = await (await start(target)).result().catch((e: unknown) => e);
    return String((err as { cause?: { message?: string } }).cause?.message);
  };
  expect(await refusal('noSet')).toContain(
    `scenario 'corruptedDriverStore' does not fit target 'noSet': it runs corruptedDriverStore against the sandbox, which needs a valid full driver backup set in ${path.join(demos.noSet.driverStore.backups, 'sets')} (targets.noSet.driverStore.backups; there is none; run driverBackup first`,
  );
  expect(await refusal('noDrillRescan')).toContain(
    "which needs the command 'rescanDevices' in its drill's commands (targets.noDrillRescan.drill.commands.rescanDevices,",
  );
  expect(await refusal('pnputil')).toContain(
    "which needs a 'driverStore' section with the 'directory' adapter (targets.pnputil.driverStore.adapter; a machine's own driver store, pnputil, is never sandboxed)",
  );
  expect(snapshot(prod)).toEqual(before);
});
