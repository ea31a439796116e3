/**
 * `npm run bench [-- --size 256M] [--dir DIR] [--keep] [--seed N]`
 *
 * Generates a reproducible data set, then, on the same data and in one fixed order, measures
 * Lifeboat (full backup, incremental after changing 1% of files, verify, restore) against restic,
 * borg and `tar | gzip -1 | gpg --symmetric`. Prints a table (seconds, MB/s, archive size, peak
 * RSS, Lifeboat's ratio to each peer) and writes bench/results/latest.json. See bench/README.md.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  GIB,
  changeOnePercent,
  compareFingerprints,
  fingerprint,
  generateDataset,
  type ChangeSummary,
  type DatasetSummary,
  type Fingerprint,
} from './data';
import { layout } from './layout';
import {
  GNU_TIME,
  haveCommand,
  runMeasured,
  syncDisks,
  treeBytes,
  versionOf,
  type Measured,
} from './measure';

const REPO_ROOT = path.resolve(__dirname, '..');
const RESULTS = path.join(__dirname, 'results', 'latest.json');

// ---------- options ----------

interface Options {
  sizeBytes: number;
  sizeLabel: string;
  dir: string;
  keep: boolean;
  seed: number;
}

const USAGE = `usage: npm run bench -- [--size SIZE] [--dir DIR] [--keep] [--seed N]
  --size SIZE  size of the data set: bytes, or with K, M, G (binary units; "256M", "1G", "1GiB"); default 1G
  --dir DIR    folder to create the work folder in (default: the system temp folder)
  --keep       keep the work folder (data set, repositories, restores) at the end
  --seed N     seed of the data set (default 1)`;

export function parseSize(text: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?$/i.exec(text.trim());
  if (!m) throw new Error(`--size: cannot read '${text}' (examples: 64M, 256M, 1G)`);
  const unit = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 }[m[2].toLowerCase()] ?? 1;
  const bytes = Math.round(Number(m[1]) * unit);
  if (bytes < 1024 * 1024) throw new Error('--size must be at least 1M');
  return bytes;
}

function parseArgs(argv: string[]): Options {
  const options: Options = { sizeBytes: GIB, sizeLabel: '1G', dir: os.tmpdir(), keep: false, seed: 1 };
  for (let i = 0; i < argv.length; i += 1) {
    const arg = argv[i];
    const value = () => {
      const v = argv[(i += 1)];
      if (v === undefined) throw new Error(`${arg} needs a value\n${USAGE}`);
      return v;
    };
    if (arg === '--size') {
      options.sizeLabel = value();
      options.sizeBytes = parseSize(options.sizeLabel);
    } else if (arg.startsWith('--size=')) {
      options.sizeLabel = arg.slice('--size='.length);
      options.sizeBytes = parseSize(options.sizeLabel);
    } else if (arg === '--dir') options.dir = path.resolve(value());
    else if (arg === '--keep') options.keep = true;
    else if (arg === '--seed') {
      options.seed = Number(value());
      if (!Number.isInteger(options.seed) || options.seed < 1)
        throw new Error('--seed must be a positive integer');
    } else if (arg === '--help' || arg === '-h') {
      console.log(USAGE);
      process.exit(0);
    } else throw new Error(`unknown argument '${arg}'\n${USAGE}`);
  }
  return options;
}

// ---------- tools ----------

interface Tools {
  restic: boolean;
  borg: boolean;
  gpg: boolean;
  tar: boolean;
  gnuTime: boolean;
  versions: Record<string, string | undefined>;
  installLog: string[];
}

const PACKAGES: { cmd: string; pkg: string }[] = [
  { cmd: 'restic', pkg: 'restic' },
  { cmd: 'borg', pkg: 'borgbackup' },
  { cmd: 'gpg', pkg: 'gnupg' },
  { cmd: GNU_TIME, pkg: 'time' },
];

function ensureTools(): Tools {
  const installLog: string[] = [];
  const missing = PACKAGES.filter((p) => !haveCommand(p.cmd));
  if (missing.length) {
    const pkgs = missing.map((p) => p.pkg);
    const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
    if (isRoot) {
      const line = `apt-get update && apt-get install -y ${pkgs.join(' ')}`;
      console.log(`setup: ${missing.map((p) => p.cmd).join(', ')} missing; running as root: ${line}`);
      installLog.push(line);
      const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
      const update = spawnSync('apt-get', ['update'], { stdio: 'inherit', env });
      const install =
        update.status === 0
          ? spawnSync('apt-get', ['install', '-y', ...pkgs], { stdio: 'inherit', env })
          : undefined;
      if (update.status !== 0 || install?.status !== 0)
        console.log('setup: the install failed; the missing tools are skipped');
    } else {
      console.log(
        `setup: not installed: ${missing.map((p) => `${p.cmd} (Debian package ${p.pkg})`).join(', ')}; ` +
          `not root, so not installing them: the peers that need them are skipped ` +
          `(as root: apt-get install -y ${pkgs.join(' ')})`,
      );
    }
  }
  const tools: Tools = {
    restic: haveCommand('restic'),
    borg: haveCommand('borg'),
    gpg: haveCommand('gpg'),
    tar: haveCommand('tar') && haveCommand('gzip') && haveCommand('bash'),
    gnuTime: haveCommand(GNU_TIME),
    versions: {},
    installLog,
  };
  if (!tools.gnuTime) console.log(`setup: ${GNU_TIME} is missing: peak RSS is not measured`);
  tools.versions = {
    node: process.version,
    restic: tools.restic ? versionOf('restic', ['version']) : undefined,
    borg: tools.borg ? versionOf('borg') : undefined,
    gpg: tools.gpg ? versionOf('gpg') : undefined,
    tar: versionOf('tar'),
    gzip: versionOf('gzip'),
    time: tools.gnuTime ? versionOf(GNU_TIME, ['--version']) : undefined,
  };
  return tools;
}

// ---------- steps ----------

type Tool = 'lifeboat' | 'restic' | 'borg' | 'tar+gzip+gpg';
type Op = 'backup' | 'incremental' | 'verify' | 'restore';

interface StepResult {
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

interface Context {
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
async function measureAll(
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

async function lifeboatStep(ctx: Context, op: Op, step: string, label: string): Promise<StepResult> {
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

function resticEnv(ctx: Context): NodeJS.ProcessEnv {
  return {
    ...process.env,
    RESTIC_PASSWORD: ctx.passphrase,
    RESTIC_REPOSITORY: ctx.paths.resticRepo,
    RESTIC_CACHE_DIR: path.join(ctx.paths.home, 'restic-cache'),
  };
}

function borgEnv(ctx: Context): NodeJS.ProcessEnv {
  return {
    ...process.env,
    BORG_PASSPHRASE: ctx.passphrase,
    BORG_REPO: ctx.paths.borgRepo,
    BORG_BASE_DIR: path.join(ctx.paths.home, 'borg'),
    BORG_DISPLAY_PASSPHRASE: 'no',
  };
}

function notInstalled(tool: Tool, op: Op, label: string): StepResult {
  return { tool, op, label, status: 'not installed' };
}

async function peerStep(
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

const TAR_CREATE = `set -euo pipefail
T() { if [ -n "$GNU_TIME" ]; then local f="$1"; shift; "$GNU_TIME" -f '%e %M' -o "$f" "$@"; else shift; "$@"; fi; }
T "$TIMES/tar" tar -C "$SRC" -cf - . \\
  | T "$TIMES/gzip" gzip -1 \\
  | T "$TIMES/gpg" gpg --batch --yes --quiet --no-symkey-cache --pinentry-mode loopback --passphrase-fd 3 \\
      --symmetric --cipher-algo AES256 --compress-algo none -o "$OUT" 3< <(printf '%s' "$BENCH_PASSPHRASE")
`;

const TAR_EXTRACT = `set -euo pipefail
T() { if [ -n "$GNU_TIME" ]; then local f="$1"; shift; "$GNU_TIME" -f '%e %M' -o "$f" "$@"; else shift; "$@"; fi; }
T "$TIMES/gpg" gpg --batch --quiet --no-symkey-cache --pinentry-mode loopback --passphrase-fd 3 \\
    --decrypt "$OUT" 3< <(printf '%s' "$BENCH_PASSPHRASE") \\
  | T "$TIMES/gzip" gzip -d \\
  | T "$TIMES/tar" tar -C "$DEST" -xf -
`;

function tarCommand(ctx: Context, script: string, name: string) {
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

// ---------- the run ----------

const LABELS = {
  lbFull: 'Lifeboat full backup',
  lbIncr: 'Lifeboat incremental (1% changed)',
  lbVerify: 'Lifeboat verify (full)',
  lbRestore: 'Lifeboat restore (full)',
  resticBackup: 'restic init+backup',
  resticIncr: 'restic backup (1% changed)',
  resticRestore: 'restic restore',
  borgCreate: 'borg create',
  borgIncr: 'borg create (1% changed)',
  borgExtract: 'borg extract',
  tarCreate: 'tar | gzip -1 | gpg',
  tarExtract: 'gpg -d | gzip -d | tar -x',
};

async function measureEverything(ctx: Context, change: () => ChangeSummary): Promise<ChangeSummary> {
  const { tools, paths } = ctx;
  const total = 12;
  let n = 0;
  const add = async (label: string, fn: () => Promise<StepResult>) => {
    n += 1;
    process.stdout.write(`[${String(n).padStart(2)}/${total}] ${label} ... `);
    const r = await fn();
    r.loadAverageAfter = Number(os.loadavg()[0].toFixed(2));
    ctx.results.push(r);
    const what =
      r.status === 'ok'
        ? `${r.seconds?.toFixed(2)} s${r.check ? `, restored tree ${r.check}` : ''}`
        : r.status === 'failed'
          ? `FAILED: ${r.error}`
          : 'not installed';
    console.log(what);
  };

  // Full backups of the generated data.
  await add(LABELS.lbFull, () => lifeboatStep(ctx, 'backup', 'full', LABELS.lbFull));
  await add(LABELS.resticBackup, () =>
    tools.restic
      ? peerStep(
          ctx,
          'restic',
          'backup',
          LABELS.resticBackup,
          'restic-backup',
          [
            { argv: ['restic', 'init'], env: resticEnv(ctx) },
            {
              argv: ['restic', 'backup', '--host', 'bench', '--tag', 'full', '.'],
              cwd: paths.root,
              env: resticEnv(ctx),
            },
          ],
          paths.resticRepo,
        )
      : Promise.resolve(notInstalled('restic', 'backup', LABELS.resticBackup)),
  );
  await add(LABELS.borgCreate, async () => {
    if (!tools.borg) return notInstalled('borg', 'backup', LABELS.borgCreate);
    const init = await measureAll(ctx, 'borg-init', [
      { argv: ['borg', 'init', '--encryption=repokey'], env: borgEnv(ctx) },
    ]);
    if (init.error)
      return {
        tool: 'borg',
        op: 'backup',
        label: LABELS.borgCreate,
        status: 'failed',
        error: `borg init: ${init.error}`,
      };
    const r = await peerStep(
      ctx,
      'borg',
      'backup',
      LABELS.borgCreate,
      'borg-create',
      [{ argv: ['borg', 'create', '::full', '.'], cwd: paths.root, env: borgEnv(ctx) }],
      paths.borgRepo,
    );
    // The repository's size includes what init wrote (a few KiB).
    if (r.archiveBytes !== undefined) r.archiveBytes = treeBytes(paths.borgRepo);
    r.details = { initSeconds: init.seconds };
    return r;
  });
  await add(LABELS.tarCreate, () => {
    if (!tools.gpg || !tools.tar)
      return Promise.resolve(notInstalled('tar+gzip+gpg', 'backup', LABELS.tarCreate));
    fs.mkdirSync(paths.tarDir, { recursive: true });
    fs.mkdirSync(path.join(paths.home, 'gnupg'), { recursive: true, mode: 0o700 });
    return peerStep(
      ctx,
      'tar+gzip+gpg',
      'backup',
      LABELS.tarCreate,
      'tar-create',
      [tarCommand(ctx, TAR_CREATE, 'tar-create')],
      paths.tarDir,
    );
  });

  // Change 1% of the files; incrementals.
  const changed = change();
  await add(LABELS.lbIncr, () => lifeboatStep(ctx, 'incremental', 'incremental', LABELS.lbIncr));
  await add(LABELS.resticIncr, () =>
    tools.restic && ok(ctx, 'restic', 'backup')
      ? peerStep(
          ctx,
          'restic',
          'incremental',
          LABELS.resticIncr,
          'restic-incr',
          [
            {
              argv: ['restic', 'backup', '--host', 'bench', '--tag', 'incr', '.'],
              cwd: paths.root,
              env: resticEnv(ctx),
            },
          ],
          paths.resticRepo,
        )
      : Promise.resolve(unavailable(ctx, 'restic', 'incremental', LABELS.resticIncr)),
  );
  await add(LABELS.borgIncr, () =>
    tools.borg && ok(ctx, 'borg', 'backup')
      ? peerStep(
          ctx,
          'borg',
          'incremental',
          LABELS.borgIncr,
          'borg-incr',
          [{ argv: ['borg', 'create', '::incr', '.'], cwd: paths.root, env: borgEnv(ctx) }],
          paths.borgRepo,
        )
      : Promise.resolve(unavailable(ctx, 'borg', 'incremental', LABELS.borgIncr)),
  );

  // Verify and restore the full backups; each restored tree is compared with the original data.
  await add(LABELS.lbVerify, () => lifeboatStep(ctx, 'verify', 'verify', LABELS.lbVerify));
  await add(LABELS.lbRestore, () => lifeboatStep(ctx, 'restore', 'restore', LABELS.lbRestore));
  await add(LABELS.resticRestore, () =>
    tools.restic && ok(ctx, 'restic', 'backup')
      ? peerStep(
          ctx,
          'restic',
          'restore',
          LABELS.resticRestore,
          'restic-restore',
          [
            {
              argv: [
                'restic',
                'restore',
                'latest',
                '--host',
                'bench',
                '--tag',
                'full',
                '--target',
                paths.restoreDir,
              ],
              env: resticEnv(ctx),
            },
          ],
          paths.resticRepo,
          resticRestored(ctx),
        )
      : Promise.resolve(unavailable(ctx, 'restic', 'restore', LABELS.resticRestore)),
  );
  await add(LABELS.borgExtract, () =>
    tools.borg && ok(ctx, 'borg', 'backup')
      ? peerStep(
          ctx,
          'borg',
          'restore',
          LABELS.borgExtract,
          'borg-extract',
          [{ argv: ['borg', 'extract', '::full'], cwd: paths.restoreDir, env: borgEnv(ctx) }],
          paths.borgRepo,
          paths.restoreDir,
        )
      : Promise.resolve(unavailable(ctx, 'borg', 'restore', LABELS.borgExtract)),
  );
  await add(LABELS.tarExtract, () =>
    tools.gpg && tools.tar && ok(ctx, 'tar+gzip+gpg', 'backup')
      ? peerStep(
          ctx,
          'tar+gzip+gpg',
          'restore',
          LABELS.tarExtract,
          'tar-extract',
          [tarCommand(ctx, TAR_EXTRACT, 'tar-extract')],
          paths.tarDir,
          paths.restoreDir,
        )
      : Promise.resolve(unavailable(ctx, 'tar+gzip+gpg', 'restore', LABELS.tarExtract)),
  );
  return changed;
}

/**
 * Where restic put the restored tree: `restic backup .` (from inside the root) stores the files at
 * the snapshot's top, but some versions keep the absolute path of the folder backed up.
 */
function resticRestored(ctx: Context): () => string {
  return () => {
    const nested = path.join(ctx.paths.restoreDir, ctx.paths.root);
    return fs.existsSync(nested) ? nested : ctx.paths.restoreDir;
  };
}

function ok(ctx: Context, tool: Tool, op: Op): boolean {
  return ctx.results.some((r) => r.tool === tool && r.op === op && r.status === 'ok');
}

function unavailable(ctx: Context, tool: Tool, op: Op, label: string): StepResult {
  if (ctx.results.some((r) => r.tool === tool && r.status === 'not installed'))
    return notInstalled(tool, op, label);
  return { tool, op, label, status: 'failed', error: 'skipped: the backup it needs failed' };
}

// ---------- ratios, targets, table ----------

function addRatios(results: StepResult[]): void {
  const lifeboat = (op: Op) => results.find((r) => r.tool === 'lifeboat' && r.op === op && r.status === 'ok');
  for (const r of results) {
    if (r.tool === 'lifeboat' || r.status !== 'ok') continue;
    const lb = lifeboat(r.op);
    if (!lb) continue;
    if (lb.seconds && r.seconds) r.lifeboatTimeRatio = lb.seconds / r.seconds;
    if (lb.archiveBytes !== undefined && r.archiveBytes)
      r.lifeboatSizeRatio = lb.archiveBytes / r.archiveBytes;
  }
}

interface Target {
  target: string;
  status: 'met' | 'missed' | 'n/a';
  detail: string;
}

function targets(results: StepResult[]): Target[] {
  const find = (tool: Tool, op: Op) =>
    results.find((r) => r.tool === tool && r.op === op && r.status === 'ok');
  const out: Target[] = [];
  const compare = (
    target: string,
    a: StepResult | undefined,
    b: StepResult | undefined,
    what: 'seconds' | 'archiveBytes',
    peer: string,
  ) => {
    const x = a?.[what];
    const y = b?.[what];
    if (x === undefined || y === undefined) {
      out.push({ target, status: 'n/a', detail: `${a ? peer : 'Lifeboat'} result missing` });
      return;
    }
    const fmt = (v: number) => (what === 'seconds' ? `${v.toFixed(2)} s` : `${(v / 1e6).toFixed(1)} MB`);
    out.push({
      target,
      status: x <= y ? 'met' : 'missed',
      detail: `Lifeboat ${fmt(x)} vs ${peer} ${fmt(y)} (${(x / y).toFixed(2)}x)`,
    });
  };
  compare(
    'full backup at least as fast as restic',
    find('lifeboat', 'backup'),
    find('restic', 'backup'),
    'seconds',
    'restic',
  );
  compare(
    'restore at least as fast as restic',
    find('lifeboat', 'restore'),
    find('restic', 'restore'),
    'seconds',
    'restic',
  );
  const full = find('lifeboat', 'backup');
  const incr = find('lifeboat', 'incremental');
  if (full?.seconds && incr?.seconds) {
    const share = incr.seconds / full.seconds;
    out.push({
      target: 'incremental under 10% of full',
      status: share < 0.1 ? 'met' : 'missed',
      detail: `${incr.seconds.toFixed(2)} s = ${(share * 100).toFixed(1)}% of ${full.seconds.toFixed(2)} s (archive ${((incr.archiveBytes ?? 0) / 1e6).toFixed(1)} MB = ${(((incr.archiveBytes ?? 0) / (full.archiveBytes || 1)) * 100).toFixed(1)}% of the full's)`,
    });
  } else
    out.push({ target: 'incremental under 10% of full', status: 'n/a', detail: 'Lifeboat result missing' });
  compare(
    'archive no larger than tar+gzip -1',
    full,
    find('tar+gzip+gpg', 'backup'),
    'archiveBytes',
    'tar+gzip+gpg',
  );
  return out;
}

function table(results: StepResult[]): string {
  const header = [
    'Step',
    'Seconds',
    'MB/s',
    'Archive MB',
    'Peak RSS MB',
    'Restored',
    'LB/peer time',
    'LB/peer size',
  ];
  const full = results.find((r) => r.tool === 'lifeboat' && r.op === 'backup' && r.status === 'ok');
  const rows = results.map((r) => {
    if (r.status !== 'ok')
      return [r.label, r.status === 'not installed' ? 'not installed' : 'FAILED', '', '', '', '', '', ''];
    let timeRatio = r.lifeboatTimeRatio !== undefined ? `${r.lifeboatTimeRatio.toFixed(2)}x` : '-';
    let sizeRatio = r.lifeboatSizeRatio !== undefined ? `${r.lifeboatSizeRatio.toFixed(2)}x` : '-';
    if (r.tool === 'lifeboat' && r.op === 'incremental' && full?.seconds) {
      timeRatio = `${((r.seconds! / full.seconds) * 100).toFixed(1)}% of full`;
      if (r.archiveBytes !== undefined && full.archiveBytes)
        sizeRatio = `${((r.archiveBytes / full.archiveBytes) * 100).toFixed(1)}% of full`;
    }
    return [
      r.label,
      r.seconds!.toFixed(2),
      r.mbPerSec !== undefined ? r.mbPerSec.toFixed(1) : '-',
      r.archiveBytes !== undefined ? (r.archiveBytes / 1e6).toFixed(1) : '-',
      r.peakRssKiB !== undefined ? ((r.peakRssKiB * 1024) / 1e6).toFixed(1) : 'n/a',
      r.check === undefined ? '-' : r.check === 'ok' ? 'ok' : 'MISMATCH',
      timeRatio,
      sizeRatio,
    ];
  });
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i].length)));
  const fmt = (row: string[]) =>
    row.map((cell, i) => (i === 0 || i === 5 ? cell.padEnd(widths[i]) : cell.padStart(widths[i]))).join('  ');
  return [fmt(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(fmt)].join('\n');
}

/**
 * The report as JSON in the repository's Prettier style, so that `prettier --check .` (which does
 * not read bench/.gitignore) stays green after a run.
 */
async function formatJson(value: unknown): Promise<string> {
  const text = `${JSON.stringify(value, null, 2)}\n`;
  try {
    const prettier = await import('prettier');
    const config = await prettier.resolveConfig(RESULTS);
    return await prettier.format(text, { ...config, parser: 'json', filepath: RESULTS });
  } catch {
    return text;
  }
}

function mb(bytes: number): string {
  return `${(bytes / 1e6).toFixed(1)} MB`;
}

// ---------- main ----------

async function main(): Promise<number> {
  const options = parseArgs(process.argv.slice(2));
  const tools = ensureTools();
  fs.mkdirSync(options.dir, { recursive: true });
  const workDir = fs.mkdtempSync(path.join(options.dir, 'lifeboat-bench-'));
  const paths = layout(workDir);
  let cleaned = false;
  const cleanup = () => {
    if (cleaned) return;
    cleaned = true;
    if (fs.existsSync(path.join(paths.home, 'gnupg')))
      spawnSync('gpgconf', ['--kill', 'gpg-agent'], {
        env: { ...process.env, GNUPGHOME: path.join(paths.home, 'gnupg') },
        stdio: 'ignore',
      });
    if (options.keep) console.log(`kept the work folder ${workDir}`);
    else fs.rmSync(workDir, { recursive: true, force: true });
  };
  const onSignal = (signal: NodeJS.Signals) => {
    console.log(`\n${signal}: cleaning up`);
    cleanup();
    process.exit(130);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  try {
    const free = fs.statfsSync(options.dir);
    const freeBytes = free.bavail * free.bsize;
    if (freeBytes < options.sizeBytes * 6)
      console.log(
        `warning: ${mb(freeBytes)} free in ${options.dir}; the run needs about ${mb(options.sizeBytes * 6)}`,
      );
    const loadAtStart = os.loadavg()[0];
    if (loadAtStart >= 0.5)
      console.log(
        `warning: the 1-minute load average is ${loadAtStart.toFixed(2)} before the run: other work on this machine will skew the timings`,
      );
    console.log(`work folder: ${workDir}`);
    console.log(`generating ${options.sizeLabel} of data (seed ${options.seed}) ...`);
    let t = performance.now();
    const dataset: DatasetSummary = generateDataset(paths.root, options.sizeBytes, options.seed);
    syncDisks();
    const generateSeconds = (performance.now() - t) / 1000;
    t = performance.now();
    const source = fingerprint(paths.root);
    console.log(
      `data set: ${dataset.files} files, ${mb(dataset.bytes)}: ${dataset.databases} SQLite databases (${mb(dataset.databaseBytes)}), ` +
        `${dataset.smallFiles} JSON/text files (${mb(dataset.smallBytes)}), ${dataset.binaries} random binaries (${mb(dataset.binaryBytes)}); ` +
        `generated in ${generateSeconds.toFixed(1)} s, fingerprinted in ${((performance.now() - t) / 1000).toFixed(1)} s`,
    );
    const ctx: Context = {
      options,
      tools,
      workDir,
      paths,
      passphrase: process.env.LIFEBOAT_BENCH_PASSPHRASE || randomBytes(24).toString('base64url'),
      datasetBytes: dataset.bytes,
      source,
      results: [],
    };
    fs.mkdirSync(paths.home, { recursive: true, mode: 0o700 });
    const changed = await measureEverything(ctx, () => {
      const c = changeOnePercent(paths.root, options.sizeBytes, options.seed);
      syncDisks();
      console.log(`changed ${c.files} files (${mb(c.bytes)} now), 1% of ${dataset.files}`);
      return c;
    });
    addRatios(ctx.results);
    const goals = targets(ctx.results);

    const notes = [
      'Each measurement ran once, in the order above, on the same data; `sync` ran before each. The data set',
      'had just been written and read, so caches are warm for all tools alike (the page cache cannot be',
      'dropped reliably here).',
      'Lifeboat seconds: time inside the activity call (no Temporal); its process start-up (node + tsx) is',
      'not counted, see processSeconds in the JSON. Peer seconds: wall time of their commands.',
      'MB/s: data set size (not the bytes changed) / seconds, MB = 10^6 bytes. Archive MB: bytes the step',
      'added to its repository. Peak RSS: GNU time max RSS (Lifeboat includes the node runtime); for the',
      'tar|gzip|gpg pipelines, the largest of its three processes.',
      "LB/peer: Lifeboat time (or archive size) divided by the peer's for the same operation; below 1 is better.",
      'Restored: file count, SHA-256 of every non-database file and row counts of every database table',
      'compared with the source (Lifeboat restores database snapshots, which may differ byte-wise).',
    ];
    const resticBackup = ctx.results.find(
      (r) => r.tool === 'restic' && r.op === 'backup' && r.status === 'ok',
    );
    const split = resticBackup?.details?.commandSeconds as number[] | undefined;
    if (split?.length === 2)
      notes.push(
        `restic init+backup counts init (as the issue asks): init ${split[0].toFixed(2)} s + backup ${split[1].toFixed(2)} s.`,
      );
    const borgCreate = ctx.results.find((r) => r.tool === 'borg' && r.op === 'backup' && r.status === 'ok');
    if (typeof borgCreate?.details?.initSeconds === 'number')
      notes.push(
        `borg init (not counted in borg create) took ${borgCreate.details.initSeconds.toFixed(2)} s.`,
      );
    if (loadAtStart >= 0.5)
      notes.push(
        `The machine was busy before the run (load average ${loadAtStart.toFixed(2)} on ${os.cpus().length} CPUs): timings are skewed; loadAverageAfter per step is in the JSON.`,
      );
    const mismatches = ctx.results.filter((r) => r.check && r.check !== 'ok');
    const failed = ctx.results.filter((r) => r.status === 'failed');

    console.log('');
    console.log(
      `Lifeboat benchmark: ${mb(dataset.bytes)} in ${dataset.files} files (--size ${options.sizeLabel}, seed ${options.seed}), ` +
        `${os.cpus().length} CPUs (${os.cpus()[0]?.model ?? 'unknown'}), ${mb(os.totalmem())} RAM, ` +
        `load average ${loadAtStart.toFixed(2)} at the start`,
    );
    console.log('');
    console.log(table(ctx.results));
    console.log('');
    console.log('Targets (reported, not asserted):');
    for (const g of goals) console.log(`  ${g.status.padEnd(6)} ${g.target}: ${g.detail}`);
    if (failed.length || mismatches.length) {
      console.log('');
      console.log('Problems:');
      for (const r of failed) {
        const after = r.processSeconds !== undefined ? ` (after ${r.processSeconds.toFixed(2)} s)` : '';
        console.log(`  ${r.label}: ${r.error}${after}`);
      }
      for (const r of mismatches) console.log(`  ${r.label}: restored tree ${r.check}`);
    }
    console.log('');
    console.log('Notes:');
    for (const line of notes) console.log(`  ${line}`);

    const report = {
      version: 1,
      generatedAt: new Date().toISOString(),
      options: { size: options.sizeLabel, sizeBytes: options.sizeBytes, seed: options.seed },
      host: {
        platform: `${os.type()} ${os.release()} ${os.arch()}`,
        cpus: os.cpus().length,
        cpuModel: os.cpus()[0]?.model,
        memoryBytes: os.totalmem(),
        loadAverageAtStart: loadAtStart,
      },
      tools: tools.versions,
      installed: tools.installLog,
      dataset: { ...dataset, generateSeconds, changed },
      steps: ctx.results,
      targets: goals,
      notes,
    };
    fs.mkdirSync(path.dirname(RESULTS), { recursive: true });
    fs.writeFileSync(RESULTS, await formatJson(report));
    console.log('');
    console.log(`wrote ${path.relative(REPO_ROOT, RESULTS)}`);
    return failed.length || mismatches.length ? 1 : 0;
  } finally {
    cleanup();
  }
}

if (require.main === module) {
  main().then(
    (code) => process.exit(code),
    (err: unknown) => {
      console.error(`bench: ${err instanceof Error ? err.message : String(err)}`);
      process.exit(2);
    },
  );
}
