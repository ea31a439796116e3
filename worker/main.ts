/**
 * The worker entrypoint (`npm run worker`): reads the config (LIFEBOAT_CONFIG), connects to
 * TEMPORAL_ADDRESS / TEMPORAL_NAMESPACE and polls the `lifeboat` task queue until Ctrl-C.
 * A config with problems stops it at start with every problem listed.
 */
import * as v8 from 'node:v8';
// Why: backups stream gigabytes through 1 MiB buffers; a small young generation collects them
// sooner, keeping the worker's resident set flat (see test/backup-durability.test.ts).
v8.setFlagsFromString('--max-semi-space-size=2');

import { NativeConnection } from '@temporalio/worker';
import { UnreachableError, temporalTarget } from '../client/connection';
import { ConfigError, configPathFromEnv, loadConfig } from './config';
import { createLifeboatWorker } from './worker';

async function main(): Promise<number> {
  let config;
  try {
    config = loadConfig(configPathFromEnv());
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(`lifeboat worker: ${err.message}`);
      return 2;
    }
    throw err;
  }
  const target = temporalTarget();
  let connection: NativeConnection;
  try {
    connection = await NativeConnection.connect({ address: target.address });
  } catch (err) {
    console.error(`lifeboat worker: ${new UnreachableError(target.address, err).message}`);
    return 2;
  }
  try {
    const { worker, close } = await createLifeboatWorker({
      connection,
      config,
      namespace: target.namespace,
      taskQueue: target.taskQueue,
    });
    console.log(
      `lifeboat worker: polling task queue '${target.taskQueue}' on ${target.address} (namespace ${target.namespace}); ` +
        `${Object.keys(config.targets).length} target(s) from ${config.source}`,
    );
    try {
      await worker.run();
    } finally {
      close();
    }
  } finally {
    await connection.close();
  }
  return 0;
}

main().then(
  (code) => process.exit(code),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
