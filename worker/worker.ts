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

export async function createLifeboatWorker(
  options: LifeboatWorkerOptions,
): Promise<{ worker: Worker; ledger: AuditLedger; catalog: Catalog; close: () => void }> {
  await checkIdentityKeys(options.config);
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
