/**
 * A real Temporal Server for the tests (not the dev server): the pinned release built from source by
 * the setup (scripts/setup.js findTemporalServer), its persistence and visibility on a test
 * PostgreSQL (test/postgres.ts), every port free, all services in one process, with the `default`
 * namespace and Lifeboat's search attributes registered.
 */
import { Connection } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { execFile, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { SEARCH_ATTRIBUTES } from '../common/constants';
import { hermetic, tempDir } from './helpers';
import type { TestPostgres } from './postgres';
import { freePort } from './ports';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const setup = require('../scripts/setup.js') as {
  findTemporalCli: () => string;
  findTemporalServer: (options?: { install?: boolean }) => {
    server: string;
    sqlTool: string;
    schemaDir: string;
  };
};

export interface TemporalServer {
  /** 127.0.0.1:<frontend gRPC port> */
  address: string;
  stop: () => Promise<void>;
  /** What the server printed so far (its last megabyte). */
  output: () => string;
}

const OUTPUT_LIMIT = 1 << 20;
const READY_TIMEOUT_MS = 60_000;

function runTool(bin: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(bin, args, { env: hermetic(), timeout: 60_000 }, (err, stdout, stderr) => {
      if (err)
        reject(new Error(`${path.basename(bin)} ${args.join(' ')}: ${err.message}\n${stdout}${stderr}`));
      else resolve(`${stdout}${stderr}`);
    });
  });
}

/** The server's config, modelled on the module's config/development-postgres12.yaml. */
function serverConfig(o: {
  pgPort: number;
  password: string;
  dynamicConfig: string;
  ports: Record<
    'fe' | 'feMember' | 'feHttp' | 'hi' | 'hiMember' | 'ma' | 'maMember' | 'wo' | 'woMember',
    number
  >;
}): string {
  const datastore = (db: string, conns: number) => `
      sql:
        pluginName: "postgres12"
        databaseName: "${db}"
        connectAddr: "127.0.0.1:${o.pgPort}"
        connectProtocol: "tcp"
        user: "temporal"
        password: "${o.password}"
        maxConns: ${conns}
        maxIdleConns: ${conns}
        maxConnLifetime: "1h"`;
  const service = (grpc: number, membership: number, extra = '') => `
    rpc:
      grpcPort: ${grpc}
      membershipPort: ${membership}
      bindOnLocalHost: true${extra}`;
  const { ports: p } = o;
  return `log:
  stdout: true
  level: warn

persistence:
  defaultStore: postgres-default
  visibilityStore: postgres-visibility
  numHistoryShards: 4
  datastores:
    postgres-default:${datastore('temporal', 20)}
    postgres-visibility:${datastore('temporal_visibility', 4)}

global:
  membership:
    maxJoinDuration: 30s
    broadcastAddress: "127.0.0.1"
  pprof:
    port: 0

services:
  frontend:${service(p.fe, p.feMember, `\n      httpPort: ${p.feHttp}`)}
  matching:${service(p.ma, p.maMember)}
  history:${service(p.hi, p.hiMember)}
  worker:${service(p.wo, p.woMember)}

clusterMetadata:
  enableGlobalNamespace: false
  failoverVersionIncrement: 10
  masterClusterName: "active"
  currentClusterName: "active"
  clusterInformation:
    active:
      enabled: true
      initialFailoverVersion: 1
      rpcName: "frontend"
      rpcAddress: "127.0.0.1:${p.fe}"

dcRedirectionPolicy:
  policy: "noop"

dynamicConfigClient:
  filepath: "${o.dynamicConfig}"
  pollInterval: "10s"
`;
}

/** Dynamic config: search attributes readable as soon as they are added (as the dev server does). */
const DYNAMIC_CONFIG = `system.forceSearchAttributesCacheRefreshOnRead:
  - value: true
    constraints: {}
limit.maxIDLength:
  - value: 255
    constraints: {}
`;

/** An error `until` does not retry. */
class GaveUp extends Error {}

/** Polls `check` until it resolves, or throws its last error after `timeoutMs` (a GaveUp at once). */
async function until<T>(what: string, timeoutMs: number, check: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await check();
    } catch (err) {
      if (err instanceof GaveUp || Date.now() > deadline)
        throw new Error(`${what}: ${(err as Error).message}`);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** Makes the `temporal` role and its two databases, and sets up Temporal's schemas in them. */
async function prepareDatabases(pg: TestPostgres, password: string): Promise<void> {
  const { sqlTool, schemaDir } = setup.findTemporalServer({ install: false });
  await pg.superuser(`CREATE ROLE temporal LOGIN PASSWORD '${password}'`);
  for (const [db, schema] of [
    ['temporal', 'temporal'],
    ['temporal_visibility', 'visibility'],
  ]) {
    await pg.superuser(`CREATE DATABASE ${db} OWNER temporal`);
    const common = ['--plugin', 'postgres12', '--ep', '127.0.0.1', '-p', String(pg.port)];
    const login = [...common, '-u', 'temporal', '--pw', password, '--db', db];
    await runTool(sqlTool, [...login, 'setup-schema', '-v', '0.0']);
    await runTool(sqlTool, [...login, 'update-schema', '-d', path.join(schemaDir, schema, 'versioned')]);
  }
}

/** Lifeboat's custom search attributes on the namespace, added where missing. */
async function registerSearchAttributes(connection: Connection, namespace: string): Promise<void> {
  const types = temporal.api.enums.v1.IndexedValueType;
  const missing = async () => {
    const existing = await connection.operatorService.listSearchAttributes({ namespace });
    const have = new Set(Object.keys(existing.customAttributes ?? {}));
    return SEARCH_ATTRIBUTES.filter((sa) => !have.has(sa.name));
  };
  // The frontend learns of a new namespace on its next cache refresh: retry until it knows it.
  await until(`registering search attributes on ${namespace}`, 30_000, async () => {
    const absent = await missing();
    if (absent.length === 0) return;
    await connection.operatorService.addSearchAttributes({
      namespace,
      searchAttributes: Object.fromEntries(
        absent.map((sa) => [sa.name, types[`INDEXED_VALUE_TYPE_${sa.type}` as keyof typeof types]]),
      ),
    });
    const still = await missing();
    if (still.length > 0) throw new Error(`still missing ${still.map((sa) => sa.name).join(', ')}`);
  });
}

/**
 * Starts a Temporal Server on `pg` (its own role and databases there); `name` tells its temp
 * folder apart. Resolves once the frontend answers and the namespace `default` has Lifeboat's
 * search attributes.
 */
export async function startTemporalServer(pg: TestPostgres, name: string): Promise<TemporalServer> {
  const { server } = setup.findTemporalServer({ install: false });
  const dir = tempDir(`tserver-${name}`);
  const password = `temporal-${Math.random().toString(36).slice(2)}`;
  await prepareDatabases(pg, password);

  const ports = {
    fe: await freePort(),
    feMember: await freePort(),
    feHttp: await freePort(),
    hi: await freePort(),
    hiMember: await freePort(),
    ma: await freePort(),
    maMember: await freePort(),
    wo: await freePort(),
    woMember: await freePort(),
  };
  const dynamicConfig = path.join(dir, 'dynamicconfig.yaml');
  fs.writeFileSync(dynamicConfig, DYNAMIC_CONFIG);
  const configFile = path.join(dir, 'temporal.yaml');
  fs.writeFileSync(configFile, serverConfig({ pgPort: pg.port, password, dynamicConfig, ports }), {
    mode: 0o600,
  });

  const child = spawn(server, ['--config-file', configFile, '--allow-no-auth', 'start'], {
    cwd: dir,
    env: hermetic(),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const collect = (d: Buffer) => {
    output += d.toString();
    if (output.length > OUTPUT_LIMIT) output = output.slice(-OUTPUT_LIMIT);
  };
  child.stdout.on('data', collect);
  child.stderr.on('data', collect);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let spawnError: Error | undefined;
  child.once('error', (err) => (spawnError = err));
  const running = () => !spawnError && child.exitCode === null && child.signalCode === null;

  const stop = async () => {
    if (!running()) return;
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    child.kill('SIGTERM');
    await exited;
    clearTimeout(timer);
  };

  const address = `127.0.0.1:${ports.fe}`;
  try {
    const connection = await until(
      `the Temporal Server did not answer on ${address}`,
      READY_TIMEOUT_MS,
      async () => {
        if (!running())
          throw new GaveUp(`it exited (${spawnError?.message ?? child.exitCode ?? child.signalCode})`);
        const c = await Connection.connect({ address, connectTimeout: '2 seconds' });
        try {
          await c.workflowService.getSystemInfo({});
          return c;
        } catch (err) {
          await c.close();
          throw err;
        }
      },
    ).catch((err: Error) => {
      throw new Error(`${err.message}\n--- server output ---\n${output.slice(-20_000)}`);
    });
    try {
      const cli = setup.findTemporalCli();
      try {
        await runTool(cli, [
          'operator',
          'namespace',
          'create',
          '--namespace',
          'default',
          '--address',
          address,
        ]);
      } catch (err) {
        if (!/already exists|AlreadyExists/i.test((err as Error).message)) throw err;
      }
      await registerSearchAttributes(connection, 'default');
    } finally {
      await connection.close();
    }
  } catch (err) {
    await stop();
    throw err;
  }
  return { address, stop, output: () => output };
}
