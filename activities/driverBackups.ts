/**
 * The backups the driver runbooks make and use (procedure 000 §2): a device's pre-update backup
 * (driverUpdate) and the rollback to it (failedDriverUpdate, or an install's compensation), and
 * full driver sets (driverBackup) with their pruning; the free space they need first. Backups are
 * written into a `.partial` folder, validated (an `.inf` in every package folder, no empty file,
 * the expected package count) and only then renamed into place; see activities/lib/drivers/backups.ts.
 */
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import { formatBytes } from '../common/bytes';
import type { LifeboatConfig } from '../config';
import { driverTargets, requireDevice, sameName } from './driverShared';
import { stopFailure } from './errors';
import { withHeartbeats } from './lib/context';
import {
  listBackupFolders,
  MANIFEST,
  preUpdateRoot,
  readManifest,
  setsRoot,
  validateBackup,
  type BackupManifest,
} from './lib/drivers/backups';
import type { DriverPackage } from './lib/drivers/types';
import { exists, fsyncDir, writeFileAtomic } from './lib/files';
import { freeBytes } from './lib/replace';

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

function gib(bytes: number): string {
  return `${formatBytes(bytes, 'GiB', 2)} (${bytes} bytes)`;
}

export function createDriverBackupActivities(config: LifeboatConfig) {
  const { driverTarget, storeOf } = driverTargets(config);
  return {
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
