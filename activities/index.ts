/**
 * Every side effect Lifeboat performs, built from the worker's config by `createActivities(deps)`.
 * Workflows import the *type* `Activities` only and call these through `proxyActivities`.
 */
import type { Client } from '@temporalio/client';
import type { LifeboatConfig } from '../config';
import { createApprovalActivities } from './approvals';
import { createAuditChainActivities } from './auditChain';
import { createAuditActivities } from './audit';
import { createAuthTokenActivities } from './authTokens';
import { createAdoptActivities } from './adopt';
import { createBackupActivities } from './backup';
import { Catalogs } from './backupShared';
import { createConfigFileActivities } from './configFile';
import { createDrillActivities } from './drill';
import { createDrillProofActivities } from './drillProof';
import { createDriverActivities } from './drivers';
import { createExportActivities } from './exports';
import { createHealthActivities } from './health';
import { createHistoryActivities } from './history';
import { createImportActivities } from './imports';
import type { Catalog } from './lib/catalog';
import type { AuditLedger } from './lib/ledger';
import { createMigrationActivities } from './migration';
import { createNotifyActivities } from './notify';
import { createPanicActivities } from './panic';
import { createRestoreActivities } from './restore';
import { createProofRestoreActivities } from './proofRestore';
import { createRestorePlanActivities } from './restorePlan';
import { createStoreActivities } from './store';
import { createStuckActivities } from './stuck';
import { createTargetActivities } from './targets';

export interface ActivityDeps {
  config: LifeboatConfig;
  ledger: AuditLedger;
  catalog: Catalog;
  /** A Temporal client, for the activities that look at runs (the stuck-run sweep). */
  client?: () => Client;
}

/** Backups, restores and adoption of a config's targets, listed in `catalog` (tests and the bench use them alone). */
export function createStorageActivities(config: LifeboatConfig, catalog: Catalog) {
  const catalogs = new Catalogs(catalog);
  return {
    ...createBackupActivities(config, catalogs),
    ...createRestoreActivities(config, catalogs),
    ...createRestorePlanActivities(config, catalogs),
    ...createProofRestoreActivities(config, catalogs),
    ...createAdoptActivities(config, catalogs),
    ...createExportActivities(config),
    ...createImportActivities(config),
  };
}

export function createActivities(deps: ActivityDeps) {
  return {
    ...createTargetActivities(deps.config),
    ...createAuditActivities(deps.ledger),
    ...createApprovalActivities(deps.config, deps.ledger),
    ...createStoreActivities(deps.config),
    ...createStorageActivities(deps.config, deps.catalog),
    ...createDriverActivities(deps.config),
    ...createConfigFileActivities(deps.config),
    ...createAuditChainActivities(deps.config),
    ...createAuthTokenActivities(deps.config),
    ...createPanicActivities(deps.config),
    ...createHealthActivities(deps.config, deps.catalog),
    ...createNotifyActivities(deps.config),
    ...createMigrationActivities(deps.config),
    ...createDrillActivities(deps.config, deps.catalog),
    ...createDrillProofActivities(deps.config, deps.catalog),
    ...createStuckActivities(deps.config, deps.ledger, deps.client),
    ...createHistoryActivities(deps.client),
  };
}

export type Activities = ReturnType<typeof createActivities>;
