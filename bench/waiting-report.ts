/**
 * The command line and the report of `npm run bench:waiting` (bench/waiting.ts): options, the
 * table on the console, the targets (reported, never asserted) and bench/results/waiting.json with
 * the machine's description.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { format } from 'prettier';
import type { Result } from './waiting';

export const TARGET_SECONDS = 120;
export const TARGET_RSS_MB = 400;
/** The dev server's SQLite pragmas of `npm run up` (scripts/up.ts): the bench's default. */
export const UP_PRAGMAS = ['journal_mode=wal', 'synchronous=normal'];

const USAGE = `usage: npm run bench:waiting -- [options]
  --runs N               runs to start (default 1000)
  --sample N             runs per decision sample, twice (bare Update, CLI decide); default min(100, runs/2)
  --start-concurrency N  starts in flight at once (default: all)
  --timeout S            give up waiting after S seconds (default 900)
  --memory-db            the dev server's database in memory (default: a file, as npm run up)
  --sqlite-pragma P=V    passed to the dev server (repeatable), e.g. synchronous=OFF; default
                         journal_mode=wal synchronous=normal, as npm run up (scripts/up.ts)
  --dynamic-config K=V   a dev server dynamic config value (repeatable)
  --worker-options JSON  Temporal WorkerOptions laid over Lifeboat's (bench/waiting-preload.ts), and
                         workflowThreadResourceLimits: the workflow thread's Node resourceLimits
  --node-flag FLAG       a node flag for the worker (repeatable), e.g. --max-old-space-size=256
  --worker-env K=V       an environment variable for the worker (repeatable), laid over production's
                         (MALLOC_ARENA_MAX=2), e.g. MALLOC_ARENA_MAX=1 or LD_PRELOAD=<allocator>
  --sources              the worker from the TypeScript sources through tsx (default: dist/, as production)
  --memory-report        at all waiting, the worker's V8 heaps, main and threads (bench/waiting-preload.ts)
  --cpu-prof             profile the worker (node --cpu-prof) and summarize where its CPU went
  --label NAME           write bench/results/waiting-NAME.json instead of waiting.json`;

export interface Options {
  runs: number;
  sample: number;
  startConcurrency: number;
  timeoutSeconds: number;
  memoryDb: boolean;
  pragmas: string[];
  dynamicConfig: string[];
  workerOptions?: Record<string, unknown>;
  nodeFlags: string[];
  workerEnv: Record<string, string>;
  cpuProf: boolean;
  memoryReport: boolean;
  sources: boolean;
  label?: string;
}

export function parseOptions(argv: string[]): Options {
  const o: Options = {
    runs: 1000,
    sample: -1,
    startConcurrency: 0,
    timeoutSeconds: 900,
    memoryDb: false,
    pragmas: [],
    dynamicConfig: [],
    nodeFlags: [],
    workerEnv: {},
    cpuProf: false,
    memoryReport: false,
    sources: false,
  };
  const count = (arg: string, v: string) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1) throw new Error(`${arg} must be a positive integer\n${USAGE}`);
    return n;
  };
  for (let i = 0; i < argv.length; i += 1) {
    const arg = argv[i];
    const value = () => {
      const v = argv[(i += 1)];
      if (v === undefined) throw new Error(`${arg} needs a value\n${USAGE}`);
      return v;
    };
    if (arg === '--runs') o.runs = count(arg, value());
    else if (arg === '--sample') o.sample = count(arg, value());
    else if (arg === '--start-concurrency') o.startConcurrency = count(arg, value());
    else if (arg === '--timeout') o.timeoutSeconds = count(arg, value());
    else if (arg === '--memory-db') o.memoryDb = true;
    else if (arg === '--sqlite-pragma') o.pragmas.push(value());
    else if (arg === '--dynamic-config') o.dynamicConfig.push(value());
    else if (arg === '--worker-options') o.workerOptions = JSON.parse(value()) as Record<string, unknown>;
    else if (arg === '--node-flag') o.nodeFlags.push(value());
    else if (arg === '--worker-env') {
      const kv = value();
      const eq = kv.indexOf('=');
      if (eq < 1) throw new Error(`--worker-env takes NAME=VALUE, got '${kv}'`);
      o.workerEnv[kv.slice(0, eq)] = kv.slice(eq + 1);
    } else if (arg === '--cpu-prof') o.cpuProf = true;
    else if (arg === '--memory-report') o.memoryReport = true;
    else if (arg === '--sources') o.sources = true;
    else if (arg === '--label') o.label = value().replace(/[^A-Za-z0-9._-]/g, '_');
    else if (arg === '--help' || arg === '-h') {
      console.log(USAGE);
      process.exit(0);
    } else throw new Error(`unknown argument '${arg}'\n${USAGE}`);
  }
  if (o.pragmas.length === 0) o.pragmas = [...UP_PRAGMAS];
  if (o.sample < 0) o.sample = Math.max(1, Math.min(100, Math.floor(o.runs / 2)));
  if (o.sample * 2 > o.runs) throw new Error(`--sample ${o.sample} needs at least ${o.sample * 2} runs`);
  if (o.startConcurrency === 0) o.startConcurrency = o.runs;
  return o;
}

export async function report(o: Options, r: Result, loadBefore: number): Promise<void> {
  const f = (n: number | undefined, d = 1) => (n === undefined || Number.isNaN(n) ? 'n/a' : n.toFixed(d));
  const cores = os.cpus().length;
  const window = r.secondsToWaiting.byVisibility;
  const launch = [
    r.worker.runs === 'compiled' ? 'dist/ (compiled)' : 'TypeScript sources through tsx',
    ...o.nodeFlags,
    ...Object.entries(o.workerEnv).map(([k, v]) => `${k}=${v}`),
    ...(o.workerOptions ? [`worker options ${JSON.stringify(o.workerOptions)}`] : []),
    ...(o.pragmas.length ? [`server pragmas ${o.pragmas.join(' ')}`] : []),
    ...o.dynamicConfig.map((d) => `server ${d}`),
  ];
  const rows: [string, string][] = [
    ['worker runs', launch.join(', ')],
    [
      'runs started',
      `${r.started} of ${r.runs}${r.startErrors.length ? ` (${r.startErrors.length} failed)` : ''}`,
    ],
    [
      'start rate',
      `${f(r.startRatePerSecond, 0)} runs/s (${f(r.startSeconds)} s; start p50 ${f(r.startLatencyMs.p50, 0)} ms, p99 ${f(r.startLatencyMs.p99, 0)} ms)`,
    ],
    [
      'time to half / 90% waiting',
      `${f(r.secondsToWaiting.half)} s / ${f(r.secondsToWaiting.ninetyPercent)} s`,
    ],
    [
      'time to all waiting',
      `${f(r.secondsToWaiting.all)} s (visibility); last gate entered at ${f(r.secondsToWaiting.lastGateSince)} s`,
    ],
    [
      'at gate (status Query)',
      `${r.atGate} of ${r.started}${r.endedBeforeWaiting ? `; ${r.endedBeforeWaiting} ended first` : ''}`,
    ],
    [
      'stop Update round trip',
      `p50 ${f(r.decisions.updateMs.p50, 0)} ms, p99 ${f(r.decisions.updateMs.p99, 0)} ms (n=${r.decisions.updateMs.n})`,
    ],
    [
      'CLI decide (stop) round trip',
      `p50 ${f(r.decisions.cliDecideMs.p50, 0)} ms, p99 ${f(r.decisions.cliDecideMs.p99, 0)} ms (n=${r.decisions.cliDecideMs.n})`,
    ],
    [
      'worker RSS',
      `idle ${f(r.worker.idleRssMB, 0)} MB, all waiting ${f(r.worker.rssAtAllWaitingMB, 0)} MB (peak ${f(r.worker.peakRssToAllWaitingMB, 0)} MB), overall peak ${f(r.worker.peakRssMB, 0)} MB, end ${f(r.worker.rssAtEndMB, 0)} MB`,
    ],
    ...(r.worker.memoryAtAllWaiting
      ? [
          [
            "worker's V8 heaps (live/used/total, limit)",
            [
              ['main', r.worker.memoryAtAllWaiting.main] as const,
              ...r.worker.memoryAtAllWaiting.threads.map((t) => [`thread ${t.threadId}`, t] as const),
            ]
              .map(
                ([name, h]) =>
                  `${name} ${f(h.liveMB, 0)}/${f(h.heapUsedMB, 0)}/${f(h.heapTotalMB, 0)} MB (${f(h.heapLimitMB, 0)} MB)` +
                  (h.spacesMB
                    ? ` [${Object.entries(h.spacesMB)
                        .filter(([, v]) => v >= 1)
                        .map(([k, v]) => `${k} ${f(v, 0)}`)
                        .join(', ')}]`
                    : ''),
              )
              .join(', ') + `; main external ${f(r.worker.memoryAtAllWaiting.externalMB, 0)} MB`,
          ] as [string, string],
        ]
      : []),
    [
      'CPU s to all waiting',
      `worker ${f(r.worker.cpuSecondsToAllWaiting)}, server ${f(r.server.cpuSecondsToAllWaiting)}, this client ${f(r.clientCpuSecondsToAllWaiting)} (of ${f(window * cores, 0)} core-s)`,
    ],
    [
      'server RSS',
      `${f(r.server.rssAtAllWaitingMB, 0)} MB at all waiting, peak ${f(r.server.peakRssMB, 0)} MB (${r.server.memoryDb ? 'in-memory' : 'file'} database)`,
    ],
  ];
  console.log('');
  for (const [k, v] of rows) console.log(`${k.padEnd(30)} ${v}`);
  const e = r.eventsToGate.byType;
  console.log(
    `\none run to its gate: ${r.eventsToGate.total} history events, ${e.WORKFLOW_TASK_COMPLETED ?? 0} workflow tasks, ${e.ACTIVITY_TASK_SCHEDULED ?? 0} activities (${Object.entries(
      r.eventsToGate.activities,
    )
      .map(([name, n]) => `${name}×${n}`)
      .join(', ')})`,
  );
  console.log(
    `worker CPU by thread: ${r.worker.cpuByThreadAtAllWaiting
      .slice(0, 6)
      .map((t) => `${t.thread}×${t.count} ${t.cpuSeconds.toFixed(1)} s`)
      .join(', ')}`,
  );
  for (const p of r.profiles) {
    console.log(
      `\nprofile ${p.file} (${p.seconds.toFixed(1)} s sampled, ${p.busySeconds.toFixed(1)} s busy): share of busy time by origin`,
    );
    for (const x of p.byOrigin.slice(0, 8))
      console.log(
        `  ${(x.share * 100).toFixed(1).padStart(5)}%  ${x.seconds.toFixed(1).padStart(6)} s  ${x.origin}`,
      );
    console.log('  top functions (self time)');
    for (const x of p.topFunctions.slice(0, 10))
      console.log(
        `  ${(x.share * 100).toFixed(1).padStart(5)}%  ${x.seconds.toFixed(1).padStart(6)} s  ${x.fn}`,
      );
  }
  const targets = [
    {
      target: `all ${r.runs} runs waiting within ${TARGET_SECONDS} s`,
      status:
        r.secondsToWaiting.all === undefined
          ? 'missed'
          : r.secondsToWaiting.all <= TARGET_SECONDS
            ? 'met'
            : 'missed',
      detail: `${f(r.secondsToWaiting.all)} s`,
    },
    {
      target: `worker RSS at most ${TARGET_RSS_MB} MB`,
      status:
        Math.max(r.worker.peakRssMB, r.worker.peakRssToAllWaitingMB) <= TARGET_RSS_MB ? 'met' : 'missed',
      detail: `peak ${f(r.worker.peakRssToAllWaitingMB, 0)} MB until all waited, ${f(r.worker.peakRssMB, 0)} MB after the status queries and decisions`,
    },
  ];
  console.log('\ntargets (reported, never asserted):');
  for (const t of targets) console.log(`  ${t.status.toUpperCase().padEnd(6)} ${t.target}: ${t.detail}`);
  const machine = {
    cpuModel: os.cpus()[0]?.model,
    cores,
    memoryGiB: os.totalmem() / 2 ** 30,
    kernel: os.release(),
    node: process.version,
  };
  const { timeline, ...summary } = r;
  const file = path.join(__dirname, 'results', o.label ? `waiting-${o.label}.json` : 'waiting.json');
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const options = { ...o, workerOptions: o.workerOptions ?? null };
  const json = JSON.stringify({
    at: new Date().toISOString(),
    machine,
    loadAverageBefore: loadBefore,
    options,
    targets,
    ...summary,
    timeline,
  });
  // As Prettier writes it, so that `npm run lint` (prettier --check .) stays clean after a run.
  fs.writeFileSync(file, await format(json, { parser: 'json' }));
  console.log(`\nresults: ${path.relative(process.cwd(), file)}`);
}
