/**
 * Activities of driverSetRestore and corruptedDriverStore (procedure 000 §3.2, §3.3): the full
 * device scan, the choice of a full driver backup set (by a tag under `<backups>/sets/` or a name of
 * `driverStore.restoreSets`, never a path from the input) and its restore, and the newest restore
 * point Lifeboat made. Every store operation goes through the target's `DriverStore` adapter.
 */
import * as path from 'node:path';
import type { DriverStoreSettings, LifeboatConfig } from '../config';
import type { BackupCheck } from './driverBackups';
import { driverTargets } from './driverShared';
import { invalidInput, stopFailure } from './errors';
import { withHeartbeats } from './lib/context';
import { listBackupFolders, setsRoot, validateDriverSet, type BackupVerdict } from './lib/drivers/backups';
import { isDirectory } from './lib/drivers/tree';
import {
  describeProblem,
  type DeviceState,
  type DriverPackage,
  type LifeboatRestorePoint,
} from './lib/drivers/types';

/** Problem codes of a damaged driver store (000 §3.3): 31 (cannot load the drivers), 39 (corrupted or missing). */
export const CORRUPT_CODES = [31, 39];

export interface DeviceScan {
  adapter: 'pnputil' | 'directory';
  devices: DeviceState[];
  /** Devices reporting problem code 31 or 39. */
  corrupted: DeviceState[];
  /** Devices reporting any problem. */
  problems: DeviceState[];
  /** driverStore.corruptDeviceThreshold. */
  threshold: number;
}

export interface DriverSetChoice {
  /** What the input (or the search) named: a driverStore.restoreSets name or a tag under `sets/`. */
  name: string;
  from: 'restoreSets' | 'sets';
  folder: string;
  createdAt?: string;
  createdBy?: string;
  drivers: DriverPackage[];
  packages: number;
  files: number;
  bytes: number;
  /** Sets looked at before this one (newest first), with why each was passed over. */
  checked: BackupCheck[];
}

export interface SetRestoreResult {
  name: string;
  folder: string;
  publishedNames: string[];
  rebootRequired: boolean;
  output: string[];
}

export interface RestorePointSearch {
  found: boolean;
  point?: LifeboatRestorePoint;
  /** How a responder goes back to it. */
  hint?: string;
}

export interface DevicesCheck {
  devices: DeviceState[];
  waitedMs: number;
}

/** A set name or tag: a folder name, never a path. */
const SET_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** `<id> (<description>): problem code 31 (…), driver oem3.inf` for each device. */
export function deviceList(devices: DeviceState[]): string {
  return devices
    .map(
      (d) =>
        `${d.instanceId} (${d.description}): ${describeProblem(d.problemCode)}, driver ${d.driver ?? 'none'}`,
    )
    .join('; ');
}

function choiceOf(
  name: string,
  from: DriverSetChoice['from'],
  verdict: BackupVerdict,
  checked: BackupCheck[],
): DriverSetChoice {
  return {
    name,
    from,
    folder: verdict.folder,
    createdAt: verdict.manifest?.createdAt,
    createdBy: verdict.manifest?.createdBy,
    drivers: verdict.manifest?.drivers ?? [],
    packages: verdict.packages,
    files: verdict.files,
    bytes: verdict.bytes,
    checked,
  };
}

/** Where the set `name` is: a restoreSets entry or a tag under `sets/`; bad input otherwise. */
async function locateSet(
  settings: DriverStoreSettings,
  targetName: string,
  name: string,
): Promise<{ folder: string; from: DriverSetChoice['from'] }> {
  const root = setsRoot(settings.backups);
  const named = Object.keys(settings.restoreSets).sort();
  const have = async () => {
    const tags = await listBackupFolders(root);
    return `driverStore.restoreSets names: ${named.join(', ') || 'none'}; sets in ${root}: ${tags.join(', ') || 'none'}`;
  };
  if (!SET_NAME.test(name) || name.includes('..')) {
    throw invalidInput(
      `input.set must be a driverStore.restoreSets name or the tag of a set in ${root}, not a path; ${await have()}`,
    );
  }
  const external = settings.restoreSets[name];
  const tagged = path.join(root, name);
  const isTag = await isDirectory(tagged);
  if (external !== undefined && isTag) {
    throw invalidInput(
      `input.set: '${name}' is both a driverStore.restoreSets name (${external}) and a set in ${root}; rename the restoreSets entry on target '${targetName}'`,
    );
  }
  if (external !== undefined) return { folder: external, from: 'restoreSets' };
  if (isTag) return { folder: tagged, from: 'sets' };
  throw invalidInput(`input.set: target '${targetName}' has no driver backup set '${name}'; ${await have()}`);
}

export function createDriverRecoveryActivities(config: LifeboatConfig) {
  const { driverTarget, storeOf } = driverTargets(config);

  /** The set `name` names, validated; an unusable one is a STOP naming the folder and its problem. */
  async function namedSet(targetName: string, name: string): Promise<DriverSetChoice> {
    const { settings } = driverTarget(targetName);
    const { folder, from } = await locateSet(settings, targetName, name);
    const verdict = await validateDriverSet(folder);
    if (!verdict.valid) {
      const what = from === 'restoreSets' ? `driverStore.restoreSets.${name}` : 'a driverBackup set';
      throw stopFailure(
        'IntegrityFailure',
        `driver backup set ${folder} (${what}) is not usable: ${verdict.problem}; nothing was changed. Repair it (or name another set) and retry, or stop`,
      );
    }
    return choiceOf(name, from, verdict, []);
  }

  return {
    /** Every device the store reports; those with problem code 31 or 39 apart (000 §3.3 step 1). */
    async scanDriverDevices(targetName: string): Promise<DeviceScan> {
      const { settings } = driverTarget(targetName);
      return withHeartbeats({}, async (beat) => {
        const store = storeOf(targetName, beat);
        const devices = await store.listDevices();
        return {
          adapter: store.adapter,
          devices,
          corrupted: devices.filter((d) => CORRUPT_CODES.includes(d.problemCode)),
          problems: devices.filter((d) => d.problemCode !== 0),
          threshold: settings.corruptDeviceThreshold,
        };
      });
    },

    /**
     * The full driver backup set `name` names, or without a name the newest valid set under
     * `<backups>/sets/` (invalid ones passed over, named). None at all is a STOP (`NoValidBackup`)
     * ending with `whenNone`, what a responder does then.
     */
    async findDriverSet(
      targetName: string,
      name: string | null | undefined,
      options: { whenNone?: string } = {},
    ): Promise<DriverSetChoice> {
      // An absent input field arrives as null (JSON has no undefined).
      if (name) return namedSet(targetName, name);
      const root = setsRoot(driverTarget(targetName).settings.backups);
      const whenNone =
        options.whenNone ??
        'run driverBackup, or name a set with input.set (a driverStore.restoreSets name or a tag), then retry, or stop';
      const checked: BackupCheck[] = [];
      for (const tag of await listBackupFolders(root)) {
        const verdict = await validateDriverSet(path.join(root, tag));
        checked.push({ folder: verdict.folder, valid: verdict.valid, problem: verdict.problem });
        if (verdict.valid) return choiceOf(tag, 'sets', verdict, checked);
      }
      if (checked.length > 0) {
        throw stopFailure(
          'IntegrityFailure',
          `no usable driver backup set in ${root}: ${checked.map((c) => `${path.basename(c.folder)}: ${c.problem}`).join('; ')}. Repair one and retry, or ${whenNone}`,
          { checked },
        );
      }
      throw stopFailure('NoValidBackup', `no driver backup set in ${root}; ${whenNone}`);
    },

    /** Adds every package of the set (validated again first) and installs each on matching devices. */
    async restoreDriverSet(targetName: string, name: string): Promise<SetRestoreResult> {
      const set = await namedSet(targetName, name);
      return withHeartbeats({}, async (beat) => {
        const result = await storeOf(targetName, beat).addDriverSet(set.folder);
        return { name, folder: set.folder, ...result };
      });
    },

    /** The newest restore point Lifeboat made, and how a responder goes back to it. */
    async findLifeboatRestorePoint(targetName: string): Promise<RestorePointSearch> {
      return withHeartbeats({}, async (beat) => {
        const store = storeOf(targetName, beat);
        const point = await store.latestRestorePoint();
        return point ? { found: true, point, hint: store.systemRestoreHint(point) } : { found: false };
      });
    },

    /**
     * The full scan (000 §3.2 step 6, §3.3 step 4): every device must report problem code 0. With
     * `settle`, polls for up to driverStore.settleSeconds. Otherwise a STOP (`DeviceProblem`) lists
     * each device with its code, and ends with `instruction`.
     */
    async checkAllDevices(
      targetName: string,
      options: { settle?: boolean; instruction?: string } = {},
    ): Promise<DevicesCheck> {
      const { settings } = driverTarget(targetName);
      return withHeartbeats({}, async (beat) => {
        const store = storeOf(targetName, beat);
        const started = Date.now();
        const deadline = started + (options.settle ? settings.settleSeconds * 1000 : 0);
        for (;;) {
          const devices = await store.listDevices();
          const failing = devices.filter((d) => d.problemCode !== 0);
          if (failing.length === 0) return { devices, waitedMs: Date.now() - started };
          if (Date.now() >= deadline) {
            throw stopFailure(
              'DeviceProblem',
              `${failing.length} of ${devices.length} device(s) still report a problem: ${deviceList(failing)}; ${options.instruction ?? 'check them, then retry to scan again, or stop'}`,
              { failing },
            );
          }
          beat({ failing: failing.length });
          await sleep(1000);
        }
      });
    },
  };
}
