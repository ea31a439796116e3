/**
 * Every side effect Lifeboat performs, built from the worker's config by `createActivities(deps)`.
 * Workflows import the *type* `Activities` only and call these through `proxyActivities`.
 */
import type { LifeboatConfig } from '../worker/config';
import { createAuditActivities } from './audit';
import { createBackupActivities } from './backup';
import type { Catalog } from './lib/catalog';
import type { AuditLedger } from './lib/ledger';
import { createStoreActivities } from './store';
import { createTargetActivities } from './targets';

export interface ActivityDeps {
  config: LifeboatConfig;
  ledger: AuditLedger;
  catalog: Catalog;
}

export function createActivities(deps: ActivityDeps) {
  return {
    ...createTargetActivities(deps.config),
    ...createAuditActivities(deps.ledger),
    ...createStoreActivities(deps.config),
    ...createBackupActivities(deps.config, deps.catalog),
  };
}

export type Activities = ReturnType<typeof createActivities>;
