/** Builds a Lifeboat worker from a config: used by the worker entrypoint and by the tests. */
import { NativeConnection, Worker, type WorkerOptions } from '@temporalio/worker';
import { createActivities } from '../activities';
import { Catalog } from '../activities/lib/catalog';
import { AuditLedger } from '../activities/lib/ledger';
import type { LifeboatConfig } from './config';

export interface LifeboatWorkerOptions {
  connection: NativeConnection;
  namespace: string;
  taskQueue: string;
  config: LifeboatConfig;
  /** A prebuilt workflow bundle (tests build it once); otherwise the workflows are bundled at start. */
  workflowBundle?: WorkerOptions['workflowBundle'];
}

export async function createLifeboatWorker(
  options: LifeboatWorkerOptions,
): Promise<{ worker: Worker; ledger: AuditLedger; catalog: Catalog; close: () => void }> {
  const ledger = new AuditLedger(options.config.auditLedger);
  const catalog = new Catalog(options.config.catalog);
  const worker = await Worker.create({
    connection: options.connection,
    namespace: options.namespace,
    taskQueue: options.taskQueue,
    activities: createActivities({ config: options.config, ledger, catalog }),
    ...(options.workflowBundle
      ? { workflowBundle: options.workflowBundle }
      : { workflowsPath: require.resolve('../workflows') }),
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
