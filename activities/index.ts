/**
 * Every side effect Lifeboat performs, built from the worker's config by `createActivities(deps)`.
 * Workflows import the *type* `Activities` only and call these through `proxyActivities`.
 */
import type { LifeboatConfig } from '../worker/config';
import { createAuditActivities } from './audit';
import type { AuditLedger } from './lib/ledger';
import { createStoreActivities } from './store';
import { createTargetActivities } from './targets';

export interface ActivityDeps {
  config: LifeboatConfig;
  ledger: AuditLedger;
}

export function createActivities(deps: ActivityDeps) {
  return {
    ...createTargetActivities(deps.config),
    ...createAuditActivities(deps.ledger),
    ...createStoreActivities(deps.config),
  };
}

export type Activities = ReturnType<typeof createActivities>;
