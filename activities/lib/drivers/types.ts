/**
 * The driver store as the driver runbooks see it, whatever the host: Windows' driver store through
 * `pnputil` (activities/lib/drivers/pnputil.ts) or a folder of driver packages with a device-status
 * file (activities/lib/drivers/directory.ts). The target's `driverStore.adapter` picks one.
 */

/** A driver package in the store. */
export interface DriverPackage {
  /** The name the store gave it: `oem3.inf` (pnputil) or the package folder's name (directory). */
  publishedName: string;
  /** The package's own INF name, e.g. `netdrv.inf`. */
  originalName: string;
  provider: string;
  className: string;
  /** pnputil's form: `MM/DD/YYYY x.y.z.w`. */
  version: string;
}

/** A device and the driver it uses. */
export interface DeviceState {
  instanceId: string;
  description: string;
  className?: string;
  /** Published name of the driver package the device uses; absent when it has none. */
  driver?: string;
  /** `Started`, `Problem`, `Disabled`, … as the store reports it. */
  status: string;
  /** 0 means the device works (Device Manager's "This device is working properly"). */
  problemCode: number;
  /** The store's own words for the problem, e.g. `28 (0x1C) [CM_PROB_FAILED_INSTALL]`. */
  problem?: string;
}

export interface AddDriverResult {
  /** Published names of the packages added (or found already in the store). */
  publishedNames: string[];
  /** pnputil exit code 3010: the install completes at the next reboot. */
  rebootRequired: boolean;
  /** The last lines of the store's report. */
  output: string[];
}

export interface RestorePointResult {
  created: boolean;
  description: string;
  /** Where the restore point is (directory adapter: its folder). */
  where?: string;
  /** Why none was created although the call succeeded (e.g. one already made in the last 24 hours). */
  note?: string;
}

/** A restore point Lifeboat made (its description starts with `Lifeboat`), as the store lists it. */
export interface LifeboatRestorePoint {
  description: string;
  /** When it was made (ISO 8601), when the store says. */
  createdAt?: string;
  /** pnputil: Windows' sequence number, which System Restore shows. */
  sequenceNumber?: number;
  /** directory: the folder holding the copy of the store and the device-status file. */
  where?: string;
}

/** Restore points Lifeboat makes are named so (driverUpdate: `Lifeboat driverUpdate <package> on <device>`). */
export const LIFEBOAT_RESTORE_POINT = /^Lifeboat\b/;

export interface DriverStore {
  readonly adapter: 'pnputil' | 'directory';
  /** What a responder does when there is no pre-update backup to roll back from. */
  readonly restoreHint: string;
  listDrivers(): Promise<DriverPackage[]>;
  listDevices(): Promise<DeviceState[]>;
  /** One device by instance id, or undefined when the store has no such device. */
  findDevice(instanceId: string): Promise<DeviceState | undefined>;
  /** Devices with a problem code other than 0. */
  problemDevices(): Promise<DeviceState[]>;
  /** Writes the files of one package into `destDir` (created if missing), at its top level. */
  exportDriver(publishedName: string, destDir: string): Promise<void>;
  /** Writes every package into `destDir`, one subfolder each. */
  exportAll(destDir: string): Promise<void>;
  /** Adds the package(s) in `packageDir` (subfolders included) and installs on matching devices. */
  addDriver(packageDir: string, device: string): Promise<AddDriverResult>;
  createRestorePoint(description: string, tag: string): Promise<RestorePointResult>;
  /**
   * Adds every package of a full backup set (one folder per package, subfolders included) and
   * installs each on the devices it matches; a package already in the store is left as it is.
   */
  addDriverSet(setDir: string): Promise<AddDriverResult>;
  /** The newest restore point Lifeboat made, or undefined when there is none. */
  latestRestorePoint(): Promise<LifeboatRestorePoint | undefined>;
  /** What a responder does to go back to `point`, ending with how to answer the run. */
  systemRestoreHint(point: LifeboatRestorePoint): string;
}

/** Callbacks from a long store operation (heartbeats). */
export interface StoreHooks {
  onProgress?: (details: Record<string, unknown>) => void;
}

/** Names of the problem codes a responder meets most, for messages (cfg.h `CM_PROB_*`). */
const PROBLEM_NAMES: Record<number, string> = {
  1: 'the device is not configured',
  3: 'the driver may be corrupted or the system is low on memory',
  10: 'the device cannot start',
  12: 'not enough free resources',
  14: 'a restart is needed',
  18: 'the drivers need to be reinstalled',
  19: 'the registry entry is incomplete or damaged',
  21: 'Windows is removing the device',
  22: 'the device is disabled',
  24: 'the device is not present or not working',
  28: 'the drivers are not installed',
  31: 'Windows cannot load the drivers',
  32: 'the driver service is disabled',
  37: 'the driver failed to initialise',
  39: 'the driver may be corrupted or missing',
  43: 'the device reported problems and was stopped',
  45: 'the device is not connected',
  52: 'the driver signature cannot be verified',
};

/** `problem code 28 (the drivers are not installed)` — for status and audit messages. */
export function describeProblem(code: number): string {
  const name = PROBLEM_NAMES[code];
  return name ? `problem code ${code} (${name})` : `problem code ${code}`;
}
