/** (being written) */
import type { LifeboatConfig } from '../worker/config';

export function createHealthActivities(_config: LifeboatConfig) {
  return {};
}
