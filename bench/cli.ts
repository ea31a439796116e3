/**
 * `npm run bench:cli`: how long an operator waits for `lifeboat status <id>`, the compiled CLI
 * (dist/lifeboat-cli.js, what bin/lifeboat.js runs once built, with its code cache and without) and
 * the CLI package (`npm run pack:cli`, one bundled file, installed offline into a temporary folder)
 * beside the TypeScript sources through tsx (what it ran before), and the `temporal` CLI's `workflow
 * describe` of the same run as the peer. A Temporal dev server, a worker and a corruptedStoreRecovery
 * run waiting at its gate are set up first; each command runs once unmeasured (the first call writes
 * the code cache), then 5 times, interleaved; median and spread of wall seconds, user+sys CPU seconds
 * (GNU time). Results in bench/results/cli.json.
 */
import { Client, Connection } from '@temporalio/client';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { NativeConnection } from '@temporalio/worker';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { SEARCH_ATTRIBUTES } from '../common/constants';
import { statusQuery } from '../common/messages';
import { parseConfig } from '../config';
import { writeStoreFixture } from '../scripts/demo-data';
import { createLifeboatWorker } from '../worker/worker';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const setup = require('../scripts/setup.js') as { findTemporalCli: () => string };
// eslint-disable-next-line @typescript-eslint/no-require-imports
const builder = require('../scripts/build.js') as { isStale: () => boolean; build: () => void };
// eslint-disable-next-line @typescript-eslint/no-require-imports
const packer = require('../scripts/pack-cli.js') as {
  packCli: (destination: string) => Promise<{ tarball: string }>;
  installOffline: (tarball: string, folder: string, cache: string) => string;
};

const ROOT = path.resolve(__dirname, '..');
const REPETITIONS = 5;
const QUEUE = 'lifeboat-bench-cli';

/** Runs `argv` under GNU time; asynchronously, since the worker answering the query runs in this process. */
async function measure(argv: string[], env: NodeJS.ProcessEnv): Promise<{ wall: number; cpu: number }> {
  const out = path.join(os.tmpdir(), `lifeboat-bench-cli-${process.pid}.time`);
  const started = performance.now();
  const child = spawn('/usr/bin/time', ['-f', '%U %S', '-o', out, ...argv], { env, cwd: ROOT });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  child.stdout.resume();
  const code = await new Promise<number | null>((resolve) => child.once('close', resolve));
  const wall = (performance.now() - started) / 1000;
  if (code !== 0) throw new Error(`${argv.join(' ')} failed: ${stderr}`);
  const [user, sys] = fs.readFileSync(out, 'utf8').trim().split('\n').pop()!.split(' ').map(Number);
  return { wall, cpu: user + sys };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function main(): Promise<void> {
  if (builder.isStale()) builder.build();
  const temporal = setup.findTemporalCli();
  const env = await TestWorkflowEnvironment.createLocal({
    server: {
      executable: { type: 'existing-path', path: temporal },
      ip: '127.0.0.1',
      searchAttributes: SEARCH_ATTRIBUTES,
    },
  });
  const address = env.connection.options.address;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lifeboat-bench-cli-'));
  const results: Record<string, { wall: number[]; cpu: number[] }> = {};
  try {
    writeStoreFixture(path.join(dir, 'store'), 'corrupt', ['intact']);
    const config = parseConfig(
      {
        auditLedger: 'audit.sqlite',
        targets: {
          store: {
            store: {
              primary: path.join(dir, 'store', 'graph.json'),
              backups: path.join(dir, 'store', 'backups'),
              quarantine: path.join(dir, 'store', 'quarantine'),
            },
          },
        },
      },
      path.join(dir, 'lifeboat.config.json'),
    );
    const nativeConnection = await NativeConnection.connect({ address });
    const { worker, close } = await createLifeboatWorker({
      connection: nativeConnection,
      namespace: 'default',
      taskQueue: QUEUE,
      config,
    });
    const running = worker.run();
    const connection = await Connection.connect({ address });
    const client = new Client({ connection });
    try {
      const handle = await client.workflow.start('corruptedStoreRecovery', {
        taskQueue: QUEUE,
        workflowId: 'bench-cli-status',
        args: [{ target: 'store' }],
      });
      for (let i = 0; ; i += 1) {
        const status = await handle.query(statusQuery).catch(() => undefined);
        if (status?.waiting?.kind === 'gate') break;
        if (i > 300) throw new Error('the run never waited at its gate');
        await new Promise((r) => setTimeout(r, 200));
      }
      const cliEnv = { ...process.env, TEMPORAL_ADDRESS: address, LIFEBOAT_TASK_QUEUE: QUEUE };
      const { tarball } = await packer.packCli(dir);
      const installed = packer.installOffline(tarball, path.join(dir, 'app'), path.join(dir, 'npm-cache'));
      const commands: Record<string, { argv: string[]; env: NodeJS.ProcessEnv }> = {
        'lifeboat status (compiled, code cache)': {
          argv: [process.execPath, 'bin/lifeboat.js', 'status', handle.workflowId],
          env: cliEnv,
        },
        'lifeboat status (compiled, no code cache)': {
          argv: [process.execPath, 'bin/lifeboat.js', 'status', handle.workflowId],
          env: { ...cliEnv, LIFEBOAT_CLI_NO_CACHE: '1' },
        },
        'lifeboat status (CLI package)': {
          argv: [process.execPath, installed, 'status', handle.workflowId],
          env: cliEnv,
        },
        'lifeboat status (TypeScript sources)': {
          argv: [process.execPath, 'bin/lifeboat.js', 'status', handle.workflowId],
          env: { ...cliEnv, LIFEBOAT_CLI_SOURCES: '1' },
        },
        'temporal workflow describe': {
          argv: [temporal, 'workflow', 'describe', '--workflow-id', handle.workflowId, '--address', address],
          env: process.env,
        },
      };
      // Each once first, unmeasured: an operator's first call writes the code cache the others use.
      for (const c of Object.values(commands)) await measure(c.argv, c.env);
      for (let rep = 0; rep < REPETITIONS; rep += 1)
        for (const [name, c] of Object.entries(commands)) {
          const m = await measure(c.argv, c.env);
          (results[name] ??= { wall: [], cpu: [] }).wall.push(m.wall);
          results[name].cpu.push(m.cpu);
        }
    } finally {
      worker.shutdown();
      await running;
      await close();
      await nativeConnection.close();
      await connection.close();
    }
  } finally {
    await env.teardown();
    fs.rmSync(dir, { recursive: true, force: true });
  }
  const summary = Object.entries(results).map(([name, r]) => ({
    name,
    wallSeconds: { median: median(r.wall), min: Math.min(...r.wall), max: Math.max(...r.wall) },
    cpuSeconds: median(r.cpu),
  }));
  for (const s of summary)
    console.log(
      `${s.name.padEnd(38)} ${s.wallSeconds.median.toFixed(2)} s wall (${s.wallSeconds.min.toFixed(2)}–${s.wallSeconds.max.toFixed(2)}), ${s.cpuSeconds.toFixed(2)} s CPU`,
    );
  fs.mkdirSync(path.join(__dirname, 'results'), { recursive: true });
  fs.writeFileSync(
    path.join(__dirname, 'results', 'cli.json'),
    `${JSON.stringify({ at: new Date().toISOString(), repetitions: REPETITIONS, machine: { cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model }, summary }, null, 2)}\n`,
  );
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(`cli bench failed: ${(err as Error).message}`);
    process.exit(1);
  },
);
