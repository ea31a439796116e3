/** (being written) */
import type { LifeboatConfig } from '../worker/config';

export function createConfigFileActivities(_config: LifeboatConfig) {
  return {};
}
