/**
 * The worker entrypoint (`npm run worker`): reads the config (LIFEBOAT_CONFIG), connects to Temporal
 * as the standard client configuration says (TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TEMPORAL_TLS_*,
 * TEMPORAL_API_KEY, TEMPORAL_PROFILE of temporal.toml: config/temporalProfile.ts) and polls the
 * `lifeboat` task queue until Ctrl-C. A config with problems stops it at start with every problem listed.
 */

import type { Client, Connection } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import { buildInfo, describeBuild, workerIdentity } from '../config/build';
import {
  TemporalConfigError,
  connectClient,
  connectionFailure,
  temporalTarget,
  type TemporalTarget,
} from '../config/connection';
import { ensureStuckRunSweep } from './sweep-schedule';
import { ConfigError, configPathFromEnv, loadConfig } from '../config';
import { SchemaTooNew, StoreUnavailable } from '../activities/lib/stores';
import { checkIdentityKeys, createLifeboatWorker } from './worker';

async function main(): Promise<number> {
  let config;
  try {
    config = loadConfig(configPathFromEnv());
    // Before connecting: a worker that could not verify a signed approval does not start.
    await checkIdentityKeys(config);
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(`lifeboat worker: ${err.message}`);
      return 2;
    }
    throw err;
  }
  let target: TemporalTarget;
  try {
    target = temporalTarget();
  } catch (err) {
    if (err instanceof TemporalConfigError) {
      console.error(`lifeboat worker: ${err.message}`);
      return 2;
    }
    throw err;
  }
  // The worker's connection and the client's below take the same options: one TLS, one API key.
  let connection: NativeConnection;
  try {
    connection = await NativeConnection.connect(target.connection);
  } catch (err) {
    console.error(`lifeboat worker: ${(await connectionFailure(target, err)).message}`);
    return 2;
  }
  const build = buildInfo();
  // A client of its own for the stuck-run sweep, and the Schedule that runs it.
  let client: Client;
  let clientConnection: Connection;
  try {
    ({ client, connection: clientConnection } = await connectClient(target));
  } catch (err) {
    console.error(`lifeboat worker: ${(err as Error).message}`);
    await connection.close();
    return 2;
  }
  try {
    let created;
    try {
      created = await createLifeboatWorker({
        connection,
        config,
        namespace: target.namespace,
        taskQueue: target.taskQueue,
        identity: workerIdentity(build),
        client: () => client,
      });
    } catch (err) {
      // Its stores: unreachable, a refused password (the variable named), a newer schema.
      if (err instanceof StoreUnavailable || err instanceof SchemaTooNew) {
        console.error(`lifeboat worker: ${err.message}`);
        return 1;
      }
      throw err;
    }
    const { worker, close } = created;
    // The sweep is a safety net: a server that refuses the Schedule never keeps the worker from starting.
    const sweep = await ensureStuckRunSweep(client, target.taskQueue).catch((err: unknown) => {
      console.warn(
        `lifeboat worker: the stuck-run sweep Schedule could not be made: ${(err as Error).message}`,
      );
      return 'none';
    });
    console.log(`lifeboat worker ${describeBuild(build)}; workflow bundle: ${created.bundle}`);
    console.log(
      `lifeboat worker: polling task queue '${target.taskQueue}' on ${target.address} (namespace ${target.namespace}); ` +
        `${Object.keys(config.targets).length} target(s) from ${config.source}; stuck runs swept by schedule '${sweep}'`,
    );
    try {
      await worker.run();
    } finally {
      await close();
    }
  } finally {
    await connection.close();
    await clientConnection.close();
  }
  return 0;
}

/** Runs the worker until it stops, then exits with its status (bin/lifeboat-worker.js calls this). */
export function start(): void {
  main().then(
    (code) => process.exit(code),
    (err) => {
      console.error(err);
      process.exit(1);
    },
  );
}

if (require.main === module) start();
