/**
 * driverSetRestore — procedure 000 §3.2 (restore after an OS reinstall) and §4: a full driver
 * restore from a full driver backup set — one that driverBackup wrote under `<backups>/sets/<tag>/`,
 * or one a `driverStore.restoreSets` entry names (an external drive, a share). The input names a tag
 * or a restoreSets name, never a path; without one, the newest valid set under `sets/` is used.
 * The set is validated (an `.inf` in every package folder, no empty file, the expected count), gate
 * `restoreDrivers` shows it, every package is added (`pnputil /add-driver <set>\*.inf /subdirs
 * /install`), and a full scan must find every device at problem code 0.
 *
 * No compensation: the restore only adds packages to the store, and removes nothing.
 */
import type { RunbookMeta } from '../common/runbook';
import type { RunOutcome } from '../common/types';
import { runRunbook } from '../workflows/engine';
import { STORE_CALL, restoreSetAndScan } from './driverSteps';

export const meta: RunbookMeta = {
  name: 'driverSetRestore',
  title: 'Restore every driver from a full driver backup set',
  summary:
    "Validates a full driver backup set (a tag under the target's sets, or a driverStore.restoreSets name such as an external drive), waits for approval, adds and installs every package of it, then scans every device: each must report problem code 0.",
  source: '000_be3e8dfd50981456.txt — §3.2 OS reinstallation (steps 4–6), §2.3 backup validation, §4 RTO',
  objectives: { rtoMinutes: 10 },
  input: {
    set: {
      type: 'string',
      required: false,
      description:
        "a name in the target's driverStore.restoreSets, or the tag of a set under <driverStore.backups>/sets/; absent: the newest valid set there",
    },
  },
  gates: {
    restoreDrivers: {
      description: 'before the packages of the set are added to the driver store and installed',
      defaults: { approvers: ['*'], quorum: 1 },
    },
  },
  requires: ['driverStore'],
  // The set name is checked against the target's config and its sets before `start` returns.
  checksInput: true,
  stops: [
    'the set does not validate (a package folder without .inf, a folder with no .inf at all, an empty file, fewer packages than its driver-backup.json lists, no driver-backup.json, not a full set, the folder missing): the folder and its problem are named',
    'no set named and no driver backup set under <backups>/sets/ (or none that validates)',
    'a pnputil call fails, adds fewer packages than the set holds, or runs past driverStore.timeoutSeconds (its own words are shown); directory adapter: the rescan command fails, or the device-status file is unreadable',
    'a device still reports a problem after the restore (each is listed with its problem code): retry scans again',
  ],
  flow: [
    { id: 'resolveTarget', label: 'find the target in the worker config', next: ['findDriverSet'] },
    { id: 'findDriverSet', label: 'find the set and validate it', next: ['scanDevices'] },
    { id: 'scanDevices', label: 'scan the devices (what the gate shows)', next: ['gate:restoreDrivers'] },
    { id: 'gate:restoreDrivers', label: 'approve the restore', next: ['restoreDriverSet'] },
    {
      id: 'restoreDriverSet',
      label: 'add every package of the set and install it on matching devices',
      next: ['verifyDevices'],
    },
    { id: 'verifyDevices', label: 'full scan: every device at problem code 0', next: ['end:restored'] },
    { id: 'end:restored' },
  ],
};

export interface DriverSetRestoreInput {
  target: string;
  set?: string;
}

export interface DriverSetRestoreResult {
  outcome: 'restored';
  /** The tag or restoreSets name of the set, and its folder. */
  set: string;
  folder: string;
  packages: number;
  publishedNames: string[];
  devices: number;
  /** Devices that reported a problem before the restore. */
  problemsBefore: { instanceId: string; problemCode: number }[];
  rebootRequired: boolean;
}

export async function driverSetRestore(
  input: DriverSetRestoreInput,
): Promise<RunOutcome<DriverSetRestoreResult>> {
  return runRunbook(meta, input, async (run) => {
    const target = run.target.name;
    const set = await run.step('findDriverSet', 'findDriverSet', [target, input.set], STORE_CALL);
    run.fact('set', { name: set.name, from: set.from, folder: set.folder, packages: set.packages });
    if (set.checked.length > 1) run.fact('setsChecked', set.checked);
    run.acceptInput();

    const scan = await run.step('scanDevices', 'scanDriverDevices', [target], STORE_CALL);
    run.fact('problemsBefore', scan.problems.length);
    const { restored, devices } = await restoreSetAndScan(run, set, scan, 'restore the drivers');
    return {
      outcome: 'restored' as const,
      set: set.name,
      folder: set.folder,
      packages: set.packages,
      publishedNames: restored.publishedNames,
      devices: devices.length,
      problemsBefore: scan.problems.map((d) => ({ instanceId: d.instanceId, problemCode: d.problemCode })),
      rebootRequired: restored.rebootRequired,
    };
  });
}

/** What the registry (runbooks/registry.ts), the CLI and the docs know of this runbook. */
driverSetRestore.meta = meta;
