/**
 * Secured connections (issue 14): the `lifeboat` CLI and the worker reach the suite's dev server
 * through a TLS proxy that requires a client certificate signed by its CA (test/tls-proxy.ts), with
 * their settings from TEMPORAL_TLS_* or a temporal.toml profile, as the `temporal` CLI reads them.
 * Without the right certificate, with a missing file or a broken profile, the message says what to do.
 */
import { Client, type Connection } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { RunStatus } from '../common/types';
import { connectClient, connectionFailure, temporalTarget } from '../config/connection';
import { writeStoreFixture } from '../scripts/demo-data';
import { createLifeboatWorker } from '../worker/worker';
import { freePort } from './ports';
import {
  ROOT,
  quietRuntime,
  serverAddress,
  spawnTsx,
  statusWhen,
  storeTargetConfig,
  tempDir,
  uniqueQueue,
  writeConfig,
  WORKER_ENV,
  type CliResult,
} from './helpers';
import { makeCertificates, startTlsProxy, type TestCertificates, type TlsProxy } from './tls-proxy';

let dir: string;
let certs: TestCertificates;
let proxy: TlsProxy;
let profiles: string;
let refusing: string;
let taskQueue: string;
let configFile: string;
let client: Client;
let clientConnection: Connection;
let workerConnection: NativeConnection;
let stopWorker: () => Promise<void>;

/** The environment without the machine's own Temporal settings: each test says what it sets. */
function baseEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env))
    if (v !== undefined && !k.startsWith('TEMPORAL_') && k !== 'XDG_CONFIG_HOME') env[k] = v;
  return {
    ...env,
    TEMPORAL_CONFIG_FILE: profiles,
    LIFEBOAT_TASK_QUEUE: taskQueue,
    LIFEBOAT_CONFIG: configFile,
  };
}

/** The real CLI as a process, with only `env`'s Temporal settings. */
function cli(args: string[], env: Record<string, string> = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(ROOT, 'bin', 'lifeboat.js'), ...args], {
      cwd: ROOT,
      env: { ...baseEnv(), ...env },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** `npm run worker` as a process that is expected to stop at start (stopped if it polls instead). */
async function workerStops(env: Record<string, string>): Promise<{ code: number | null; output: string }> {
  const proc = spawnTsx('worker/main.ts', { ...baseEnv(), ...WORKER_ENV, ...env });
  const polling = setTimeout(() => proc.child.kill(), 60000);
  const code = await proc.exited;
  clearTimeout(polling);
  return { code, output: proc.output() };
}

/** TEMPORAL_TLS_* naming the CA and, unless left out, a client certificate. */
function tlsEnv(pair: { cert: string; key: string } | null = certs.client): Record<string, string> {
  return {
    TEMPORAL_ADDRESS: proxy.address,
    TEMPORAL_TLS_SERVER_CA_CERT_PATH: certs.ca,
    ...(pair ? { TEMPORAL_TLS_CLIENT_CERT_PATH: pair.cert, TEMPORAL_TLS_CLIENT_KEY_PATH: pair.key } : {}),
  };
}

function tlsTable(name: string, clientCert = certs.client.cert): string {
  return [
    `[profile.${name}.tls]`,
    `client_cert_path = ${JSON.stringify(clientCert)}`,
    `client_key_path = ${JSON.stringify(certs.client.key)}`,
    `server_ca_cert_path = ${JSON.stringify(certs.ca)}`,
    'server_name = "localhost"',
  ].join('\n');
}

beforeAll(async () => {
  dir = tempDir('tls');
  fs.mkdirSync(path.join(dir, 'certs'));
  certs = makeCertificates(path.join(dir, 'certs'));
  proxy = await startTlsProxy(certs, await freePort(), serverAddress());
  refusing = `127.0.0.1:${await freePort()}`;
  profiles = path.join(dir, 'temporal.toml');
  fs.writeFileSync(
    profiles,
    [
      '[profile.secure]',
      `address = "${proxy.address}"`,
      'namespace = "default"',
      tlsTable('secure'),
      '[profile.elsewhere]',
      `address = "${refusing}"`,
      tlsTable('elsewhere'),
      '[profile.missingcert]',
      `address = "${proxy.address}"`,
      tlsTable('missingcert', path.join(dir, 'certs', 'gone.crt')),
    ].join('\n'),
  );
  writeStoreFixture(path.join(dir, 'intact'), 'intact', ['intact']);
  const written = writeConfig(dir, {
    auditLedger: 'audit.sqlite',
    targets: { intact: storeTargetConfig(path.join(dir, 'intact')) },
  });
  configFile = written.file;
  taskQueue = uniqueQueue('tls');

  // The worker and its client connect through the proxy with the profile's settings.
  quietRuntime();
  const target = temporalTarget({ profile: 'secure' }, { TEMPORAL_CONFIG_FILE: profiles });
  workerConnection = await NativeConnection.connect(target.connection);
  ({ client, connection: clientConnection } = await connectClient(target));
  const { worker, close } = await createLifeboatWorker({
    connection: workerConnection,
    namespace: target.namespace,
    taskQueue,
    config: written.config,
    workflowBundle: { codePath: process.env.LIFEBOAT_TEST_BUNDLE! },
    client: () => client,
  });
  const running = worker.run();
  stopWorker = async () => {
    worker.shutdown();
    await running;
    await close();
  };
});

afterAll(async () => {
  await stopWorker?.();
  await workerConnection?.close();
  await clientConnection?.close();
  await proxy?.close();
});

test('with the client certificate from TEMPORAL_TLS_*, the CLI starts a run that a worker connected through the proxy completes', async () => {
  const started = await cli(['start', 'corruptedStoreRecovery', '--target', 'intact'], tlsEnv());
  expect(started).toMatchObject({ code: 0 });
  const id = started.stdout.trim();
  await statusWhen(client, id, (s) => s.state === 'completed', 'the run through the proxy completes');
  const status = await cli(['status', id, '--json'], tlsEnv());
  expect(status.code).toBe(0);
  expect(JSON.parse(status.stdout) as RunStatus).toMatchObject({ state: 'completed' });
});

test('one temporal.toml profile, chosen by TEMPORAL_PROFILE or --profile, serves the CLI; flags override it', async () => {
  const [byEnv, byFlag, addressByFlag] = await Promise.all([
    cli(['list', '--json'], { TEMPORAL_PROFILE: 'secure' }),
    cli(['list', '--json', '--profile', 'secure'], { TEMPORAL_PROFILE: 'elsewhere' }),
    // The profile's own address refuses connections: only --address gets this one through.
    cli(['list', '--json', '--profile', 'elsewhere', '--address', proxy.address]),
  ]);
  for (const result of [byEnv, byFlag, addressByFlag]) {
    expect(result).toMatchObject({ code: 0, stderr: '' });
    expect(Array.isArray(JSON.parse(result.stdout))).toBe(true);
  }
});

test('without a client certificate, or with one from another CA, the CLI and the worker name the address and say what the server wants', async () => {
  const requires = `the Temporal server at ${proxy.address} requires a client certificate`;
  const [tlsOnly, plaintext, untrusted, worker] = await Promise.all([
    cli(['list'], tlsEnv(null)),
    cli(['list'], { TEMPORAL_ADDRESS: proxy.address }),
    cli(['list'], tlsEnv(certs.untrusted)),
    workerStops(tlsEnv(null)),
  ]);
  expect(tlsOnly.code).toBe(2);
  expect(tlsOnly.stderr).toContain(
    `lifeboat list: ${requires} and none is configured: set TEMPORAL_TLS_CLIENT_CERT_PATH`,
  );
  expect(plaintext.code).toBe(2);
  expect(plaintext.stderr).toContain(
    `the Temporal server at ${proxy.address} speaks TLS and requires a client certificate`,
  );
  expect(untrusted.code).toBe(2);
  expect(untrusted.stderr).toContain(
    `the Temporal server at ${proxy.address} refused the client certificate named by TEMPORAL_TLS_CLIENT_CERT_PATH (${certs.untrusted.cert}): `,
  );
  expect(worker.code).toBe(2);
  expect(worker.output).toContain(`lifeboat worker: ${requires}`);
  for (const output of [tlsOnly.stderr, plaintext.stderr, untrusted.stderr, worker.output])
    expect(output).not.toMatch(/\n\s+at /);
});

test('a TLS client hears what to change: the server speaks no TLS, or its certificate is from an unknown CA or for another name', async () => {
  const explain = async (env: Record<string, string>) =>
    (
      await connectionFailure(
        temporalTarget({}, { TEMPORAL_CONFIG_FILE: profiles, ...env }),
        new Error('refused'),
      )
    ).message;
  const [plaintextServer, unknownCa, otherName] = await Promise.all([
    explain({ TEMPORAL_ADDRESS: serverAddress(), TEMPORAL_TLS: 'true' }),
    explain({ ...tlsEnv(), TEMPORAL_TLS_SERVER_CA_CERT_PATH: certs.untrusted.cert }),
    explain({ ...tlsEnv(), TEMPORAL_TLS_SERVER_NAME: 'temporal.example.com' }),
  ]);
  expect(plaintextServer).toBe(
    `the Temporal server at ${serverAddress()} does not speak TLS: remove the TLS settings (and any API key, which turns TLS on), or use the server's TLS address`,
  );
  expect(unknownCa).toMatch(
    new RegExp(
      `^the Temporal server at ${proxy.address} presented a certificate this client does not trust \\(.+\\): set TEMPORAL_TLS_SERVER_CA_CERT_PATH`,
    ),
  );
  expect(otherName).toMatch(
    new RegExp(
      `^the Temporal server at ${proxy.address} presented a certificate for another name \\(.*temporal\\.example\\.com.*\\): set TEMPORAL_TLS_SERVER_NAME`,
    ),
  );
});

test('an API key from TEMPORAL_API_KEY reaches the server as a bearer token and is never printed', async () => {
  const key = `lifeboat-test-key-${Math.random().toString(36).slice(2)}`;
  const [listed, refused] = await Promise.all([
    cli(['list', '--json'], { ...tlsEnv(), TEMPORAL_API_KEY: key }),
    workerStops({ ...tlsEnv(null), TEMPORAL_API_KEY: key }),
  ]);
  expect(listed).toMatchObject({ code: 0 });
  expect(proxy.authorizations).toContain(`Bearer ${key}`);
  expect(refused.code).toBe(2);
  for (const output of [listed.stdout, listed.stderr, refused.output]) expect(output).not.toContain(key);
});

test('a missing certificate file is named by its setting and path, from the environment or the profile', async () => {
  const gone = path.join(dir, 'certs', 'gone.crt');
  const [fromEnv, fromProfile, workerFromEnv] = await Promise.all([
    cli(['list'], { ...tlsEnv(), TEMPORAL_TLS_CLIENT_CERT_PATH: gone }),
    cli(['list', '--profile', 'missingcert']),
    workerStops({ ...tlsEnv(), TEMPORAL_TLS_CLIENT_CERT_PATH: gone }),
  ]);
  expect(fromEnv.code).toBe(2);
  expect(fromEnv.stderr).toContain(
    `lifeboat list: cannot read the client certificate named by TEMPORAL_TLS_CLIENT_CERT_PATH: ${gone} (no such file)`,
  );
  expect(fromProfile.code).toBe(2);
  expect(fromProfile.stderr).toContain(
    `cannot read the client certificate named by tls.client_cert_path of profile 'missingcert' in ${profiles}: ${gone} (no such file)`,
  );
  expect(workerFromEnv.code).toBe(2);
  expect(workerFromEnv.output).toContain(`named by TEMPORAL_TLS_CLIENT_CERT_PATH: ${gone}`);
});

test('a malformed profile file or an unknown profile is named; commands that do not connect still work', async () => {
  const broken = path.join(dir, 'broken.toml');
  fs.writeFileSync(broken, '[profile.secure\naddress = "nowhere"\n');
  const [malformed, unknown, offline] = await Promise.all([
    cli(['list'], { TEMPORAL_CONFIG_FILE: broken }),
    cli(['list', '--profile', 'nosuch']),
    cli(['runbooks'], { TEMPORAL_CONFIG_FILE: broken }),
  ]);
  expect(malformed.code).toBe(2);
  expect(malformed.stderr).toContain(`lifeboat list: the Temporal config file ${broken} is not valid TOML`);
  expect(malformed.stderr.trim().split('\n')).toHaveLength(1);
  expect(unknown.code).toBe(2);
  expect(unknown.stderr).toContain(
    `no profile 'nosuch' (--profile) in the Temporal config file ${profiles}: it has 'secure', 'elsewhere', 'missingcert'`,
  );
  expect(offline.code).toBe(0);
});
