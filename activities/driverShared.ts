/**
 * What the driver activities share: a target's driver store section and its adapter (see
 * activities/lib/drivers), a device that must still be reported, and package names compared the way
 * Windows compares them (without regard to case).
 */
import type { DriverStoreSettings, LifeboatConfig, TargetConfig } from '../config';
import { invalidInput, stopFailure } from './errors';
import { createDriverStore } from './lib/drivers';
import type { DeviceState, DriverStore } from './lib/drivers/types';
import { findTarget } from './targets';

/** The target's `driverStore` section (bad input when it has none) and its store adapter. */
export function driverTargets(config: LifeboatConfig) {
  function driverTarget(targetName: string): { target: TargetConfig; settings: DriverStoreSettings } {
    const target = findTarget(config, targetName);
    if (!target.driverStore)
      throw invalidInput(`target '${targetName}' has no 'driverStore' section in the worker's config`);
    return { target, settings: target.driverStore };
  }

  function storeOf(targetName: string, beat?: (d: Record<string, unknown>) => void): DriverStore {
    return createDriverStore(driverTarget(targetName).target, { onProgress: beat });
  }

  return { driverTarget, storeOf };
}

/** The device as the store reports it now; gone is a STOP (`DeviceProblem`). */
export async function requireDevice(store: DriverStore, device: string): Promise<DeviceState> {
  const found = await store.findDevice(device);
  if (!found) {
    throw stopFailure('DeviceProblem', `device ${device} is no longer reported by the driver store`);
  }
  return found;
}

export function sameName(a: string | undefined, b: string | undefined): boolean {
  return a !== undefined && b !== undefined && a.toLowerCase() === b.toLowerCase();
}
