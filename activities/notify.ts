/** (being written) */
import type { LifeboatConfig } from '../worker/config';

export function createNotifyActivities(_config: LifeboatConfig) {
  return {};
}
