/**
 * A worker for the engine's probe runbooks (test/probe/*): their own workflow bundle, Lifeboat's
 * activities plus the probe's, a target `probe`, on a queue of its own against the suite's server.
 */
import { Client, Connection } from '@temporalio/client';
import { NativeConnection, Worker, bundleWorkflowCode } from '@temporalio/worker';
import { createActivities } from '../../activities';
import type { AuditLedger } from '../../activities/lib/ledger';
import { SqliteLedgerStore, SqliteRecordStore } from '../../activities/lib/stores/sqlite';
import { quietRuntime, serverAddress, tempDir, uniqueQueue, writeConfig } from '../helpers';
import { createProbeActivities } from './activities';

export interface ProbeWorker {
  client: Client;
  taskQueue: string;
  /** The temp folder the config, ledger and markers live in. */
  dir: string;
  ledger: AuditLedger;
  stop: () => Promise<void>;
}

const QUIET = {
  info: () => undefined,
  warn: () => undefined,
  error: console.error,
  debug: () => undefined,
  trace: () => undefined,
  log: () => undefined,
};

/** Bundles `workflowsPath` and runs a worker for it until `stop()`. */
export async function startProbeWorker(
  workflowsPath: string,
  name: string,
  /** The config of the target `probe` (gate policies, …). */
  probeTarget: Record<string, unknown> = {},
): Promise<ProbeWorker> {
  quietRuntime();
  const bundle = await bundleWorkflowCode({ workflowsPath, logger: QUIET });
  const dir = tempDir(name);
  const { config } = writeConfig(dir, { auditLedger: 'audit.sqlite', targets: { probe: probeTarget } });
  const store = new SqliteLedgerStore(config.auditLedger);
  const records = new SqliteRecordStore(config.catalog);
  const nativeConnection = await NativeConnection.connect({ address: serverAddress() });
  const taskQueue = uniqueQueue(name);
  const worker = await Worker.create({
    connection: nativeConnection,
    taskQueue,
    workflowBundle: bundle,
    activities: {
      ...createActivities({ config, ledger: store, records, catalog: records.catalog }),
      ...createProbeActivities(),
    },
  });
  const running = worker.run();
  const connection = await Connection.connect({ address: serverAddress() });
  return {
    client: new Client({ connection }),
    taskQueue,
    dir,
    ledger: store.ledger,
    stop: async () => {
      worker.shutdown();
      await running;
      await store.close();
      await records.close();
      await nativeConnection.close();
      await connection.close();
    },
  };
}
