/**
 * Running a measured command: wall time from this process; peak RSS and CPU time from GNU time
 * (`/usr/bin/time -f '%e %M %U %S'`: %M in KiB, %U and %S the user and system CPU seconds of the
 * command and the children it waited for). A pipeline run through bash reports the largest RSS of
 * its processes: each stage is wrapped in its own /usr/bin/time writing to a file listed in
 * `stageTimes`; its CPU time is the outer GNU time's (bash waits for every stage).
 */
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

export const GNU_TIME = '/usr/bin/time';
/** GNU time's output format: wall seconds, peak RSS (KiB), user and system CPU seconds. */
export const TIME_FORMAT = '%e %M %U %S';

export interface Measured {
  /** Wall-clock seconds of the whole command, process start included. */
  seconds: number;
  /** Peak resident set size in KiB (largest over the stages of a pipeline); undefined without GNU time. */
  peakRssKiB?: number;
  /** Peak RSS of each stage of a pipeline, by name. */
  stageRssKiB?: Record<string, number>;
  /** User and system CPU seconds (GNU time's %U and %S); undefined without GNU time. */
  userSeconds?: number;
  systemSeconds?: number;
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** File for the outer GNU time's report. */
  timeFile: string;
  /** Stage name to GNU time report file, for a pipeline that times its own stages. */
  stageTimes?: Record<string, string>;
  /** Whether GNU time is available; without it no RSS is reported. */
  gnuTime: boolean;
}

const KEEP_OUTPUT = 64 * 1024;

function keepTail(current: string, chunk: Buffer): string {
  const next = current + chunk.toString('utf8');
  return next.length > KEEP_OUTPUT ? next.slice(-KEEP_OUTPUT) : next;
}

export interface TimeReport {
  seconds: number;
  rssKiB: number;
  userSeconds: number;
  systemSeconds: number;
}

/** Reads TIME_FORMAT from a GNU time output file (it may hold "Command exited ..." lines before). */
export function readTimeFile(file: string): TimeReport | undefined {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
  const line = text
    .trim()
    .split('\n')
    .reverse()
    .find((l) => /^\d+(\.\d+)? \d+ \d+(\.\d+)? \d+(\.\d+)?$/.test(l.trim()));
  if (!line) return undefined;
  const [seconds, rssKiB, userSeconds, systemSeconds] = line.trim().split(' ').map(Number);
  return { seconds, rssKiB, userSeconds, systemSeconds };
}

export async function runMeasured(argv: string[], options: RunOptions): Promise<Measured> {
  fs.mkdirSync(path.dirname(options.timeFile), { recursive: true });
  for (const f of [options.timeFile, ...Object.values(options.stageTimes ?? {})])
    fs.rmSync(f, { force: true });
  const full = options.gnuTime ? [GNU_TIME, '-f', TIME_FORMAT, '-o', options.timeFile, ...argv] : argv;
  const started = performance.now();
  const child = spawn(full[0], full.slice(1), {
    cwd: options.cwd,
    env: options.env ?? process.env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => (stdout = keepTail(stdout, c)));
  child.stderr.on('data', (c: Buffer) => (stderr = keepTail(stderr, c)));
  const { code, signal } = await new Promise<{ code: number | null; signal: NodeJS.Signals | null }>(
    (resolve, reject) => {
      child.on('error', reject);
      child.on('close', (c, s) => resolve({ code: c, signal: s }));
    },
  );
  const seconds = (performance.now() - started) / 1000;
  let peakRssKiB: number | undefined;
  let stageRssKiB: Record<string, number> | undefined;
  let userSeconds: number | undefined;
  let systemSeconds: number | undefined;
  if (options.gnuTime) {
    const outer = readTimeFile(options.timeFile);
    peakRssKiB = outer?.rssKiB;
    userSeconds = outer?.userSeconds;
    systemSeconds = outer?.systemSeconds;
    if (options.stageTimes) {
      stageRssKiB = {};
      for (const [name, file] of Object.entries(options.stageTimes)) {
        const t = readTimeFile(file);
        if (t) stageRssKiB[name] = t.rssKiB;
      }
      const stages = Object.values(stageRssKiB);
      if (stages.length) peakRssKiB = Math.max(...stages);
    }
  }
  return {
    seconds,
    peakRssKiB,
    stageRssKiB,
    userSeconds,
    systemSeconds,
    exitCode: code,
    signal,
    stdout,
    stderr,
  };
}

/** Flushes dirty pages so that one tool's writes do not slow the next tool's measurement. */
export function syncDisks(): void {
  spawnSync('sync', [], { stdio: 'ignore' });
}

/** Total apparent size of the regular files under `dir` (0 when it does not exist). */
export function treeBytes(dir: string): number {
  if (!fs.existsSync(dir)) return 0;
  let total = 0;
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const abs = path.join(d, e.name);
      if (e.isDirectory()) walk(abs);
      else if (e.isFile()) total += fs.statSync(abs).size;
    }
  };
  walk(dir);
  return total;
}

/** The first line a command prints for `--version` (or undefined). */
export function versionOf(cmd: string, args = ['--version']): string | undefined {
  const r = spawnSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  if (r.error || r.status !== 0) return undefined;
  return (r.stdout || r.stderr).trim().split('\n')[0];
}

/** Whether `cmd` is on PATH (or, for an absolute path, executable). */
export function haveCommand(cmd: string): boolean {
  if (path.isAbsolute(cmd)) {
    try {
      fs.accessSync(cmd, fs.constants.X_OK);
      return true;
    } catch {
      return false;
    }
  }
  return spawnSync('sh', ['-c', `command -v "${cmd}"`], { stdio: 'ignore' }).status === 0;
}
