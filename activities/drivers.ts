/**
 * Activities of the driver runbooks (procedure 000): driverUpdate, failedDriverUpdate and
 * driverBackup. Every store operation goes through the target's `DriverStore` adapter
 * (activities/lib/drivers): `pnputil` on Windows, `directory` elsewhere.
 *
 * `createDriverActivities` returns them all: the device, the update package and its install in
 * driverUpdate.ts; the pre-update backups, the rollback and the driver sets in driverBackups.ts.
 */
import type { LifeboatConfig } from '../config';
import { createDriverBackupActivities } from './driverBackups';
import { createDriverUpdateActivities } from './driverUpdate';

export type { DeviceState, DriverPackage, RestorePointResult } from './lib/drivers/types';
export type { DeviceCheck, DeviceReport, InstallResult, UpdatePackage } from './driverUpdate';
export type {
  BackupCheck,
  BackupSearch,
  DiskSpace,
  DriverSet,
  PreUpdateBackup,
  PruneResult,
  RollbackResult,
} from './driverBackups';

export function createDriverActivities(config: LifeboatConfig) {
  return {
    ...createDriverUpdateActivities(config),
    ...createDriverBackupActivities(config),
  };
}
