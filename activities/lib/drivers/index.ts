/** Picks the driver store adapter a target's `driverStore.adapter` names. */
import type { TargetConfig } from '../../../config';
import { invalidInput } from '../../errors';
import { DirectoryStore } from './directory';
import { PnputilStore } from './pnputil';
import type { DriverStore, StoreHooks } from './types';

export const ADAPTERS = ['pnputil', 'directory'] as const;

export function createDriverStore(target: TargetConfig, hooks: StoreHooks = {}): DriverStore {
  const settings = target.driverStore;
  if (!settings)
    throw invalidInput(`target '${target.name}' has no 'driverStore' section in the worker's config`);
  switch (settings.adapter) {
    case 'pnputil':
      return new PnputilStore(settings, hooks);
    case 'directory':
      return new DirectoryStore(settings, target.commands, hooks);
    default:
      // parseConfig refuses this already; a config built another way gets the same answer.
      throw invalidInput(
        `targets.${target.name}.driverStore.adapter is ${JSON.stringify(settings.adapter)}; the driver store adapters are: ${ADAPTERS.join(', ')}`,
      );
  }
}

export type { DriverStore } from './types';
