/**
 * Activities of the driver runbooks (procedure 000): driverUpdate, failedDriverUpdate and
 * driverBackup. Every store operation goes through the target's `DriverStore` adapter
 * (activities/lib/drivers): `pnputil` on Windows, `directory` elsewhere. Backups are written into a
 * `.partial` folder, validated (an `.inf` in every package folder, no empty file, the expected
 * package count) and only then renamed into place; see activities/lib/drivers/backups.ts.
 */
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import { formatBytes } from '../common/bytes';
import type { DriverStoreSettings, LifeboatConfig, TargetConfig } from '../config';
import { invalidInput, stopFailure } from './errors';
import { exists, fsyncDir, writeFileAtomic } from './lib/files';
import {
  listBackupFolders,
  MANIFEST,
  preUpdateRoot,
  readManifest,
  setsRoot,
  validateBackup,
  type BackupManifest,
} from './lib/drivers/backups';
import { parseInfVersion, type InfVersion } from './lib/drivers/inf';
import { createDriverStore } from './lib/drivers';
import { isDirectory, listTree } from './lib/drivers/tree';
import {
  describeProblem,
  type DeviceState,
  type DriverPackage,
  type DriverStore,
  type RestorePointResult,
} from './lib/drivers/types';
import { freeBytes } from './lib/replace';
import { findTarget } from './targets';
import { withHeartbeats } from './lib/context';

export type { DeviceState, DriverPackage, RestorePointResult };

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

export interface DiskSpace {
  folder: string;
  freeBytes: number;
  minFreeBytes: number;
}

export interface PreUpdateBackup {
  /** False only when a responder skipped the backup. */
  made: boolean;
  folder?: string;
  driver?: DriverPackage;
  files?: number;
  bytes?: number;
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

export interface RollbackResult {
  changed: boolean;
  backup: string;
  /** The driver the device used before. */
  from?: string;
  publishedNames: string[];
  rebootRequired: boolean;
}

export interface BackupCheck {
  folder: string;
  valid: boolean;
  problem?: string;
}

export interface BackupSearch {
  found: boolean;
  /** Where the device's pre-update backups are looked for. */
  root?: string;
  folder?: string;
  driver?: DriverPackage;
  createdAt?: string;
  /** Every backup looked at, newest first, with why it was passed over. */
  checked: BackupCheck[];
}

export interface DriverSet {
  set: string;
  drivers: number;
  files: number;
  bytes: number;
}

export interface PruneResult {
  kept: string[];
  removed: string[];
  /** Sets that do not validate: left in place for a human to look at, never counted as kept. */
  invalid: BackupCheck[];
}

/** Only a folder name: no separators, no `..`, nothing hidden. */
const PACKAGE_NAME = /^[A-Za-z0-9][A-Za-z0-9._ ()+-]{0,127}$/;

function gib(bytes: number): string {
  return `${formatBytes(bytes, 'GiB', 2)} (${bytes} bytes)`;
}

function sameName(a: string | undefined, b: string | undefined): boolean {
  return a !== undefined && b !== undefined && a.toLowerCase() === b.toLowerCase();
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export function createDriverActivities(config: LifeboatConfig) {
  function driverTarget(targetName: string): { target: TargetConfig; settings: DriverStoreSettings } {
    const target = findTarget(config, targetName);
    if (!target.driverStore)
      throw invalidInput(`target '${targetName}' has no 'driverStore' section in the worker's config`);
    return { target, settings: target.driverStore };
  }

  function storeOf(targetName: string, beat?: (d: Record<string, unknown>) => void): DriverStore {
    return createDriverStore(driverTarget(targetName).target, { onProgress: beat });
  }

  async function requireDevice(store: DriverStore, device: string): Promise<DeviceState> {
    const found = await store.findDevice(device);
    if (!found) {
      throw stopFailure('DeviceProblem', `device ${device} is no longer reported by the driver store`);
    }
    return found;
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
      throw invalidInput(
        `input.package: ${folder} holds empty files (${empty.join(', ')}); it looks damaged`,
      );
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

    /** Free space in the backups folder against driverStore.minFreeBytes; too little is a STOP. */
    async checkDriverDiskSpace(targetName: string): Promise<DiskSpace> {
      const { settings } = driverTarget(targetName);
      const free = await freeBytes(settings.backups);
      if (free < settings.minFreeBytes) {
        throw stopFailure(
          'DiskSpace',
          `only ${gib(free)} free for ${settings.backups}; driverStore.minFreeBytes asks for ${gib(settings.minFreeBytes)}. Free some space (or lower minFreeBytes), then retry`,
        );
      }
      return { folder: settings.backups, freeBytes: free, minFreeBytes: settings.minFreeBytes };
    },

    /** A system restore point (pnputil: Checkpoint-Computer; directory: a copy of store and devices). */
    async createDriverRestorePoint(
      targetName: string,
      description: string,
      tag: string,
    ): Promise<RestorePointResult> {
      return withHeartbeats({}, (beat) => storeOf(targetName, beat).createRestorePoint(description, tag));
    },

    /**
     * Exports the device's current driver to `<backups>/pre-update/<device>/<tag>/` and validates
     * it. A retry finds a finished backup and returns it.
     */
    async exportPreUpdateBackup(
      targetName: string,
      device: string,
      tag: string,
      createdBy: string,
    ): Promise<PreUpdateBackup> {
      const { settings } = driverTarget(targetName);
      const root = preUpdateRoot(settings.backups, device);
      const final = path.join(root, tag);
      if (await exists(final)) {
        const verdict = await validateBackup(final);
        if (!verdict.valid)
          throw stopFailure(
            'IntegrityFailure',
            `pre-update backup ${final} is not valid: ${verdict.problem}`,
          );
        return {
          made: true,
          folder: final,
          driver: verdict.manifest?.drivers[0],
          files: verdict.files,
          bytes: verdict.bytes,
        };
      }
      return withHeartbeats({}, async (beat) => {
        const store = storeOf(targetName, beat);
        const current = await requireDevice(store, device);
        if (!current.driver) {
          throw stopFailure(
            'NoValidBackup',
            `device ${device} has no driver installed, so there is nothing to back up; skip to update without a pre-update backup (a failed update then needs ${store.adapter === 'pnputil' ? 'System Restore' : 'the restore point'}), or stop`,
          );
        }
        const pkg = (await store.listDrivers()).find((p) => sameName(p.publishedName, current.driver));
        if (!pkg) {
          throw stopFailure(
            'NoValidBackup',
            `device ${device} uses ${current.driver}, which the driver store does not list as a third-party package (an inbox driver cannot be exported); skip to update without a pre-update backup, or stop`,
          );
        }
        const partial = path.join(root, `.${tag}.partial`);
        await fsp.rm(partial, { recursive: true, force: true });
        await fsp.mkdir(partial, { recursive: true });
        try {
          await store.exportDriver(pkg.publishedName, path.join(partial, pkg.publishedName));
        } catch (err) {
          await fsp.rm(partial, { recursive: true, force: true });
          throw err;
        }
        const manifest: BackupManifest = {
          kind: 'pre-update',
          createdAt: new Date().toISOString(),
          createdBy,
          adapter: store.adapter,
          device: {
            instanceId: current.instanceId,
            description: current.description,
            driver: current.driver,
          },
          folders: [pkg.publishedName],
          drivers: [pkg],
          packages: 1,
        };
        await writeFileAtomic(path.join(partial, MANIFEST), `${JSON.stringify(manifest, null, 2)}\n`);
        const verdict = await validateBackup(partial, 1);
        if (!verdict.valid) {
          // Left in place for a human to look at; a retry starts it afresh.
          throw stopFailure(
            'IntegrityFailure',
            `the pre-update backup of ${pkg.publishedName} in ${partial} is not valid: ${verdict.problem}; nothing was installed. Check the driver store, then retry, or stop`,
          );
        }
        await fsp.rename(partial, final);
        await fsyncDir(root);
        return { made: true, folder: final, driver: pkg, files: verdict.files, bytes: verdict.bytes };
      });
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

    /**
     * Installs the driver kept in a pre-update backup (validated again first). With `onlyIfChanged`
     * (automatic rollback, and the compensation of an install), a device already on the backup's
     * driver is left alone, so it is harmless when nothing was installed.
     */
    async rollbackDriver(
      targetName: string,
      device: string,
      backupFolder: string,
      options: { onlyIfChanged?: boolean } = {},
    ): Promise<RollbackResult> {
      const verdict = await validateBackup(backupFolder);
      if (!verdict.valid || !verdict.manifest) {
        throw stopFailure(
          'IntegrityFailure',
          `pre-update backup ${backupFolder} is not usable: ${verdict.problem}; nothing was changed. Repair it and retry, or stop`,
        );
      }
      const manifest = verdict.manifest;
      const packageName = manifest.folders?.[0] ?? manifest.drivers[0]?.publishedName;
      const kept = manifest.drivers[0]?.publishedName;
      return withHeartbeats({}, async (beat) => {
        const store = storeOf(targetName, beat);
        const current = await requireDevice(store, device);
        if (options.onlyIfChanged && sameName(current.driver, kept)) {
          return {
            changed: false,
            backup: backupFolder,
            from: current.driver,
            publishedNames: [kept!],
            rebootRequired: false,
          };
        }
        const result = await store.addDriver(path.join(backupFolder, packageName), device);
        return {
          changed: true,
          backup: backupFolder,
          from: current.driver,
          publishedNames: result.publishedNames,
          rebootRequired: result.rebootRequired,
        };
      });
    },

    /**
     * The newest valid pre-update backup of the device. Invalid ones are passed over with the
     * reason; when there are backups but none is valid, that is a STOP (`IntegrityFailure`).
     */
    async findPreUpdateBackup(targetName: string, device: string): Promise<BackupSearch> {
      const { settings } = driverTarget(targetName);
      const root = preUpdateRoot(settings.backups, device);
      const checked: BackupCheck[] = [];
      for (const name of await listBackupFolders(root)) {
        const folder = path.join(root, name);
        const verdict = await validateBackup(folder);
        let problem = verdict.problem;
        const owner = verdict.manifest?.device?.instanceId;
        if (!problem && !sameName(owner, device)) problem = `it belongs to device ${owner ?? 'unknown'}`;
        if (!problem && verdict.manifest?.kind !== 'pre-update') problem = 'it is not a pre-update backup';
        checked.push({ folder, valid: problem === undefined, problem });
        if (problem === undefined) {
          return {
            found: true,
            root,
            folder,
            driver: verdict.manifest!.drivers[0],
            createdAt: verdict.manifest!.createdAt,
            checked,
          };
        }
      }
      if (checked.length > 0) {
        throw stopFailure(
          'IntegrityFailure',
          `no usable pre-update backup of ${device} in ${root}: ${checked.map((c) => `${path.basename(c.folder)}: ${c.problem}`).join('; ')}. Repair one and retry, skip to go on without one (System Restore), or stop`,
          { checked },
        );
      }
      return { found: false, root, checked };
    },

    /** A full driver backup (procedure 000 §2.1) into `<backups>/sets/<tag>/`, validated. */
    async exportDriverSet(targetName: string, tag: string, createdBy: string): Promise<DriverSet> {
      const { settings } = driverTarget(targetName);
      const root = setsRoot(settings.backups);
      const final = path.join(root, tag);
      if (await exists(final)) {
        const verdict = await validateBackup(final);
        if (!verdict.valid)
          throw stopFailure(
            'IntegrityFailure',
            `driver backup set ${final} is not valid: ${verdict.problem}`,
          );
        return { set: final, drivers: verdict.packages, files: verdict.files, bytes: verdict.bytes };
      }
      return withHeartbeats({}, async (beat) => {
        const store = storeOf(targetName, beat);
        const drivers = await store.listDrivers();
        const partial = path.join(root, `.${tag}.partial`);
        await fsp.rm(partial, { recursive: true, force: true });
        await fsp.mkdir(partial, { recursive: true });
        try {
          await store.exportAll(partial);
        } catch (err) {
          // An export that failed half-way is no backup: nothing of it stays.
          await fsp.rm(partial, { recursive: true, force: true });
          throw err;
        }
        const manifest: BackupManifest = {
          kind: 'set',
          createdAt: new Date().toISOString(),
          createdBy,
          adapter: store.adapter,
          drivers,
          packages: drivers.length,
        };
        await writeFileAtomic(path.join(partial, MANIFEST), `${JSON.stringify(manifest, null, 2)}\n`);
        const verdict = await validateBackup(partial, drivers.length);
        if (!verdict.valid) {
          throw stopFailure(
            'IntegrityFailure',
            `the driver backup in ${partial} is not valid: ${verdict.problem}; it is left there to look at. Retry (starts afresh), or stop`,
          );
        }
        await fsp.rename(partial, final);
        await fsyncDir(root);
        return { set: final, drivers: drivers.length, files: verdict.files, bytes: verdict.bytes };
      });
    },

    /** Keeps the newest driverStore.keepSets valid sets (so never the newest valid one) and removes older valid ones. */
    async pruneDriverSets(targetName: string): Promise<PruneResult> {
      const { settings } = driverTarget(targetName);
      const root = setsRoot(settings.backups);
      const kept: string[] = [];
      const removed: string[] = [];
      const invalid: BackupCheck[] = [];
      for (const name of await listBackupFolders(root)) {
        const folder = path.join(root, name);
        const verdict = await validateBackup(folder);
        const manifest = await readManifest(folder);
        if (!verdict.valid || manifest?.kind !== 'set') {
          invalid.push({ folder, valid: false, problem: verdict.problem ?? 'it is not a driver backup set' });
        } else if (kept.length < settings.keepSets) {
          kept.push(folder);
        } else {
          await fsp.rm(folder, { recursive: true, force: true });
          removed.push(folder);
        }
      }
      if (removed.length) await fsyncDir(root);
      return { kept, removed, invalid };
    },
  };
}
