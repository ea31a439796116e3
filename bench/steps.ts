/**
 * One measured step of one repetition: Lifeboat through the compiled bench/lifeboat-step.ts in its
 * own process, or a peer's commands; each gives StepResults with wall time, CPU time, archive
 * growth, peak RSS and, for a restore, whether the restored tree matches the source.
 */
import type { Phase } from './lifeboat-step';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { compareFingerprints, fingerprint, type Fingerprint } from './fingerprint';
import { COMPILED_STEP, type LifeboatStep, type Paths } from './layout';
import { runMeasured, syncDisks, treeBytes, type Measured } from './measure';
import type { Options } from './options';
import type { Tools } from './tools';

export const REPO_ROOT = path.resolve(__dirname, '..');

export type Tool = 'lifeboat' | 'restic' | 'borg' | 'tar+gzip+gpg';
/** backup+verify and restore+checks: Lifeboat's end-to-end times, as its runbooks run them. */
export type Op =
  'backup' | 'nochange' | 'incremental' | 'verify' | 'restore' | 'backup+verify' | 'restore+checks';
export type Status = 'ok' | 'failed' | 'not installed' | 'skipped';

/** One step of one repetition. */
export interface StepResult {
  /** `${tool} ${op}`: the same step in every repetition. */
  key: string;
  rep: number;
  tool: Tool;
  op: Op;
  label: string;
  status: Status;
  /** Lifeboat: time in the activity call(s); peers: wall time of the command(s). */
  seconds?: number;
  /** CPU seconds over the same span: Lifeboat's from getrusage in the process, peers' GNU time's %U, %S. */
  userSeconds?: number;
  systemSeconds?: number;
  /** Peers' restores: the restore alone, without the `sync` that makes it durable. */
  secondsWithoutSync?: number;
  /** Wall time of the process(es), start-up included; Lifeboat: with its GNU time CPU seconds. */
  processSeconds?: number;
  processCpuSeconds?: number;
  /** Bytes the step added to its repository (the archive's size). */
  archiveBytes?: number;
  peakRssKiB?: number;
  stageRssKiB?: Record<string, number>;
  /** Restores: 'ok' or what differs from the source. */
  check?: string;
  error?: string;
  details?: Record<string, unknown>;
  /** The 1-minute load average when the step ended (the step's own load included). */
  loadAverageAfter?: number;
}

export interface Context {
  options: Options;
  tools: Tools;
  paths: Paths;
  rep: number;
  passphrase: string;
  source: Fingerprint;
  results: StepResult[];
}

export interface Command {
  argv: string[];
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  stageTimes?: Record<string, string>;
}

export function stepResult(
  ctx: Context,
  tool: Tool,
  op: Op,
  label: string,
  status: Status,
  rest: Partial<StepResult> = {},
): StepResult {
  return { key: `${tool} ${op}`, rep: ctx.rep, tool, op, label, status, ...rest };
}

function failure(m: Measured): string {
  const why = m.signal ? `killed by ${m.signal}` : `exit ${m.exitCode}`;
  const tail = (m.stderr || m.stdout).trim().split('\n').slice(-3).join(' | ');
  return `${why}${tail ? `: ${tail}` : ''}`;
}

const add = (a: number | undefined, b: number | undefined) => (b === undefined ? a : (a ?? 0) + b);

/**
 * Runs commands one after the other as one step: times and CPU add up, RSS is the largest. `sync`
 * runs once before the first, so that earlier writes do not slow this step; none runs between them
 * (a restore's `sync` command must find the restore's own writes).
 */
export async function measureAll(
  ctx: Context,
  name: string,
  commands: Command[],
): Promise<{
  seconds: number;
  userSeconds?: number;
  systemSeconds?: number;
  peakRssKiB?: number;
  stageRssKiB?: Record<string, number>;
  error?: string;
  runs: Measured[];
}> {
  let seconds = 0;
  let userSeconds: number | undefined;
  let systemSeconds: number | undefined;
  let peak: number | undefined;
  let stages: Record<string, number> | undefined;
  const runs: Measured[] = [];
  syncDisks();
  for (const [i, c] of commands.entries()) {
    const m = await runMeasured(c.argv, {
      cwd: c.cwd,
      env: c.env,
      timeFile: path.join(ctx.paths.times, `${name}-${i}.time`),
      stageTimes: c.stageTimes,
      gnuTime: ctx.tools.gnuTime,
    });
    runs.push(m);
    seconds += m.seconds;
    userSeconds = add(userSeconds, m.userSeconds);
    systemSeconds = add(systemSeconds, m.systemSeconds);
    if (m.peakRssKiB !== undefined) peak = Math.max(peak ?? 0, m.peakRssKiB);
    if (m.stageRssKiB) stages = { ...stages, ...m.stageRssKiB };
    const done = { seconds, userSeconds, systemSeconds, peakRssKiB: peak, stageRssKiB: stages, runs };
    if (m.exitCode !== 0) return { ...done, error: failure(m) };
  }
  return { seconds, userSeconds, systemSeconds, peakRssKiB: peak, stageRssKiB: stages, runs };
}

/**
 * An empty restore folder. The previous restore is moved aside, not removed: it goes with the
 * repetitions' folders when the run ends (run.ts). Why:
 * on ext4 without a journal (this VM's root), an inode freed less than 60 s ago (300 s while its
 * inode table block is not written back) is not reused, and every create checks the candidates
 * (ialloc.c, `recently_deleted`): whichever restore came right after removing the previous one
 * (10,000 or 100,000 files) paid seconds of system time, up to 3x its wall time, at random between
 * tools and repetitions.
 */
export function freshRestoreDir(ctx: Context): void {
  if (fs.existsSync(ctx.paths.restoreDir)) {
    let n = 1;
    while (fs.existsSync(`${ctx.paths.restoreDir}-done-${n}`)) n += 1;
    fs.renameSync(ctx.paths.restoreDir, `${ctx.paths.restoreDir}-done-${n}`);
  }
  fs.mkdirSync(ctx.paths.restoreDir, { recursive: true });
}

export function checkRestore(ctx: Context, dir: string): string {
  if (!fs.existsSync(dir)) return `MISMATCH: ${dir} was not created`;
  const problems = compareFingerprints(ctx.source, fingerprint(dir));
  return problems.length ? `MISMATCH: ${problems.slice(0, 5).join('; ')}` : 'ok';
}

/** How the benchmark starts Lifeboat: compiled JavaScript with production's environment. */
export function lifeboatCommand(ctx: Context, step: LifeboatStep): Command {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    LIFEBOAT_BENCH_PASSPHRASE: ctx.passphrase,
    MALLOC_ARENA_MAX: '2',
    NODE_ENV: 'production',
  };
  // Nothing may load tsx (or anything else) into the measured process.
  delete env.NODE_OPTIONS;
  return {
    argv: [
      process.execPath,
      '--max-semi-space-size=2',
      path.join(REPO_ROOT, COMPILED_STEP),
      step,
      ctx.paths.root,
      ctx.paths.repDir,
    ],
    cwd: REPO_ROOT,
    env,
  };
}

const sum = (phases: Phase[], f: (p: Phase) => number) => phases.reduce((n, p) => n + f(p), 0);

/**
 * Runs one Lifeboat step; `rows` says which results it gives: each names the phases it counts, the
 * first `count` of them (all when undefined). A row that counts only some of the phases takes the
 * process's peak RSS when the last of them returned; one that counts all takes GNU time's.
 */
export async function lifeboatStep(
  ctx: Context,
  step: LifeboatStep,
  rows: { op: Op; label: string; count?: number }[],
): Promise<StepResult[]> {
  const repoBefore = treeBytes(ctx.paths.lifeboatRepo);
  const restores = step === 'restore' || step === 'restore-checked';
  if (restores) freshRestoreDir(ctx);
  const run = await measureAll(ctx, `lifeboat-${step}`, [lifeboatCommand(ctx, step)]);
  const line = run.runs[0]?.stdout.split('\n').find((l) => l.startsWith('BENCH-RESULT '));
  const processCpuSeconds = add(run.userSeconds, run.systemSeconds);
  const common = { processSeconds: run.seconds, processCpuSeconds };
  if (run.error || !line) {
    const error = run.error ?? 'no BENCH-RESULT line';
    return rows.map((r) => stepResult(ctx, 'lifeboat', r.op, r.label, 'failed', { ...common, error }));
  }
  const { phases } = JSON.parse(line.slice('BENCH-RESULT '.length)) as { phases: Phase[] };
  const archiveBytes = restores ? undefined : treeBytes(ctx.paths.lifeboatRepo) - repoBefore;
  const check = restores ? checkRestore(ctx, ctx.paths.lifeboatRestored) : undefined;
  return rows.map((r) => {
    const counted = phases.slice(0, r.count ?? phases.length);
    const all = counted.length === phases.length;
    return stepResult(ctx, 'lifeboat', r.op, r.label, 'ok', {
      ...common,
      seconds: sum(counted, (p) => p.seconds),
      userSeconds: sum(counted, (p) => p.userSeconds),
      systemSeconds: sum(counted, (p) => p.systemSeconds),
      peakRssKiB: all ? (run.peakRssKiB ?? counted.at(-1)?.maxRssKiB) : counted.at(-1)?.maxRssKiB,
      archiveBytes,
      check,
      details: {
        phases: counted.map((p) => ({
          name: p.name,
          seconds: p.seconds,
          cpuSeconds: p.userSeconds + p.systemSeconds,
          maxRssKiB: p.maxRssKiB,
          result: p.result,
        })),
      },
    });
  });
}

/**
 * Runs a peer's commands as one step. A restore (`restored` set) ends with `sync -f` of the restore
 * folder, timed with it, so that it is as durable as Lifeboat's fsyncing restore; the time without
 * it is kept too.
 */
export async function peerStep(
  ctx: Context,
  tool: Tool,
  op: Op,
  label: string,
  name: string,
  commands: Command[],
  repo: string,
  restored?: () => string,
): Promise<StepResult> {
  const before = treeBytes(repo);
  if (restored) {
    freshRestoreDir(ctx);
    commands = [...commands, { argv: ['sync', '-f', ctx.paths.restoreDir] }];
  }
  const run = await measureAll(ctx, name, commands);
  const result = stepResult(ctx, tool, op, label, run.error ? 'failed' : 'ok', {
    seconds: run.seconds,
    userSeconds: run.userSeconds,
    systemSeconds: run.systemSeconds,
    processSeconds: run.seconds,
    peakRssKiB: run.peakRssKiB,
    stageRssKiB: run.stageRssKiB,
    error: run.error,
  });
  if (commands.length > 1) result.details = { commandSeconds: run.runs.map((r) => r.seconds) };
  if (run.error) return result;
  if (restored) result.secondsWithoutSync = run.seconds - (run.runs.at(-1)?.seconds ?? 0);
  if (op === 'backup' || op === 'nochange' || op === 'incremental')
    result.archiveBytes = treeBytes(repo) - before;
  if (restored) result.check = checkRestore(ctx, restored());
  return result;
}
