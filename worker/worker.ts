/** Builds a Lifeboat worker from a config: used by the worker entrypoint and by the tests. */
import type { Client } from '@temporalio/client';
import { NativeConnection, Worker, type WorkerOptions } from '@temporalio/worker';
import { createActivities } from '../activities';
import { Catalog } from '../activities/lib/catalog';
import { loadIdentityKeys } from '../activities/lib/identityKeys';
import { openStores, type LedgerStore, type RecordStore } from '../activities/lib/stores';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { bundleInChildProcess } from './bundle';
import { CatalogMirror, reportingCatalog } from './catalogMirror';
import { ConfigError, type LifeboatConfig } from '../config';

export interface LifeboatWorkerOptions {
  connection: NativeConnection;
  namespace: string;
  taskQueue: string;
  config: LifeboatConfig;
  /** A prebuilt workflow bundle (tests build it once); otherwise the workflows are bundled in a child process. */
  workflowBundle?: WorkerOptions['workflowBundle'];
  /** How the worker names itself to Temporal (its build: see config/build.ts). */
  identity?: string;
  /** A Temporal client, for the activities that look at runs (the stuck-run sweep). */
  client?: () => Client;
}

/**
 * Reads every identity's keys: a config whose signed approvals could not be verified stops the
 * worker at start, with a ConfigError naming the setting.
 */
export async function checkIdentityKeys(config: LifeboatConfig): Promise<void> {
  try {
    await loadIdentityKeys(config.identities);
  } catch (err) {
    throw new ConfigError(config.source, [(err as Error).message]);
  }
}

export async function createLifeboatWorker(options: LifeboatWorkerOptions): Promise<{
  worker: Worker;
  ledger: LedgerStore;
  records: RecordStore;
  catalog: Catalog;
  close: () => Promise<void>;
}> {
  await checkIdentityKeys(options.config);
  const stores = await openStores(options.config);
  const { ledger, records } = stores;
  // With SQLite the catalog of record is this very file; with PostgreSQL the control plane's own
  // targets' catalog stays a file (with manifests) and reports its writes, as an agent does.
  let mirror: CatalogMirror | undefined;
  const catalog = new Catalog(options.config.catalog, { onChange: (c) => mirror?.mark(c) });
  if (stores.engine === 'postgres') {
    mirror = new CatalogMirror(
      () => catalog,
      'control-plane',
      async (report) => {
        // Only the control plane's own rows: an agent's (held_by set, e.g. copied by store migrate)
        // are its agent's to report, and an old copy here must not overwrite what it reported since.
        for (const b of report.backups) if (!b.heldBy) await records.putBackup(b, null);
        for (const d of report.drills) await records.putDrill(d);
        return { ok: true, backups: report.backups.length, drills: report.drills.length, refused: [] };
      },
      (message) => console.warn(`lifeboat worker: ${message}`),
    );
    mirror.markAll();
    await mirror.flush().catch(() => undefined);
  }
  let bundle: string | undefined;
  const worker = await Worker.create({
    connection: options.connection,
    namespace: options.namespace,
    taskQueue: options.taskQueue,
    activities: createActivities({
      config: options.config,
      ledger,
      records,
      catalog,
      client: options.client,
      ...(mirror ? { wrapHost: <T extends object>(a: T) => reportingCatalog(a, mirror) } : {}),
    }),
    // Given only when set: the SDK refuses an identity that is present but undefined.
    ...(options.identity ? { identity: options.identity } : {}),
    // Why: operators follow long backups and restores live (`lifeboat watch`), so progress reaches
    // the server every second instead of at 80% of the heartbeat timeout.
    maxHeartbeatThrottleInterval: '1 second',
    defaultHeartbeatThrottleInterval: '1 second',
    workflowBundle: options.workflowBundle ?? { codePath: bundle ?? (bundle = await bundleInChildProcess()) },
  });
  // The worker has read the bundle: its temp folder goes (one was left behind at every start).
  if (bundle) fs.rmSync(path.dirname(bundle), { recursive: true, force: true });
  return {
    worker,
    ledger,
    records,
    catalog,
    close: async () => {
      await stores.close();
      catalog.close();
    },
  };
}
