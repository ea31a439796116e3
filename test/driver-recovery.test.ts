/**
 * driverSetRestore (procedure 000 §3.2, §4) on a real dev server, against both adapters: `pnputil`
 * through the stand-ins in test/standins (a simulated Windows driver store; every argv recorded) and
 * `directory` through the demo fixture (test/driver-recovery-setup.ts sets both up).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { RunOutcome } from '../common/types';
import { ConfigError, parseConfig } from '../config';
import type { DriverSetRestoreResult } from '../runbooks/driverSetRestore';
import {
  AUDIO,
  directoryName,
  KEYBOARD,
  NETDRV_1_0,
  NIC,
  RTL8153,
  USB_ETHERNET,
} from '../scripts/demo-drivers';
import {
  atGate,
  driverRecoverySuite,
  pnputilCalls,
  reinstallWindows,
  setStandinDevice,
  standinBytes,
  standinState,
  waitingAt,
} from './driver-recovery-setup';
import { snapshotTree } from './helpers';

const usbDrive = (dir: string) => path.join(dir, 'pnReinstall', 'usb-drive', 'driver-backups');

const {
  suite,
  start,
  waitFor,
  approve,
  retry,
  stop,
  failureOf,
  backUpDrivers,
  devicesFile,
  directoryDevices,
  setDirectoryDevices,
} = driverRecoverySuite('driver-recovery', (dir, pn, dirTarget) => {
  const photos = path.join(dir, 'photos');
  fs.mkdirSync(photos, { recursive: true });
  fs.writeFileSync(path.join(photos, 'holiday.jpg'), 'JFIF not a driver');
  return {
    pnReinstall: pn('pnReinstall', { restoreSets: { usb: usbDrive(dir), photos } }),
    dirReinstall: dirTarget('dirReinstall'),
  };
});

describe('driverSetRestore with the pnputil adapter', () => {
  test('after an OS reinstall: the newest set is validated, approved, added with one pnputil call; every device works', async () => {
    const set = await backUpDrivers('pnReinstall');
    reinstallWindows();
    const before = pnputilCalls().length;
    const handle = await start('driverSetRestore', { target: 'pnReinstall' });
    const gate = await waitFor(handle, atGate('restoreDrivers'), 'the restoreDrivers gate');
    expect(gate.waiting!.reason).toMatch(
      new RegExp(
        `^restore the drivers: add the 3 driver package\\(s\\) of the set ${set.replace(/[\\^$.*+?()[\]{}|]/g, '\\$&')}, made \\d{4}-.*; 2 of 4 device\\(s\\) report a problem now\\. Approving: adds the 3 driver package`,
      ),
    );
    expect(gate.waiting!.plan!.effects).toEqual([
      'packages: netdrv.inf 01/15/2025 1.0.0.0, ctxaudio.inf 03/11/2024 6.0.9000.1, ctxusbf.inf 11/20/2023 2.3.1.0',
      'a package already in the store is left as it is; nothing is removed from the store',
      `devices reporting a problem now: ${NIC} (problem code 28), ${AUDIO} (problem code 28)`,
      'afterwards every device must report problem code 0, or the run waits, listing them',
    ]);
    expect(
      pnputilCalls()
        .slice(before)
        .some((c) => c[0] === '/add-driver'),
    ).toBe(false);
    await approve(handle);
    const outcome = (await handle.result()) as RunOutcome<DriverSetRestoreResult>;
    expect(outcome.result).toEqual({
      outcome: 'restored',
      set: path.basename(set),
      folder: set,
      packages: 3,
      publishedNames: ['oem9.inf', 'oem10.inf', 'oem11.inf'],
      devices: 4,
      problemsBefore: [
        { instanceId: NIC, problemCode: 28 },
        { instanceId: AUDIO, problemCode: 28 },
      ],
      rebootRequired: false,
    });
    expect(pnputilCalls().slice(before)).toEqual([
      ['/enum-devices'],
      ['/add-driver', path.join(set, '*.inf'), '/subdirs', '/install'],
      ['/enum-devices'],
    ]);
    expect(standinState().devices.map((d) => [d.instanceId, d.problemCode])).toEqual(
      [NIC, AUDIO, KEYBOARD, USB_ETHERNET].map((id) => [id, 0]),
    );
  });

  test('a restoreSets entry (an external drive) named in the input; a package folder without .inf is a STOP naming it, retry after the repair', async () => {
    const set = await backUpDrivers('pnReinstall');
    fs.cpSync(set, usbDrive(suite.dir), { recursive: true });
    const pkg = fs.readdirSync(usbDrive(suite.dir)).find((n) => n.startsWith('netdrv.inf_'))!;
    const inf = path.join(usbDrive(suite.dir), pkg, 'netdrv.inf');
    const infText = fs.readFileSync(inf);
    fs.rmSync(inf);
    reinstallWindows();
    const handle = await start('driverSetRestore', { target: 'pnReinstall', set: 'usb' });
    const stopped = await waitFor(handle, waitingAt('findDriverSet'), 'the invalid-set STOP');
    expect(stopped.waiting).toMatchObject({ errorType: 'IntegrityFailure', allowed: ['retry', 'stop'] });
    expect(stopped.waiting!.reason).toBe(
      `driver backup set ${usbDrive(suite.dir)} (driverStore.restoreSets.usb) is not usable: package folder ${pkg} has no .inf file; nothing was changed. Repair it (or name another set) and retry, or stop`,
    );
    fs.writeFileSync(inf, infText);
    await retry(handle, 'copied the INF back from the vendor CD');
    const gate = await waitFor(handle, atGate('restoreDrivers'), 'the gate');
    expect(gate.facts.set).toEqual({
      name: 'usb',
      from: 'restoreSets',
      folder: usbDrive(suite.dir),
      packages: 3,
    });
    await approve(handle);
    const outcome = (await handle.result()) as RunOutcome<DriverSetRestoreResult>;
    expect(outcome.result).toMatchObject({
      outcome: 'restored',
      set: 'usb',
      folder: usbDrive(suite.dir),
    });
    expect(pnputilCalls()).toContainEqual([
      '/add-driver',
      path.join(usbDrive(suite.dir), '*.inf'),
      '/subdirs',
      '/install',
    ]);
  });

  test('a device still failing after the restore: STOP listing it with its code; retry once it works', async () => {
    await backUpDrivers('pnReinstall');
    reinstallWindows();
    setStandinDevice(USB_ETHERNET, { driver: undefined, problemCode: 28 });
    const handle = await start('driverSetRestore', { target: 'pnReinstall' });
    await waitFor(handle, atGate('restoreDrivers'), 'the gate');
    await approve(handle);
    const stopped = await waitFor(handle, waitingAt('verifyDevices'), 'the device STOP');
    expect(stopped.waiting!.errorType).toBe('DeviceProblem');
    expect(stopped.waiting!.reason).toMatch(
      /^1 of 4 device\(s\) still report a problem: USB\\VID_0BDA&PID_8153\\000001000000 \(USB 10\/100\/1000 LAN\): problem code 28 \(the drivers are not installed\), driver none; the set .* did not make them work: install their drivers/,
    );
    setStandinDevice(USB_ETHERNET, { driver: 'oem12.inf', problemCode: 0 });
    await retry(handle, 'installed the Realtek driver by hand');
    expect(((await handle.result()) as RunOutcome<DriverSetRestoreResult>).result!.outcome).toBe('restored');
  });

  test.each<[string, Record<string, unknown>, RegExp]>([
    [
      'an unknown set name',
      { set: 'dvd' },
      /^input\.set: target 'pnReinstall' has no driver backup set 'dvd'; driverStore\.restoreSets names: photos, usb; sets in .*sets: /,
    ],
    [
      'a set that is a path',
      { set: '../dirReinstall' },
      /^input\.set must be a driverStore\.restoreSets name or the tag of a set in .*, not a path/,
    ],
  ])('%s fails the run at once, naming the field and what there is', async (_what, input, message) => {
    const failure = await failureOf(await start('driverSetRestore', { target: 'pnReinstall', ...input }));
    expect(failure.type).toBe('InvalidInput');
    expect(failure.message).toMatch(message);
    expect(pnputilCalls().some((c) => c[0] === '/add-driver')).toBe(false);
  });

  test('a backup folder without any .inf file: STOP naming it; stop changes nothing', async () => {
    const before = standinBytes();
    const handle = await start('driverSetRestore', { target: 'pnReinstall', set: 'photos' });
    const stopped = await waitFor(handle, waitingAt('findDriverSet'), 'the STOP');
    expect(stopped.waiting!.reason).toBe(
      `driver backup set ${path.join(suite.dir, 'photos')} (driverStore.restoreSets.photos) is not usable: it holds no .inf file, so it is no driver backup; nothing was changed. Repair it (or name another set) and retry, or stop`,
    );
    await stop(handle);
    expect(((await handle.result()) as RunOutcome).state).toBe('stopped');
    expect(standinBytes()).toEqual(before);
  });
});

describe('driverSetRestore with the directory adapter', () => {
  test('from the USB drive set: the empty store gets every package, devices bound by hardware id, all working', async () => {
    const { store } = suite.demos.dirReinstall.driverStore;
    fs.rmSync(store, { recursive: true });
    fs.mkdirSync(store);
    setDirectoryDevices('dirReinstall', (d) =>
      d.instanceId === KEYBOARD ? undefined : { driver: undefined, problemCode: 28 },
    );
    const handle = await start('driverSetRestore', { target: 'dirReinstall', set: 'usb' });
    await waitFor(handle, atGate('restoreDrivers'), 'the gate');
    await approve(handle);
    const outcome = (await handle.result()) as RunOutcome<DriverSetRestoreResult>;
    expect(outcome.result).toMatchObject({ outcome: 'restored', set: 'usb', packages: 4, devices: 4 });
    expect(fs.readdirSync(store).sort()).toEqual(
      ['ctxaudio-6.0.9000.1', 'ctxusbf-2.3.1.0', 'netdrv-1.0.0.0', directoryName(RTL8153)].sort(),
    );
    expect(snapshotTree(path.join(store, directoryName(NETDRV_1_0)))).toEqual(
      snapshotTree(
        path.join(
          path.dirname(devicesFile('dirReinstall')),
          'external-drive',
          'driver-backups',
          directoryName(NETDRV_1_0),
        ),
      ),
    );
    expect(directoryDevices('dirReinstall').map((d) => [d.driver, d.problemCode])).toEqual([
      [directoryName(NETDRV_1_0), 0],
      ['ctxaudio-6.0.9000.1', 0],
      ['keyboard.inf', 0],
      [directoryName(RTL8153), 0],
    ]);
  });
});

test('config: restoreSets names and corruptDeviceThreshold are checked', () => {
  let problems: string[] = [];
  try {
    parseConfig(
      {
        auditLedger: 'audit.sqlite',
        targets: {
          win: {
            driverStore: {
              adapter: 'pnputil',
              backups: 'b',
              updates: 'u',
              restoreSets: { 'my usb': 'E:/x', usb: 3 },
              corruptDeviceThreshold: 0,
            },
          },
        },
      },
      path.join(suite.dir, 'bad.json'),
    );
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    problems = (err as ConfigError).problems;
  }
  expect(problems).toEqual(
    expect.arrayContaining([
      'targets.win.driverStore.restoreSets.my usb must be named with letters, digits, ".", "_" or "-" (an input names it)',
      'targets.win.driverStore.corruptDeviceThreshold must be an integer of at least 1',
    ]),
  );
  expect(problems.some((p) => p.startsWith('targets.win.driverStore.restoreSets.usb '))).toBe(true);
});
