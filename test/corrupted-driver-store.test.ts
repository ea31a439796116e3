/**
 * corruptedDriverStore (procedure 000 §3.3) on a real dev server, against both adapters: `pnputil`
 * through the stand-ins in test/standins (a simulated Windows driver store and its restore points;
 * every argv recorded) and `directory` through the demo fixture (test/driver-recovery-setup.ts).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { RunOutcome } from '../common/types';
import type { CorruptedDriverStoreResult } from '../runbooks/corruptedDriverStore';
import { AUDIO, NIC, USB_ETHERNET } from '../scripts/demo-drivers';
import {
  atGate,
  driverRecoverySuite,
  pnputilCalls,
  powershellCalls,
  setStandinDevice,
  standinBytes,
  standinState,
  waitingAt,
} from './driver-recovery-setup';

const { suite, start, waitFor, approve, retry, stop, backUpDrivers, setDirectoryDevices } =
  driverRecoverySuite('corrupted-driver-store', (_dir, pn, dirTarget) => ({
    pnCorrupt: pn('pnCorrupt'),
    pnThreshold: pn('pnThreshold', { corruptDeviceThreshold: 3 }),
    dirCorrupt: dirTarget('dirCorrupt'),
  }));

describe('corruptedDriverStore', () => {
  const points = () => process.env.POWERSHELL_STANDIN_POINTS!;

  test('fewer devices with code 31/39 than corruptDeviceThreshold: ends at once, saying nothing was changed', async () => {
    setStandinDevice(NIC, { problemCode: 31 });
    setStandinDevice(AUDIO, { problemCode: 39 });
    const before = standinBytes();
    const outcome = (await (
      await start('corruptedDriverStore', { target: 'pnThreshold' })
    ).result()) as RunOutcome<CorruptedDriverStoreResult>;
    expect(outcome.result).toMatchObject({
      outcome: 'unchanged',
      threshold: 3,
      devices: 4,
      rebootRequired: false,
    });
    expect(outcome.result!.note).toBe(
      `2 of 4 device(s) report problem code 31 or 39 (${NIC}: 31, ${AUDIO}: 39), fewer than driverStore.corruptDeviceThreshold (3): the driver store is not taken to be corrupted, and nothing was changed (a single failing device: failedDriverUpdate)`,
    );
    expect(outcome.status.steps.map((s) => s.name)).toEqual(['resolveTarget', 'scanDevices']);
    expect(standinBytes()).toEqual(before);
    expect(powershellCalls()).toEqual([]);
  });

  test("with Lifeboat's restore points: a hold naming the newest; retry re-checks every device until they work", async () => {
    fs.writeFileSync(
      points(),
      JSON.stringify([
        {
          SequenceNumber: 9,
          Description: 'Lifeboat driverUpdate netdrv-1.0.0.0 on Contoso Gigabit Network Connection',
          CreationTime: '20250110080000.000000+000',
        },
        {
          SequenceNumber: 12,
          Description: 'Lifeboat driverUpdate netdrv-1.1.0.0 on Contoso Gigabit Network Connection',
          CreationTime: '20250602093000.000000+060',
        },
        { SequenceNumber: 14, Description: 'Windows Update', CreationTime: '20250610080000.000000+000' },
      ]),
    );
    setStandinDevice(NIC, { problemCode: 31 });
    setStandinDevice(AUDIO, { problemCode: 39 });
    const before = standinBytes();
    const handle = await start('corruptedDriverStore', { target: 'pnCorrupt' });
    const held = await waitFor(handle, waitingAt('systemRestore'), 'the System Restore hold');
    expect(held.waiting).toMatchObject({ errorType: 'DeviceProblem', allowed: ['retry', 'stop'] });
    expect(held.waiting!.reason).toBe(
      `2 of 4 device(s) report problem code 31 or 39 (${NIC}: 31, ${AUDIO}: 39); run System Restore (rstrui.exe) to restore point 12 "Lifeboat driverUpdate netdrv-1.1.0.0 on Contoso Gigabit Network Connection" made 2025-06-02T08:30:00.000Z (choose "Show more restore points" if it is not offered), let the machine restart, then retry to re-check the devices, or stop`,
    );
    expect(standinBytes()).toEqual(before);
    await retry(handle, 'not yet restored');
    const still = await waitFor(handle, waitingAt('recheckDevices'), 'the re-check STOP');
    expect(still.waiting!.reason).toContain(
      `2 of 4 device(s) still report a problem: ${NIC} (Contoso Gigabit Network Connection): problem code 31 (Windows cannot load the drivers), driver oem3.inf; ${AUDIO}`,
    );
    // System Restore puts the store back.
    setStandinDevice(NIC, { problemCode: 0 });
    setStandinDevice(AUDIO, { problemCode: 0 });
    await retry(handle, 'restored to point 12');
    const outcome = (await handle.result()) as RunOutcome<CorruptedDriverStoreResult>;
    expect(outcome.result).toMatchObject({
      outcome: 'systemRestore',
      restorePoint: 'Lifeboat driverUpdate netdrv-1.1.0.0 on Contoso Gigabit Network Connection',
      note: 'System Restore to "Lifeboat driverUpdate netdrv-1.1.0.0 on Contoso Gigabit Network Connection": all 4 device(s) report problem code 0',
    });
    expect(pnputilCalls().some((c) => c[0] === '/add-driver')).toBe(false);
  });

  test('no restore point Lifeboat made: the last known good set, behind the gate; every device works again', async () => {
    fs.writeFileSync(
      points(),
      JSON.stringify([
        { SequenceNumber: 3, Description: 'Windows Update', CreationTime: '20250610080000.000000+000' },
      ]),
    );
    const set = await backUpDrivers('pnCorrupt');
    setStandinDevice(NIC, { problemCode: 31 });
    setStandinDevice(AUDIO, { problemCode: 39 });
    const handle = await start('corruptedDriverStore', { target: 'pnCorrupt' });
    const gate = await waitFor(handle, atGate('restoreDrivers'), 'the gate');
    expect(gate.waiting!.reason).toMatch(
      /^2 of 4 device\(s\) report problem code 31 or 39 .*, and there is no restore point Lifeboat made; restore the drivers from the last known good set: add the 3 driver package\(s\)/,
    );
    expect(gate.facts.restorePoint).toBeNull();
    await approve(handle);
    const outcome = (await handle.result()) as RunOutcome<CorruptedDriverStoreResult>;
    expect(outcome.result).toMatchObject({ outcome: 'restoredFromSet', set });
    expect(pnputilCalls()).toContainEqual(['/add-driver', path.join(set, '*.inf'), '/subdirs', '/install']);
    expect(standinState().devices.every((d) => d.problemCode === 0)).toBe(true);
  });

  test('no restore point and no backup: STOP saying what to do; stop changes nothing', async () => {
    setStandinDevice(NIC, { problemCode: 39 });
    setStandinDevice(AUDIO, { problemCode: 39 });
    fs.rmSync(path.join(suite.dir, 'pnCorrupt', 'backups', 'sets'), { recursive: true, force: true });
    const before = standinBytes();
    const handle = await start('corruptedDriverStore', { target: 'pnCorrupt' });
    const stopped = await waitFor(handle, waitingAt('findDriverSet'), 'the STOP');
    expect(stopped.waiting).toMatchObject({ errorType: 'NoValidBackup', allowed: ['retry', 'stop'] });
    expect(stopped.waiting!.reason).toBe(
      `no driver backup set in ${path.join(suite.dir, 'pnCorrupt', 'backups', 'sets')}; there is no restore point Lifeboat made either. Copy a full driver backup set (with its driver-backup.json) into that folder and retry; or run System Restore (rstrui.exe) to a restore point Windows kept, or reinstall the drivers, and stop (this run changed nothing)`,
    );
    await stop(handle);
    expect(((await handle.result()) as RunOutcome).state).toBe('stopped');
    expect(standinBytes()).toEqual(before);
  });

  test('directory adapter: the restore point a driverUpdate made is named; putting it back and retrying completes', async () => {
    setDirectoryDevices('dirCorrupt', (d) =>
      d.instanceId === USB_ETHERNET ? { problemCode: 0 } : undefined,
    );
    const update = await start('driverUpdate', {
      target: 'dirCorrupt',
      device: NIC,
      package: 'netdrv-1.1.0.0',
    });
    await waitFor(update, atGate('install'), 'the install gate');
    await approve(update);
    const where = ((await update.result()) as RunOutcome<{ restorePoint: { where: string } }>).result!
      .restorePoint.where;
    setDirectoryDevices('dirCorrupt', (d) =>
      [NIC, AUDIO].includes(d.instanceId) ? { problemCode: 31 } : undefined,
    );
    const handle = await start('corruptedDriverStore', { target: 'dirCorrupt' });
    const held = await waitFor(handle, waitingAt('systemRestore'), 'the hold');
    const { store, devices } = suite.demos.dirCorrupt.driverStore;
    expect(held.waiting!.reason).toContain(
      `put back the store folder ${store} from ${path.join(where, 'store')} and the device-status file ${devices} from ${path.join(where, 'devices.json')} (the restore point "Lifeboat driverUpdate netdrv-1.1.0.0 on Contoso Gigabit Network Connection" made `,
    );
    fs.copyFileSync(path.join(where, 'devices.json'), devices);
    await retry(handle, 'put the copy back');
    expect(((await handle.result()) as RunOutcome<CorruptedDriverStoreResult>).result!.outcome).toBe(
      'systemRestore',
    );
  });
});
