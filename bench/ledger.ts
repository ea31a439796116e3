/**
 * `npm run bench:ledger`: the audit ledger's append throughput and latency on SQLite (a file, WAL)
 * and on PostgreSQL (Debian's 15, a cluster of its own with fsync on), with one and with two writer
 * processes appending at once (two control-plane workers). Three interleaved repetitions; the median
 * and the spread of each figure, the writers' CPU seconds beside wall time. Results in
 * bench/results/ledger.json with the machine's description. The chain is verified after each round.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { openStores } from '../activities/lib/stores';
import { loadConfig } from '../config';
import { startPostgres } from '../test/postgres';

const APPENDS = Number(process.env.LEDGER_BENCH_APPENDS ?? 2000);
const REPETITIONS = 3;
const PASSWORD_ENV = 'LIFEBOAT_LEDGER_BENCH_PASSWORD';
const ROOT = path.resolve(__dirname, '..');

interface Round {
  engine: 'sqlite' | 'postgres';
  writers: number;
  wallSeconds: number;
  appendsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  cpuSeconds: number;
}

const quantile = (sorted: number[], q: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

interface WriterResult {
  latencies: number[];
  cpuSeconds: number;
  startedAt: number;
  endedAt: number;
}

function writer(config: string, prefix: string): Promise<WriterResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      ['--require', 'tsx/cjs', path.join(__dirname, 'ledger-writer.ts'), config, String(APPENDS), prefix],
      {
        cwd: ROOT,
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.once('exit', (code) =>
      code === 0 ? resolve(JSON.parse(out) as WriterResult) : reject(new Error(`writer exited ${code}`)),
    );
  });
}

async function round(engine: Round['engine'], writers: number, config: string, tag: string): Promise<Round> {
  const results = await Promise.all(
    Array.from({ length: writers }, (_, w) => writer(config, `${tag}-w${w}`)),
  );
  // From the first append of any writer to the last (not the writers' start-up).
  const wallSeconds =
    (Math.max(...results.map((r) => r.endedAt)) - Math.min(...results.map((r) => r.startedAt))) / 1000;
  const stores = await openStores(loadConfig(config), { readonly: true });
  try {
    const verdict = await stores.ledger.verify();
    if (!verdict.ok) throw new Error(`the chain broke at row ${verdict.brokenSeq}: ${verdict.problem}`);
  } finally {
    await stores.close();
  }
  const latencies = results.flatMap((r) => r.latencies).sort((a, b) => a - b);
  return {
    engine,
    writers,
    wallSeconds,
    appendsPerSecond: latencies.length / wallSeconds,
    p50Ms: quantile(latencies, 0.5),
    p99Ms: quantile(latencies, 0.99),
    cpuSeconds: results.reduce((n, r) => n + r.cpuSeconds, 0),
  };
}

async function main(): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lifeboat-ledger-bench-'));
  const pg = await startPostgres('ledger-bench', { fsync: true });
  process.env[PASSWORD_ENV] = pg.password;
  const rounds: Round[] = [];
  try {
    let n = 0;
    const configFor = async (engine: Round['engine']) => {
      n += 1;
      const raw: Record<string, unknown> = {
        auditLedger: path.join(dir, `ledger-${n}.sqlite`),
        targets: { bench: { store: { primary: '/tmp/b.json', backups: '/tmp/b', quarantine: '/tmp/q' } } },
      };
      if (engine === 'postgres') {
        await pg.createDatabase(`ledger_${n}`);
        raw.database = { url: pg.url(`ledger_${n}`), passwordEnv: PASSWORD_ENV };
      }
      const file = path.join(dir, `config-${n}.json`);
      fs.writeFileSync(file, JSON.stringify(raw));
      return file;
    };
    for (let rep = 0; rep < REPETITIONS; rep += 1)
      for (const engine of ['sqlite', 'postgres'] as const)
        for (const writers of [1, 2]) {
          const r = await round(engine, writers, await configFor(engine), `r${rep}`);
          rounds.push(r);
          console.log(
            `rep ${rep + 1}: ${engine.padEnd(8)} ${writers} writer(s): ${r.appendsPerSecond.toFixed(0)} appends/s, p50 ${r.p50Ms.toFixed(2)} ms, p99 ${r.p99Ms.toFixed(2)} ms, writers' CPU ${r.cpuSeconds.toFixed(2)} s`,
          );
        }
  } finally {
    pg.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
  const summary = (['sqlite', 'postgres'] as const).flatMap((engine) =>
    [1, 2].map((writers) => {
      const of = rounds.filter((r) => r.engine === engine && r.writers === writers);
      const pick = (f: (r: Round) => number) => ({
        median: median(of.map(f)),
        min: Math.min(...of.map(f)),
        max: Math.max(...of.map(f)),
      });
      return {
        engine,
        writers,
        appendsPerSecond: pick((r) => r.appendsPerSecond),
        p50Ms: pick((r) => r.p50Ms),
        p99Ms: pick((r) => r.p99Ms),
        cpuSeconds: pick((r) => r.cpuSeconds),
      };
    }),
  );
  console.log('\nmedian of 3 (min–max):');
  for (const s of summary)
    console.log(
      `${s.engine.padEnd(8)} ${s.writers} writer(s): ${s.appendsPerSecond.median.toFixed(0)} appends/s (${s.appendsPerSecond.min.toFixed(0)}–${s.appendsPerSecond.max.toFixed(0)}), p50 ${s.p50Ms.median.toFixed(2)} ms, p99 ${s.p99Ms.median.toFixed(2)} ms (${s.p99Ms.min.toFixed(2)}–${s.p99Ms.max.toFixed(2)}), CPU ${s.cpuSeconds.median.toFixed(2)} s`,
    );
  const machine = {
    cpus: os.cpus().length,
    cpuModel: os.cpus()[0]?.model,
    memoryGiB: os.totalmem() / 2 ** 30,
    kernel: os.release(),
  };
  fs.mkdirSync(path.join(__dirname, 'results'), { recursive: true });
  fs.writeFileSync(
    path.join(__dirname, 'results', 'ledger.json'),
    `${JSON.stringify({ at: new Date().toISOString(), appendsPerWriter: APPENDS, machine, summary, rounds }, null, 2)}\n`,
  );
}

main().catch((err: unknown) => {
  console.error(`ledger bench failed: ${(err as Error).message}`);
  process.exit(1);
});
