/**
 * Every side effect Lifeboat performs, built from the worker's config by `createActivities(deps)`.
 * Workflows import the *type* `Activities` only and call these through `proxyActivities`.
 */
import type { Client } from '@temporalio/client';
import type { LifeboatConfig } from '../config';
import { createAgentActivities } from './agents';
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
import { createFleetActivities } from './fleet';
import { createHealthActivities } from './health';
import { createHistoryActivities } from './history';
import { createImportActivities } from './imports';
import type { Catalog } from './lib/catalog';
import type { LedgerStore, RecordStore } from './lib/stores';
import { createMigrationActivities } from './migration';
import { createNotifyActivities } from './notify';
import { createPanicActivities } from './panic';
import { createRestoreActivities } from './restore';
import { createProofRestoreActivities } from './proofRestore';
import { createRestorePlanActivities } from './restorePlan';
import { createStoreActivities } from './store';
import { createStuckActivities } from './stuck';
import { createTargetActivities } from './targets';
import { collectingAfter } from './lib/youngGc';

export interface ActivityDeps {
  config: LifeboatConfig;
  ledger: LedgerStore;
  /** The catalog of record and the registry of agents (the control plane's). */
  records: RecordStore;
  /** The catalog of the control plane's own targets' backups, with their manifests (a SQLite file). */
  catalog: Catalog;
  /** A Temporal client, for the activities that look at runs (the stuck-run sweep). */
  client?: () => Client;
  /** Wraps the host activities (with PostgreSQL: each reports its catalog writes to the records). */
  wrapHost?: <T extends object>(activities: T) => T;
}

/** Backups, restores and adoption of a config's targets, listed in `catalog` (tests and the bench use them alone). */
export function createStorageActivities(config: LifeboatConfig, catalog: Catalog) {
  const catalogs = new Catalogs(catalog);
  // Each followed by a full collection when it left much in the heap (youngGc.ts says why).
  return collectingAfter({
    ...createBackupActivities(config, catalogs),
    ...createRestoreActivities(config, catalogs),
    ...createRestorePlanActivities(config, catalogs),
    ...createProofRestoreActivities(config, catalogs),
    ...createAdoptActivities(config, catalogs),
    ...createExportActivities(config),
    ...createImportActivities(config),
  });
}

/**
 * The activities that touch a host's targets (their files, commands and keys): what an agent runs on
 * its host (worker/agent.ts), and the control plane for the targets of its own config.
 */
export function createHostActivities(config: LifeboatConfig, catalog: Catalog) {
  return {
    ...createStoreActivities(config),
    ...createStorageActivities(config, catalog),
    ...createDriverActivities(config),
    ...createConfigFileActivities(config),
    ...createAuditChainActivities(config),
    ...createAuthTokenActivities(config),
    ...createPanicActivities(config),
    ...createHealthActivities(config, catalog),
    ...createMigrationActivities(config),
    ...createDrillActivities(config, catalog),
    ...createDrillProofActivities(config, catalog),
  };
}

export function createActivities(deps: ActivityDeps) {
  return {
    ...createTargetActivities(deps.config, deps.records),
    ...createAuditActivities(deps.ledger),
    ...createApprovalActivities(deps.config, deps.ledger),
    ...(deps.wrapHost ?? ((a) => a))(createHostActivities(deps.config, deps.catalog)),
    ...createNotifyActivities(deps.config),
    ...createStuckActivities(deps.config, deps.ledger, deps.client),
    ...createHistoryActivities(deps.client),
    ...createFleetActivities(deps.config, deps.client, {
      // The agents' targets, as they announced them.
      extraTargets: async () =>
        (await deps.records.targets()).map((t) => ({
          name: t.target,
          labels: t.labels,
          sections: t.sections,
        })),
    }),
    ...createAgentActivities(deps.config, deps.ledger, deps.records, deps.client),
  };
}

export type Activities = ReturnType<typeof createActivities>;
