/**
 * The processes of `npm run bench:waiting` and what /proc says of them: the Temporal dev server
 * (the CLI's `server start-dev`, as `npm run up` starts it, on a free 127.0.0.1 port), the Lifeboat
 * worker launched as production launches it (`MALLOC_ARENA_MAX=2 node --max-semi-space-size=2 bin/lifeboat-worker.js`, the
 * Dockerfile's command and `npm run worker`), their resident set and CPU seconds (whole process and
 * per thread), and a summary of the worker's V8 CPU profiles.
 */
import { Connection } from '@temporalio/client';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as ts from 'typescript';
import { SEARCH_ATTRIBUTES } from '../common/constants';
import { freePort } from '../test/ports';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const setup = require('../scripts/setup.js') as { findTemporalCli: () => string };

const ROOT = path.resolve(__dirname, '..');
const OUTPUT_LIMIT = 64 * 1024;

export interface Proc {
  name: string;
  pid: number;
  child: ChildProcess;
  /** The last 64 KiB of what it printed. */
  output: () => string;
  /** SIGINT, then SIGKILL after `graceMs`; resolves once it has exited. */
  stop: (graceMs?: number) => Promise<void>;
}

/** The processes still running, for a bench stopped by Ctrl-C to end them. */
export const running = new Set<Proc>();

function launch(
  name: string,
  command: string,
  args: string[],
  options: { cwd: string; env: NodeJS.ProcessEnv },
): Proc {
  const child = spawn(command, args, { ...options, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const collect = (d: Buffer) => {
    output += d.toString();
    if (output.length > OUTPUT_LIMIT) output = output.slice(-OUTPUT_LIMIT);
  };
  child.stdout!.on('data', collect);
  child.stderr!.on('data', collect);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.once('error', (err) => collect(Buffer.from(`\n${name}: ${err.message}\n`)));
  const stop = async (graceMs = 30_000) => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    child.kill('SIGINT');
    await exited;
    clearTimeout(timer);
  };
  if (child.pid === undefined) throw new Error(`${name} did not start: ${command}`);
  const proc = { name, pid: child.pid, child, output: () => output, stop };
  running.add(proc);
  child.once('exit', () => running.delete(proc));
  return proc;
}

/** The environment without TEMPORAL_* settings of this shell (a profile, an API key): only ours count. */
function hermetic(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('TEMPORAL_')) env[k] = v;
  return { ...env, TEMPORAL_CONFIG_FILE: '/dev/null', ...extra };
}

async function until<T>(
  what: string,
  timeoutMs: number,
  proc: Proc,
  attempt: () => Promise<T | undefined>,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (proc.child.exitCode !== null || proc.child.signalCode !== null)
      throw new Error(
        `${proc.name} exited (${proc.child.exitCode ?? proc.child.signalCode}):\n${proc.output()}`,
      );
    const value = await attempt().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`${what} within ${timeoutMs / 1000} s:\n${proc.output()}`);
    await new Promise((r) => setTimeout(r, 300));
  }
}

export interface ServerOptions {
  dir: string;
  /** The dev server's default: its SQLite database in memory (else a file in `dir`, as `npm run up`). */
  memoryDb: boolean;
  /** `--sqlite-pragma` values (e.g. `synchronous=OFF`). */
  pragmas: string[];
  /** `--dynamic-config-value` KEY=VALUE pairs. */
  dynamicConfig: string[];
}

/** The dev server on a free 127.0.0.1 port with Lifeboat's search attributes; resolves when it answers. */
export async function startDevServer(
  o: ServerOptions,
): Promise<{ address: string; proc: Proc; cli: string }> {
  const cli = setup.findTemporalCli();
  const port = await freePort();
  const args = ['server', 'start-dev', '--ip', '127.0.0.1', '--port', String(port), '--headless'];
  args.push('--namespace', 'default', '--log-level', 'error');
  if (!o.memoryDb) args.push('--db-filename', path.join(o.dir, 'temporal.db'));
  for (const p of o.pragmas) args.push('--sqlite-pragma', p);
  for (const d of o.dynamicConfig) args.push('--dynamic-config-value', d);
  for (const sa of SEARCH_ATTRIBUTES)
    args.push('--search-attribute', `${sa.name}=${sa.type === 'BOOL' ? 'Bool' : 'Keyword'}`);
  const proc = launch('the dev server', cli, args, { cwd: o.dir, env: hermetic({}) });
  const address = `127.0.0.1:${port}`;
  try {
    await until(`the dev server did not answer on ${address}`, 60_000, proc, async () => {
      const c = await Connection.connect({ address, connectTimeout: '2 seconds' });
      try {
        const { customAttributes } = await c.operatorService.listSearchAttributes({ namespace: 'default' });
        return SEARCH_ATTRIBUTES.every((sa) => customAttributes?.[sa.name] !== undefined) ? true : undefined;
      } finally {
        await c.close();
      }
    });
  } catch (err) {
    await proc.stop(5000);
    throw err;
  }
  return { address, proc, cli };
}

export interface WorkerLaunch {
  address: string;
  configFile: string;
  taskQueue: string;
  /** The bench's work folder: the compiled preload goes there. */
  dir: string;
  /** Node flags before the entry point (`--cpu-prof`, `--max-old-space-size=…`). */
  nodeFlags: string[];
  /** Environment variables laid over production's (an experiment: MALLOC_ARENA_MAX=1, LD_PRELOAD…). */
  env?: Record<string, string>;
  /** The TypeScript sources through tsx instead of dist/ (LIFEBOAT_CLI_SOURCES=1, as bin/lifeboat-worker.js reads it). */
  sources: boolean;
  /** Worker options laid over Lifeboat's by bench/waiting-preload.ts (an experiment), or none. */
  workerOptions?: Record<string, unknown>;
  /** Load bench/waiting-preload.ts for its SIGWINCH memory report even without worker options. */
  memoryReport: boolean;
}

/**
 * bench/waiting-preload.ts as plain JavaScript in `dir`: loading it through tsx would put the
 * TypeScript compiler into the compiled worker and change what is measured.
 */
function compiledPreload(dir: string): string {
  const source = fs.readFileSync(path.join(__dirname, 'waiting-preload.ts'), 'utf8');
  const { outputText } = ts.transpileModule(source, {
    compilerOptions: {
      module: ts.ModuleKind.CommonJS,
      target: ts.ScriptTarget.ES2022,
      esModuleInterop: true,
    },
  });
  const file = path.join(dir, 'waiting-preload.js');
  fs.writeFileSync(file, outputText);
  return file;
}

/**
 * The worker as production starts it (`npm run worker`, the Dockerfile): `MALLOC_ARENA_MAX=2 node
 * --max-semi-space-size=2 bin/lifeboat-worker.js`, which runs dist/ (compiled) when fresh; resolves once it polls.
 */
export async function startWorker(o: WorkerLaunch): Promise<{ proc: Proc; runs: 'compiled' | 'sources' }> {
  const preload = o.workerOptions || o.memoryReport ? ['--require', compiledPreload(o.dir)] : [];
  const proc = launch(
    'the worker',
    process.execPath,
    ['--max-semi-space-size=2', ...o.nodeFlags, ...preload, path.join(ROOT, 'bin', 'lifeboat-worker.js')],
    {
      cwd: ROOT,
      env: hermetic({
        MALLOC_ARENA_MAX: '2',
        TEMPORAL_ADDRESS: o.address,
        TEMPORAL_NAMESPACE: 'default',
        LIFEBOAT_CONFIG: o.configFile,
        LIFEBOAT_TASK_QUEUE: o.taskQueue,
        ...(o.sources ? { LIFEBOAT_CLI_SOURCES: '1' } : {}),
        // The compiled preload sits in the work folder: its `require('@temporalio/worker')` resolves here.
        ...(preload.length ? { NODE_PATH: path.join(ROOT, 'node_modules') } : {}),
        ...(o.workerOptions ? { LIFEBOAT_BENCH_WORKER_OPTIONS: JSON.stringify(o.workerOptions) } : {}),
        ...o.env,
      }),
    },
  );
  try {
    await until('the worker did not start polling', 120_000, proc, () =>
      Promise.resolve(proc.output().includes('polling task queue') ? true : undefined),
    );
    if (o.workerOptions && !proc.output().includes('bench preload: worker options overridden'))
      throw new Error(`the worker options were not applied:\n${proc.output()}`);
  } catch (err) {
    await proc.stop(5000);
    throw err;
  }
  return { proc, runs: proc.output().includes('running the TypeScript sources') ? 'sources' : 'compiled' };
}

let clockTicks: number | undefined;
function ticksPerSecond(): number {
  if (clockTicks === undefined) {
    try {
      clockTicks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      clockTicks = 100;
    }
  }
  return clockTicks;
}

/** utime + stime of a /proc/<pid>[/task/<tid>]/stat line, in seconds, and the thread's name. */
function parseStat(text: string): { name: string; cpuSeconds: number } {
  const close = text.lastIndexOf(')');
  const name = text.slice(text.indexOf('(') + 1, close);
  const fields = text.slice(close + 2).split(' ');
  // Fields 14 and 15 of proc(5); the slice starts at field 3.
  return { name, cpuSeconds: (Number(fields[11]) + Number(fields[12])) / ticksPerSecond() };
}

/** One isolate's V8 heap, as bench/waiting-preload.ts reports it. */
export interface HeapReport {
  /** Used after a full collection (the preload forces one when asked): what the isolate holds live. */
  liveMB: number;
  heapUsedMB: number;
  heapTotalMB: number;
  heapLimitMB: number;
  mallocedMB: number;
  externalMB: number;
  /** Each V8 space's committed size before that collection (new, old, code, large_object…). */
  spacesMB?: Record<string, number>;
}

/** The worker's memory by isolate: the main thread's and each worker thread's (the SDK's workflow thread…). */
export interface MemoryReport {
  rssMB: number;
  mainHeapUsedMB: number;
  mainHeapTotalMB: number;
  externalMB: number;
  arrayBuffersMB: number;
  main: HeapReport;
  threads: (HeapReport & { threadId: number; resourceLimits: Record<string, number> })[];
}

/** The worker's memory by isolate, asked for by SIGWINCH (bench/waiting-preload.ts). */
export async function memoryReport(worker: Proc): Promise<MemoryReport | undefined> {
  const before = worker.output().length;
  process.kill(worker.pid, 'SIGWINCH');
  for (let i = 0; i < 50; i += 1) {
    await new Promise((r) => setTimeout(r, 100));
    const line = /bench memory: (\{.*\})/.exec(worker.output().slice(Math.max(0, before - 10)));
    if (line) return JSON.parse(line[1]) as MemoryReport;
  }
  return undefined;
}

export interface ProcSample {
  rssMB: number;
  /** The kernel's high-water mark of the resident set (VmHWM): the true peak, between samples too. */
  peakRssMB: number;
  cpuSeconds: number;
  threads: number;
}

/** What /proc says of a process now; undefined once it is gone. */
export function sampleProc(pid: number): ProcSample | undefined {
  try {
    const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+)`, 'm').exec(status)?.[1] ?? 0);
    return {
      rssMB: kb('VmRSS') / 1024,
      peakRssMB: kb('VmHWM') / 1024,
      cpuSeconds: parseStat(fs.readFileSync(`/proc/${pid}/stat`, 'utf8')).cpuSeconds,
      threads: kb('Threads'),
    };
  } catch {
    return undefined;
  }
}

export type ThreadSnapshot = Map<string, { name: string; cpuSeconds: number }>;

/** Every thread's name and CPU seconds so far, by thread id. */
export function threadSnapshot(pid: number): ThreadSnapshot {
  const out: ThreadSnapshot = new Map();
  let tids: string[] = [];
  try {
    tids = fs.readdirSync(`/proc/${pid}/task`);
  } catch {
    return out;
  }
  for (const tid of tids) {
    try {
      const s = parseStat(fs.readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8'));
      out.set(tid, { name: tid === String(pid) ? `${s.name} (main)` : s.name, cpuSeconds: s.cpuSeconds });
    } catch {
      // The thread ended meanwhile.
    }
  }
  return out;
}

/** CPU seconds per thread name between two snapshots (a pool's threads added up), largest first. */
export function threadCpu(
  before: ThreadSnapshot,
  after: ThreadSnapshot,
): { thread: string; count: number; cpuSeconds: number }[] {
  const by = new Map<string, { count: number; cpuSeconds: number }>();
  for (const [tid, t] of after) {
    const e = by.get(t.name) ?? { count: 0, cpuSeconds: 0 };
    e.count += 1;
    e.cpuSeconds += t.cpuSeconds - (before.get(tid)?.cpuSeconds ?? 0);
    by.set(t.name, e);
  }
  return [...by.entries()]
    .map(([thread, e]) => ({ thread, ...e }))
    .sort((a, b) => b.cpuSeconds - a.cpuSeconds);
}

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}
interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

export interface ProfileSummary {
  file: string;
  seconds: number;
  /** Sampled time less (idle): what the shares below are of. */
  busySeconds: number;
  /** Self time by where the code comes from: a package, the workflow bundle, a source folder, GC… */
  byOrigin: { origin: string; seconds: number; share: number }[];
  topFunctions: { fn: string; seconds: number; share: number }[];
}

function originOf(url: string, fn: string): string {
  if (!url) return fn.startsWith('(') ? fn : '(native)';
  if (url.startsWith('node:')) return 'node internals';
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (pkg) return pkg[1];
  if (/workflow-bundle|lifeboat-workflows-/.test(url)) return 'workflow bundle';
  const rel = path.relative(ROOT, url.replace(/^file:\/\//, ''));
  return rel.startsWith('..') ? url : `${rel.split(path.sep)[0]}/`;
}

/** Self time of a V8 .cpuprofile, by origin and by function. */
export function summarizeProfile(file: string, top = 15): ProfileSummary {
  const profile = JSON.parse(fs.readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map<number, number>();
  profile.samples.forEach((id, i) => self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)));
  const total = [...self.values()].reduce((a, b) => a + b, 0) / 1e6;
  const origins = new Map<string, number>();
  const fns = new Map<string, number>();
  let idle = 0;
  for (const [id, us] of self) {
    const { functionName, url, lineNumber } = byId.get(id)!.callFrame;
    if (functionName === '(idle)') {
      idle += us / 1e6;
      continue;
    }
    const origin = originOf(url, functionName);
    origins.set(origin, (origins.get(origin) ?? 0) + us / 1e6);
    const where = url ? `${path.basename(url)}:${lineNumber + 1}` : '';
    const fn = `${functionName || '(anonymous)'} ${where} [${origin}]`.replace('  ', ' ');
    fns.set(fn, (fns.get(fn) ?? 0) + us / 1e6);
  }
  const busy = total - idle;
  const ranked = (m: Map<string, number>) =>
    [...m.entries()]
      .sort((a, b) => b[1] - a[1])
      .map(([k, seconds]) => ({ k, seconds, share: seconds / busy }));
  return {
    file: path.basename(file),
    seconds: total,
    busySeconds: busy,
    byOrigin: ranked(origins)
      .slice(0, top)
      .map(({ k, seconds, share }) => ({ origin: k, seconds, share })),
    topFunctions: ranked(fns)
      .slice(0, top)
      .map(({ k, seconds, share }) => ({ fn: k, seconds, share })),
  };
}
