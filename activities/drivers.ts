/**
 * Activities of the driver runbooks (procedure 000): driverUpdate, failedDriverUpdate, driverBackup,
 * driverSetRestore and corruptedDriverStore. Every store operation goes through the target's `DriverStore` adapter
 * (activities/lib/drivers): `pnputil` on Windows, `directory` elsewhere.
 *
 * `createDriverActivities` returns them all: the device, the update package and its install in
 * driverUpdate.ts; the pre-update backups, the rollback and the driver sets in driverBackups.ts; the
 * full device scan, the restore of a whole set and the restore point search in driverRecovery.ts.
 */
import type { LifeboatConfig } from '../config';
import { createDriverBackupActivities } from './driverBackups';
import { createDriverRecoveryActivities } from './driverRecovery';
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
export type {
  DeviceScan,
  DevicesCheck,
  DriverSetChoice,
  RestorePointSearch,
  SetRestoreResult,
} from './driverRecovery';

export function createDriverActivities(config: LifeboatConfig) {
  return {
    ...createDriverUpdateActivities(config),
    ...createDriverBackupActivities(config),
    ...createDriverRecoveryActivities(config),
  };
}
