/**
 * Steps the driver runbooks share: the store-call timeouts, "roll back, then check the device" and
 * "restore a whole set, then scan every device".
 */
import type { DeviceScan, DeviceState, DriverSetChoice } from '../activities/drivers';
import type { RunbookRun } from '../workflows/engine';

/** A pnputil or driver-store call: may export or install for a long time, heartbeating. */
export const STORE_CALL = { startToCloseTimeout: '2 hours', heartbeatTimeout: '30 seconds' } as const;

/**
 * Installs the driver kept in a pre-update backup and checks that the device uses it and reports
 * problem code 0; a device that does not STOPs at `verifyStep` with `restoreHint` as the way on.
 */
export async function rollBackAndVerify(
  run: RunbookRun,
  device: string,
  folder: string,
  opts: { verifyStep: string; restoreHint: string; onlyIfChanged?: boolean },
) {
  const target = run.target.name;
  const rollback = await run.step(
    'rollbackDriver',
    'rollbackDriver',
    [target, device, folder, opts.onlyIfChanged ? { onlyIfChanged: true } : {}],
    STORE_CALL,
  );
  run.fact('rollback', rollback);
  const check = await run.step(
    opts.verifyStep,
    'checkDriverDevice',
    [
      target,
      device,
      {
        settle: true,
        require: true,
        expectDriver: rollback.publishedNames,
        instruction: `the rollback from ${folder} did not make it work; ${opts.restoreHint}`,
      },
    ],
    STORE_CALL,
  );
  return { rollback, device: check.device };
}

/** At most `max` names, then how many more. */
function someOf(names: string[], max = 8): string {
  return names.length <= max
    ? names.join(', ')
    : `${names.slice(0, max).join(', ')} and ${names.length - max} more`;
}

/** `<id> (problem code n)` for each device, or `none`. */
function devicesIn(devices: DeviceState[]): string {
  return someOf(devices.map((d) => `${d.instanceId} (problem code ${d.problemCode})`)) || 'none';
}

/**
 * Procedure 000 §3.2 steps 5–6 (and §3.3 steps 3–4): gate `restoreDrivers` showing the set and the
 * devices that report a problem now, every package of the set added and installed on the devices it
 * matches, then the full scan in which every device must report problem code 0 (else a STOP listing
 * them). `why` opens the gate's reason.
 */
export async function restoreSetAndScan(
  run: RunbookRun,
  set: DriverSetChoice,
  scan: DeviceScan,
  why: string,
) {
  const target = run.target.name;
  const where =
    set.from === 'restoreSets' ? `driverStore.restoreSets.${set.name} (${set.folder})` : set.folder;
  const drivers = set.drivers.map((d) => `${d.originalName} ${d.version}`.trim());
  await run.gate(
    'restoreDrivers',
    `${why}: add the ${set.packages} driver package(s) of the set ${where}${set.createdAt ? `, made ${set.createdAt}` : ''}; ${scan.problems.length} of ${scan.devices.length} device(s) report a problem now`,
    {
      summary: `adds the ${set.packages} driver package(s) of ${where} to the driver store and installs each on the devices it matches`,
      effects: [
        `packages: ${someOf(drivers) || 'none listed in its driver-backup.json'}`,
        'a package already in the store is left as it is; nothing is removed from the store',
        `devices reporting a problem now: ${devicesIn(scan.problems)}`,
        'afterwards every device must report problem code 0, or the run waits, listing them',
      ],
    },
  );
  const restored = await run.step('restoreDriverSet', 'restoreDriverSet', [target, set.name], STORE_CALL);
  run.fact('restored', { set: restored.folder, publishedNames: restored.publishedNames });
  const check = await run.step(
    'verifyDevices',
    'checkAllDevices',
    [
      target,
      {
        settle: true,
        instruction: `the set ${where} did not make them work: install their drivers (the vendor's package, or driverUpdate), then retry to scan again, or stop`,
      },
    ],
    STORE_CALL,
  );
  return { restored, devices: check.devices };
}
