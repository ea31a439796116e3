/**
 * One measured step: Lifeboat through bench/lifeboat-step.ts in its own process, or a peer's
 * commands; each gives a StepResult with its time, speed, archive growth, peak RSS and, for a
 * restore, whether the restored tree matches the source. Also the peers' environments and the
 * tar | gzip | gpg pipelines.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { compareFingerprints, fingerprint, type Fingerprint } from './data';
import { layout } from './layout';
import { GNU_TIME, runMeasured, syncDisks, treeBytes, type Measured } from './measure';
import type { Options } from './options';
import type { Tools } from './tools';

const REPO_ROOT = path.resolve(__dirname, '..');

export type Tool = 'lifeboat' | 'restic' | 'borg' | 'tar+gzip+gpg';
export type Op = 'backup' | 'incremental' | 'verify' | 'restore';

export interface StepResult {
  tool: Tool;
  op: Op;
  label: string;
  status: 'ok' | 'failed' | 'not installed';
  /** Lifeboat: time in the activity call; peers: wall time of the command(s). */
  seconds?: number;
  /** Wall time of the process(es), start-up included. */
  processSeconds?: number;
  mbPerSec?: number;
  /** Bytes the step added to its repository (the archive's size). */
  archiveBytes?: number;
  peakRssKiB?: number;
  stageRssKiB?: Record<string, number>;
  /** Restores: 'ok' or what differs from the source. */
  check?: string;
  /** Lifeboat's seconds (or archive bytes) divided by this peer's, for the same operation. */
  lifeboatTimeRatio?: number;
  lifeboatSizeRatio?: number;
  error?: string;
  details?: Record<string, unknown>;
  /** The 1-minute load average when the step ended (the step's own load included). */
  loadAverageAfter?: number;
}

export interface Context {
  options: Options;
  tools: Tools;
  workDir: string;
  paths: ReturnType<typeof layout>;
  passphrase: string;
  datasetBytes: number;
  source: Fingerprint;
  results: StepResult[];
}

function failure(m: Measured): string {
  const why = m.signal ? `killed by ${m.signal}` : `exit ${m.exitCode}`;
  const tail = (m.stderr || m.stdout).trim().split('\n').slice(-3).join(' | ');
  return `${why}${tail ? `: ${tail}` : ''}`;
}

function mbps(bytes: number, seconds: number | undefined): number | undefined {
  return seconds && seconds > 0 ? bytes / 1e6 / seconds : undefined;
}

/** Runs commands one after the other as one step: times add up, RSS is the largest. */
export async function measureAll(
  ctx: Context,
  name: string,
  commands: { argv: string[]; cwd?: string; env?: NodeJS.ProcessEnv; stageTimes?: Record<string, string> }[],
): Promise<{
  seconds: number;
  peakRssKiB?: number;
  stageRssKiB?: Record<string, number>;
  error?: string;
  runs: Measured[];
}> {
  let seconds = 0;
  let peak: number | undefined;
  let stages: Record<string, number> | undefined;
  const runs: Measured[] = [];
  for (const [i, c] of commands.entries()) {
    syncDisks();
    const m = await runMeasured(c.argv, {
      cwd: c.cwd,
      env: c.env,
      timeFile: path.join(ctx.paths.times, `${name}-${i}.time`),
      stageTimes: c.stageTimes,
      gnuTime: ctx.tools.gnuTime,
    });
    runs.push(m);
    seconds += m.seconds;
    if (m.peakRssKiB !== undefined) peak = Math.max(peak ?? 0, m.peakRssKiB);
    if (m.stageRssKiB) stages = { ...stages, ...m.stageRssKiB };
    if (m.exitCode !== 0) return { seconds, peakRssKiB: peak, stageRssKiB: stages, error: failure(m), runs };
  }
  return { seconds, peakRssKiB: peak, stageRssKiB: stages, runs };
}

function freshRestoreDir(ctx: Context): void {
  fs.rmSync(ctx.paths.restoreDir, { recursive: true, force: true });
  fs.mkdirSync(ctx.paths.restoreDir, { recursive: true });
}

function checkRestore(ctx: Context, dir: string): string {
  if (!fs.existsSync(dir)) return `MISMATCH: ${dir} was not created`;
  const problems = compareFingerprints(ctx.source, fingerprint(dir));
  return problems.length ? `MISMATCH: ${problems.slice(0, 5).join('; ')}` : 'ok';
}

export async function lifeboatStep(ctx: Context, op: Op, step: string, label: string): Promise<StepResult> {
  const repoBefore = treeBytes(ctx.paths.lifeboatRepo);
  if (op === 'restore') freshRestoreDir(ctx);
  const run = await measureAll(ctx, `lifeboat-${step}`, [
    {
      argv: [
        process.execPath,
        '--import',
        'tsx',
        path.join(__dirname, 'lifeboat-step.ts'),
        step,
        ctx.workDir,
      ],
      cwd: REPO_ROOT,
      env: { ...process.env, LIFEBOAT_BENCH_PASSPHRASE: ctx.passphrase },
    },
  ]);
  const result: StepResult = { tool: 'lifeboat', op, label, status: 'ok', processSeconds: run.seconds };
  result.peakRssKiB = run.peakRssKiB;
  const line = run.runs[0]?.stdout.split('\n').find((l) => l.startsWith('BENCH-RESULT '));
  if (run.error || !line) {
    result.status = 'failed';
    result.error = run.error ?? 'no BENCH-RESULT line';
    return result;
  }
  const parsed = JSON.parse(line.slice('BENCH-RESULT '.length)) as {
    seconds: number;
    result: Record<string, unknown>;
  };
  result.seconds = parsed.seconds;
  result.mbPerSec = mbps(ctx.datasetBytes, parsed.seconds);
  result.details = parsed.result;
  if (op === 'backup' || op === 'incremental')
    result.archiveBytes = treeBytes(ctx.paths.lifeboatRepo) - repoBefore;
  if (op === 'restore') result.check = checkRestore(ctx, ctx.paths.lifeboatRestored);
  return result;
}

export function resticEnv(ctx: Context): NodeJS.ProcessEnv {
  return {
    ...process.env,
    RESTIC_PASSWORD: ctx.passphrase,
    RESTIC_REPOSITORY: ctx.paths.resticRepo,
    RESTIC_CACHE_DIR: path.join(ctx.paths.home, 'restic-cache'),
  };
}

export function borgEnv(ctx: Context): NodeJS.ProcessEnv {
  return {
    ...process.env,
    BORG_PASSPHRASE: ctx.passphrase,
    BORG_REPO: ctx.paths.borgRepo,
    BORG_BASE_DIR: path.join(ctx.paths.home, 'borg'),
    BORG_DISPLAY_PASSPHRASE: 'no',
  };
}

export function notInstalled(tool: Tool, op: Op, label: string): StepResult {
  return { tool, op, label, status: 'not installed' };
}

export async function peerStep(
  ctx: Context,
  tool: Tool,
  op: Op,
  label: string,
  name: string,
  commands: Parameters<typeof measureAll>[2],
  repo: string,
  restored?: string | (() => string),
): Promise<StepResult> {
  const before = treeBytes(repo);
  if (op === 'restore') freshRestoreDir(ctx);
  const run = await measureAll(ctx, name, commands);
  const result: StepResult = {
    tool,
    op,
    label,
    status: run.error ? 'failed' : 'ok',
    seconds: run.seconds,
    processSeconds: run.seconds,
    mbPerSec: mbps(ctx.datasetBytes, run.seconds),
    peakRssKiB: run.peakRssKiB,
    stageRssKiB: run.stageRssKiB,
    error: run.error,
  };
  if (commands.length > 1) result.details = { commandSeconds: run.runs.map((r) => r.seconds) };
  if (run.error) return result;
  if (op === 'backup' || op === 'incremental') result.archiveBytes = treeBytes(repo) - before;
  if (restored) result.check = checkRestore(ctx, typeof restored === 'string' ? restored : restored());
  return result;
}

export const TAR_CREATE = `set -euo pipefail
T() { if [ -n "$GNU_TIME" ]; then local f="$1"; shift; "$GNU_TIME" -f '%e %M' -o "$f" "$@"; else shift; "$@"; fi; }
T "$TIMES/tar" tar -C "$SRC" -cf - . \\
  | T "$TIMES/gzip" gzip -1 \\
  | T "$TIMES/gpg" gpg --batch --yes --quiet --no-symkey-cache --pinentry-mode loopback --passphrase-fd 3 \\
      --symmetric --cipher-algo AES256 --compress-algo none -o "$OUT" 3< <(printf '%s' "$BENCH_PASSPHRASE")
`;

export const TAR_EXTRACT = `set -euo pipefail
T() { if [ -n "$GNU_TIME" ]; then local f="$1"; shift; "$GNU_TIME" -f '%e %M' -o "$f" "$@"; else shift; "$@"; fi; }
T "$TIMES/gpg" gpg --batch --quiet --no-symkey-cache --pinentry-mode loopback --passphrase-fd 3 \\
    --decrypt "$OUT" 3< <(printf '%s' "$BENCH_PASSPHRASE") \\
  | T "$TIMES/gzip" gzip -d \\
  | T "$TIMES/tar" tar -C "$DEST" -xf -
`;

export function tarCommand(ctx: Context, script: string, name: string) {
  const times = path.join(ctx.paths.times, name);
  fs.mkdirSync(times, { recursive: true });
  const stageTimes = Object.fromEntries(['tar', 'gzip', 'gpg'].map((s) => [s, path.join(times, s)]));
  return {
    argv: ['bash', '-c', script],
    env: {
      ...process.env,
      GNUPGHOME: path.join(ctx.paths.home, 'gnupg'),
      BENCH_PASSPHRASE: ctx.passphrase,
      GNU_TIME: ctx.tools.gnuTime ? GNU_TIME : '',
      TIMES: times,
      SRC: ctx.paths.root,
      OUT: ctx.paths.tarArchive,
      DEST: ctx.paths.restoreDir,
    },
    stageTimes: ctx.tools.gnuTime ? stageTimes : undefined,
  };
}
