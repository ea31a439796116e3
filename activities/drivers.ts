/** (being written) */
import type { LifeboatConfig } from '../worker/config';

export function createDriverActivities(_config: LifeboatConfig) {
  return {};
}
