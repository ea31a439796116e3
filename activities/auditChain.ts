/** (being written) */
import type { LifeboatConfig } from '../worker/config';

export function createAuditChainActivities(_config: LifeboatConfig) {
  return {};
}
