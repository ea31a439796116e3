/** Builds a Lifeboat worker from a config: used by the worker entrypoint and by the tests. */
import type { Client } from '@temporalio/client';
import { NativeConnection, Worker, type WorkerOptions } from '@temporalio/worker';
import { createActivities } from '../activities';
import { Catalog } from '../activities/lib/catalog';
import { loadIdentityKeys } from '../activities/lib/identityKeys';
import { AuditLedger } from '../activities/lib/ledger';
import { bundleInChildProcess } from './bundle';
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

export async function createLifeboatWorker(
  options: LifeboatWorkerOptions,
): Promise<{ worker: Worker; ledger: AuditLedger; catalog: Catalog; close: () => void }> {
  // Every identity's keys are read now: a config the run could not verify against stops the worker.
  try {
    await loadIdentityKeys(options.config.identities);
  } catch (err) {
    throw new ConfigError(options.config.source, [(err as Error).message]);
  }
  const ledger = new AuditLedger(options.config.auditLedger);
  const catalog = new Catalog(options.config.catalog);
  const worker = await Worker.create({
    connection: options.connection,
    namespace: options.namespace,
    taskQueue: options.taskQueue,
    activities: createActivities({ config: options.config, ledger, catalog, client: options.client }),
    // Given only when set: the SDK refuses an identity that is present but undefined.
    ...(options.identity ? { identity: options.identity } : {}),
    // Why: operators follow long backups and restores live (`lifeboat watch`), so progress reaches
    // the server every second instead of at 80% of the heartbeat timeout.
    maxHeartbeatThrottleInterval: '1 second',
    defaultHeartbeatThrottleInterval: '1 second',
    workflowBundle: options.workflowBundle ?? { codePath: await bundleInChildProcess() },
  });
  return {
    worker,
    ledger,
    catalog,
    close: () => {
      ledger.close();
      catalog.close();
    },
  };
}
