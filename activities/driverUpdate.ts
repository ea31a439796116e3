/**
 * Activities of driverUpdate and failedDriverUpdate (procedure 000) that act on the device and the
 * update package: find the device and its driver, check the package named in the input, make a
 * restore point, install, and check the device afterwards. The backups they make and roll back
 * from are in driverBackups.ts.
 */
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import type { DriverStoreSettings, LifeboatConfig } from '../config';
import { driverTargets, requireDevice, sameName } from './driverShared';
import { invalidInput, stopFailure } from './errors';
import { withHeartbeats } from './lib/context';
import { preUpdateRoot } from './lib/drivers/backups';
import { parseInfVersion, type InfVersion } from './lib/drivers/inf';
import { isDirectory, listTree } from './lib/drivers/tree';
import {
  describeProblem,
  type DeviceState,
  type DriverPackage,
  type RestorePointResult,
} from './lib/drivers/types';

export interface DeviceReport {
  adapter: 'pnputil' | 'directory';
  device: DeviceState;
  /** The package the device uses, when the store lists it (pnputil lists third-party packages only). */
  driverPackage?: DriverPackage;
  /** Where this device's pre-update backups are kept. */
  preUpdateFolder: string;
  /** What a responder does when there is no pre-update backup. */
  restoreHint: string;
}

export interface UpdatePackage {
  package: string;
  folder: string;
  infs: string[];
  files: number;
  bytes: number;
  identity: InfVersion;
}

export interface InstallResult {
  package: string;
  publishedNames: string[];
  rebootRequired: boolean;
  output: string[];
}

export interface DeviceCheck {
  device: DeviceState;
  /** Problem code 0 and (when a driver was expected) that driver. */
  working: boolean;
  driverMatches: boolean;
  waitedMs: number;
}

/** Only a folder name: no separators, no `..`, nothing hidden. */
const PACKAGE_NAME = /^[A-Za-z0-9][A-Za-z0-9._ ()+-]{0,127}$/;

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function packageFolder(settings: DriverStoreSettings, name: string): Promise<UpdatePackage> {
  const available = async () => {
    try {
      const names = (await fsp.readdir(settings.updates, { withFileTypes: true }))
        .filter((e) => e.isDirectory() && !e.name.startsWith('.'))
        .map((e) => e.name)
        .sort();
      return names.length ? names.join(', ') : 'none';
    } catch {
      return `none (cannot read ${settings.updates})`;
    }
  };
  if (!PACKAGE_NAME.test(name) || name.includes('..')) {
    throw invalidInput(
      `input.package must be the name of a folder in driverStore.updates (${settings.updates}), not a path; have: ${await available()}`,
    );
  }
  const folder = path.join(settings.updates, name);
  if (!(await isDirectory(folder))) {
    throw invalidInput(
      `input.package: there is no driver package '${name}' in ${settings.updates}; have: ${await available()}`,
    );
  }
  const tree = await listTree(folder);
  const infs = tree.filter((f) => f.path.toLowerCase().endsWith('.inf')).map((f) => f.path);
  if (infs.length === 0) {
    throw invalidInput(
      `input.package: ${folder} holds no .inf file, so it is not a driver package; have: ${await available()}`,
    );
  }
  const empty = tree.filter((f) => f.size === 0).map((f) => f.path);
  if (empty.length > 0) {
    throw invalidInput(`input.package: ${folder} holds empty files (${empty.join(', ')}); it looks damaged`);
  }
  const identity = parseInfVersion(await fsp.readFile(path.join(folder, ...infs[0].split('/')), 'utf8'));
  return {
    package: name,
    folder,
    infs,
    files: tree.length,
    bytes: tree.reduce((sum, f) => sum + f.size, 0),
    identity,
  };
}

export function createDriverUpdateActivities(config: LifeboatConfig) {
  const { driverTarget, storeOf } = driverTargets(config);
  return {
    /** The device and its driver; an id the store does not know is bad input (a few known ids are named). */
    async findDriverDevice(targetName: string, device: string): Promise<DeviceReport> {
      const { settings } = driverTarget(targetName);
      return withHeartbeats({}, async (beat) => {
        const store = storeOf(targetName, beat);
        const found = await store.findDevice(device);
        if (!found) {
          const all = await store.listDevices();
          const known = all.slice(0, 5).map((d) => `'${d.instanceId}'`);
          const more = all.length > known.length ? ` and ${all.length - known.length} more` : '';
          throw invalidInput(
            `input.device: unknown device id '${device}' on target '${targetName}'; known devices include ${known.join(', ') || 'none'}${more}`,
          );
        }
        const driverPackage = found.driver
          ? (await store.listDrivers()).find((p) => sameName(p.publishedName, found.driver))
          : undefined;
        return {
          adapter: store.adapter,
          device: found,
          driverPackage,
          preUpdateFolder: preUpdateRoot(settings.backups, found.instanceId),
          restoreHint: store.restoreHint,
        };
      });
    },

    /** The update package named in the input: a folder of driverStore.updates holding an .inf. */
    async checkDriverPackage(targetName: string, name: string): Promise<UpdatePackage> {
      return packageFolder(driverTarget(targetName).settings, name);
    },

    /** A system restore point (pnputil: Checkpoint-Computer; directory: a copy of store and devices). */
    async createDriverRestorePoint(
      targetName: string,
      description: string,
      tag: string,
    ): Promise<RestorePointResult> {
      return withHeartbeats({}, (beat) => storeOf(targetName, beat).createRestorePoint(description, tag));
    },

    /** Adds the update package to the store and installs it on matching devices. */
    async installDriverPackage(targetName: string, device: string, name: string): Promise<InstallResult> {
      const pkg = await packageFolder(driverTarget(targetName).settings, name);
      return withHeartbeats({}, async (beat) => {
        const result = await storeOf(targetName, beat).addDriver(pkg.folder, device);
        return { package: name, ...result };
      });
    },

    /**
     * Reads the device's status. With `settle`, polls for up to driverStore.settleSeconds until it
     * reports problem code 0 (and, with `expectDriver`, uses one of those packages). With
     * `require`, a device that is not working is a STOP (`DeviceProblem`) ending with `instruction`.
     */
    async checkDriverDevice(
      targetName: string,
      device: string,
      options: { settle?: boolean; require?: boolean; expectDriver?: string[]; instruction?: string } = {},
    ): Promise<DeviceCheck> {
      const { settings } = driverTarget(targetName);
      return withHeartbeats({}, async (beat) => {
        const store = storeOf(targetName, beat);
        const started = Date.now();
        const deadline = started + (options.settle ? settings.settleSeconds * 1000 : 0);
        const expect = options.expectDriver ?? [];
        for (;;) {
          const state = await requireDevice(store, device);
          const driverMatches = expect.length === 0 || expect.some((n) => sameName(n, state.driver));
          const working = state.problemCode === 0 && driverMatches;
          if (working || Date.now() >= deadline) {
            if (!working && options.require) {
              const what =
                state.problemCode !== 0
                  ? `device ${device} (${state.description}) reports ${describeProblem(state.problemCode)}${state.problem ? ` [${state.problem}]` : ''} with driver ${state.driver ?? 'none'}`
                  : `device ${device} (${state.description}) uses ${state.driver ?? 'no driver'}, not ${expect.join(' or ')}: the store did not select that package (pnputil does not force a lower-ranked driver onto a device)`;
              throw stopFailure(
                'DeviceProblem',
                `${what}; ${options.instruction ?? 'check the device, then retry to re-check it, or stop'}`,
              );
            }
            return { device: state, working, driverMatches, waitedMs: Date.now() - started };
          }
          beat({ device, problemCode: state.problemCode });
          await sleep(1000);
        }
      });
    },
  };
}
