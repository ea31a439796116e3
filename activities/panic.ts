/** (being written) */
import type { LifeboatConfig } from '../worker/config';

export function createPanicActivities(_config: LifeboatConfig) {
  return {};
}
