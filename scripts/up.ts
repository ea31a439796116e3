/**
 * `npm run up`: the Temporal dev server (UI included, database under .data/), the search attributes,
 * a demo config and target, and the worker — all stopped together by Ctrl-C. Running it again
 * brings back the same database, so runs that were waiting still wait.
 *
 * Environment: LIFEBOAT_DATA_DIR (default .data), TEMPORAL_PORT (7233), TEMPORAL_UI_PORT (8233),
 * LIFEBOAT_CONFIG (default <data dir>/lifeboat.config.json, written with a demo target if absent).
 */
import { Connection } from '@temporalio/client';
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { SEARCH_ATTRIBUTES } from '../common/constants';
import { writeDemo } from './demo-data';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const { findTemporalCli } = require('./setup.js') as {
  findTemporalCli: (o?: { install?: boolean }) => string;
};

const ROOT = path.resolve(__dirname, '..');

function portInUse(port: number, host: string): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ port, host });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

async function waitForServer(address: string, child: ChildProcess, timeoutMs: number): Promise<Connection> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child.exitCode !== null)
      throw new Error(`the Temporal dev server exited (code ${child.exitCode}); see its output above`);
    try {
      const connection = await Connection.connect({ address, connectTimeout: '2 seconds' });
      await connection.workflowService.getSystemInfo({});
      return connection;
    } catch (err) {
      if (Date.now() > deadline)
        throw new Error(`the Temporal dev server did not answer on ${address}: ${(err as Error).message}`);
      await new Promise((r) => setTimeout(r, 500));
    }
  }
}

/** Registers any of Lifeboat's search attributes the namespace lacks (the start flag usually did). */
async function ensureSearchAttributes(connection: Connection, namespace: string): Promise<void> {
  const existing = await connection.operatorService.listSearchAttributes({ namespace });
  const have = new Set(Object.keys(existing.customAttributes ?? {}));
  const missing = SEARCH_ATTRIBUTES.filter((sa) => !have.has(sa.name));
  if (missing.length === 0) return;
  const types = { KEYWORD: 2, BOOL: 4 } as const; // temporal.api.enums.v1.IndexedValueType
  await connection.operatorService.addSearchAttributes({
    namespace,
    searchAttributes: Object.fromEntries(
      missing.map((sa) => [sa.name, types[sa.type as keyof typeof types]]),
    ),
  });
}

function stopChild(child: ChildProcess, name: string, timeoutMs = 15000): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    const timer = setTimeout(() => {
      console.error(`up: ${name} did not stop in ${timeoutMs / 1000}s; killing it`);
      child.kill('SIGKILL');
    }, timeoutMs);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill('SIGINT');
  });
}

async function main(): Promise<number> {
  const dataDir = path.resolve(process.env.LIFEBOAT_DATA_DIR ?? path.join(ROOT, '.data'));
  const port = Number(process.env.TEMPORAL_PORT ?? 7233);
  const uiPort = Number(process.env.TEMPORAL_UI_PORT ?? 8233);
  const namespace = process.env.TEMPORAL_NAMESPACE ?? 'default';
  const host = '127.0.0.1';
  const address = `${host}:${port}`;
  fs.mkdirSync(dataDir, { recursive: true });

  const demo = await writeDemo(dataDir, { uiUrl: `http://${host}:${uiPort}/` });
  const configPath = path.resolve(process.env.LIFEBOAT_CONFIG || demo.configPath);
  if (demo.created) console.log(`up: wrote the demo config ${demo.configPath} with its demo targets`);
  else if (demo.added.length > 0)
    console.log(`up: added demo targets ${demo.added.join(', ')} to ${demo.configPath}`);
  const storageRoot = path.join(dataDir, 'demo', 'storage');
  if (demo.created && !fs.existsSync(storageRoot))
    console.log(
      `up: ${path.join(dataDir, 'demo', 'offsite')} holds backups from an earlier host, so ${storageRoot} is left for 'lifeboat start restore --target demo-storage' to bring back`,
    );

  if (await portInUse(port, host)) {
    console.error(
      `up: something already listens on ${address}. Stop it (an earlier 'npm run up'?) or set TEMPORAL_PORT.`,
    );
    return 2;
  }

  const cli = findTemporalCli();
  const serverArgs = [
    'server',
    'start-dev',
    '--ip',
    host,
    '--port',
    String(port),
    '--ui-port',
    String(uiPort),
    '--db-filename',
    path.join(dataDir, 'temporal.db'),
    // Why: with SQLite's default rollback journal the dev server spent about 77 ms of CPU per
    // waiting run, most of a thousand runs' start-up (`npm run bench:waiting`); WAL with normal sync
    // halves it. A power cut may lose the dev server's last transactions, never a file Lifeboat wrote.
    '--sqlite-pragma',
    'journal_mode=wal',
    '--sqlite-pragma',
    'synchronous=normal',
    '--namespace',
    namespace,
    '--log-level',
    'warn',
    ...SEARCH_ATTRIBUTES.flatMap((sa) => [
      '--search-attribute',
      `${sa.name}=${sa.type === 'BOOL' ? 'Bool' : 'Keyword'}`,
    ]),
  ];
  const children: { name: string; child: ChildProcess }[] = [];
  let stopping = false;
  const stopAll = async (code: number) => {
    if (stopping) return;
    stopping = true;
    console.log('\nup: stopping the worker and the dev server…');
    for (const { name, child } of [...children].reverse()) await stopChild(child, name);
    process.exit(code);
  };
  process.on('SIGINT', () => void stopAll(0));
  process.on('SIGTERM', () => void stopAll(0));

  const server = spawn(cli, serverArgs, { stdio: ['ignore', 'inherit', 'inherit'] });
  children.push({ name: 'the dev server', child: server });
  server.once('exit', (code) => {
    if (!stopping) {
      console.error(`up: the dev server exited (code ${code})`);
      void stopAll(1);
    }
  });
  const connection = await waitForServer(address, server, 60000);
  await ensureSearchAttributes(connection, namespace);
  await connection.close();

  const worker = spawn(
    process.execPath,
    ['--max-semi-space-size=2', path.join(ROOT, 'bin', 'lifeboat-worker.js')],
    {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'inherit'],
      // --max-semi-space-size and MALLOC_ARENA_MAX: see README, "Worker memory".
      env: {
        MALLOC_ARENA_MAX: '2',
        // The dev server started here speaks plaintext: no Temporal profile, TLS setting or API key of
        // this shell applies to it (an empty config file, and none of the TEMPORAL_* variables).
        ...Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('TEMPORAL_'))),
        TEMPORAL_CONFIG_FILE: os.devNull,
        TEMPORAL_ADDRESS: address,
        TEMPORAL_NAMESPACE: namespace,
        LIFEBOAT_CONFIG: configPath,
      },
    },
  );
  children.push({ name: 'the worker', child: worker });
  worker.once('exit', (code) => {
    if (!stopping) {
      console.error(`up: the worker exited (code ${code})`);
      void stopAll(1);
    }
  });

  // The banner comes once the worker polls, so that the example command works when it is shown.
  let announced = false;
  worker.stdout!.on('data', (chunk: Buffer) => {
    process.stdout.write(chunk);
    if (!announced && chunk.toString().includes('polling task queue')) {
      announced = true;
      announce();
    }
  });
  const announce = () =>
    console.log(
      [
        '',
        `Lifeboat is up. Temporal UI: http://${host}:${uiPort}/namespaces/${namespace}/workflows`,
        `  server ${address}, database ${path.join(dataDir, 'temporal.db')}, config ${configPath}`,
        'Try the demos (a corrupt store that waits for your approval; a storage root to back up and restore):',
        `  npx lifeboat start corruptedStoreRecovery --target demo-store --address ${address}`,
        `  npx lifeboat approve <workflow id> --as <your name> --address ${address}`,
        `  npx lifeboat start fullBackup --target demo-storage --address ${address}`,
        'Recovery demos: corruptedConfigRecovery on demo-config, auditChainRecovery on demo-chain,',
        '  panicRecovery on demo-panic, healthCheck on demo-store, driverUpdate on demo-drivers',
        `  (--input '{"device": "PCI\\\\VEN_8086&DEV_15BC&SUBSYS_08B21028&REV_10\\\\3&11583659&0&FE", "package": "netdrv-1.1.0.0"}'),`,
        '  lostAuthTokens on demo-tokens, migration on demo-migration (its migrate command fails while',
        '  demo/migration/FAIL exists, so the run shows the rollback; remove the file to see one pass),',
        '  fullSystemRestore and proofRestore on demo-runtime (after a fullBackup of it).',
        "Signed approvals: corruptedStoreRecovery on demo-signed opens only with dana's key:",
        `  LIFEBOAT_KEY_PASSPHRASE=lifeboat-demo npx lifeboat approve <id> --as dana --key ${path.join(dataDir, 'demo', 'approver-keys', 'dana.sec.asc')} --address ${address}`,
        'Ctrl-C stops everything.',
        '',
      ].join('\n'),
    );
  return await new Promise<number>(() => undefined);
}

main().catch((err) => {
  console.error(`up: ${(err as Error).message}`);
  process.exit(1);
});
