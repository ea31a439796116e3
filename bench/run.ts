/**
 * `npm run bench [-- --size 256M] [--files N | --small-files] [--reps N] [--peers LIST] [--dir DIR]
 * [--keep] [--seed N]`
 *
 * Generates a reproducible data set, then runs the whole sequence of steps `--reps` times (default
 * 3), interleaved, each repetition in fresh repositories: Lifeboat (full backup with its
 * verification, incrementals with nothing and with 1% changed, verify, restore, restore with its
 * checks) against restic (the pinned release), borg and `tar | gzip -1 | gpg --symmetric`. Prints a
 * table (median and spread of wall seconds, CPU seconds, MB/s, archive size, peak RSS, Lifeboat's
 * ratio to each peer) and writes bench/results/. See bench/README.md.
 *
 * This file sets up, loops over the repetitions and cleans up. The rest: options.ts (the command
 * line), tools.ts (the peers, restic's pinned build), data.ts and fingerprint.ts (the data set),
 * sequence.ts (one repetition's steps), steps.ts and peers.ts (one measured step), measure.ts and
 * lifeboat-step.ts (timing one process), stats.ts and report.ts (medians, ratios, targets, table,
 * results), host.ts (the machine).
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { changeOnePercent, generateDataset, undoChange, type ChangeSummary, type DatasetSpec } from './data';
import { compareFingerprints, fingerprint } from './fingerprint';
import { describeHost } from './host';
import { COMPILED_STEP, repLayout, workLayout } from './layout';
import { syncDisks } from './measure';
import { parseArgs } from './options';
import { mb, report } from './report';
import { measureRep } from './sequence';
import { REPO_ROOT, type Context, type StepResult } from './steps';
import { ensureTools } from './tools';

/**
 * Lifeboat is measured compiled: `node scripts/build.js` when dist/ is missing or older than the
 * sources (bench/lifeboat-step.ts and bench/layout.ts included; the npm script's setup does the same).
 */
function ensureBuilt(): void {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const builder = require('../scripts/build.js') as { isStale: () => boolean };
  if (builder.isStale()) {
    console.log('build: dist/ is older than the sources: node scripts/build.js');
    const r = spawnSync(process.execPath, [path.join(REPO_ROOT, 'scripts', 'build.js')], {
      cwd: REPO_ROOT,
      stdio: 'inherit',
    });
    if (r.status !== 0)
      throw new Error('the TypeScript build failed (node scripts/build.js); Lifeboat is measured compiled');
  }
  if (!fs.existsSync(path.join(REPO_ROOT, COMPILED_STEP)))
    throw new Error(
      `${COMPILED_STEP} is missing after the build: is bench/lifeboat-step.ts in tsconfig.build.json?`,
    );
}

/** What Lifeboat code is measured: the commit, uncommitted engine changes, the build's stamp. */
function lifeboatBuild(): { commit?: string; uncommitted?: string[]; builtAt?: string } {
  const git = (...args: string[]) => {
    const r = spawnSync('git', args, { cwd: REPO_ROOT, encoding: 'utf8' });
    return r.status === 0 ? r.stdout.trim() : undefined;
  };
  const status = git(
    'status',
    '--porcelain',
    '--',
    'activities',
    'common',
    'config',
    'bench/lifeboat-step.ts',
  );
  let builtAt: string | undefined;
  try {
    builtAt = fs.readFileSync(path.join(REPO_ROOT, 'dist', '.built'), 'utf8').trim();
  } catch {
    builtAt = undefined;
  }
  return {
    commit: git('rev-parse', '--short', 'HEAD'),
    uncommitted: status === undefined ? undefined : status.split('\n').filter(Boolean),
    builtAt,
  };
}

function stopGpgAgent(home: string): void {
  if (fs.existsSync(path.join(home, 'gnupg')))
    spawnSync('gpgconf', ['--kill', 'gpg-agent'], {
      env: { ...process.env, GNUPGHOME: path.join(home, 'gnupg') },
      stdio: 'ignore',
    });
}

async function main(): Promise<number> {
  const options = parseArgs(process.argv.slice(2));
  ensureBuilt();
  const build = lifeboatBuild();
  const tools = ensureTools(options.peers);
  fs.mkdirSync(options.dir, { recursive: true });
  const workDir = fs.mkdtempSync(path.join(options.dir, 'lifeboat-bench-'));
  const work = workLayout(workDir);
  const reps = Array.from({ length: options.reps }, (_, i) => i + 1);
  let cleaned = false;
  const cleanup = () => {
    if (cleaned) return;
    cleaned = true;
    for (const rep of reps) stopGpgAgent(repLayout(work.rep(rep)).home);
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
    const host = describeHost(workDir);
    const free = fs.statfsSync(options.dir);
    const freeBytes = free.bavail * free.bsize;
    const needs = options.sizeBytes * (options.keep ? 2 + 4 * options.reps : 6);
    if (freeBytes < needs)
      console.log(`warning: ${mb(freeBytes)} free in ${options.dir}; the run needs about ${mb(needs)}`);
    if (host.loadAverageAtStart[0] >= 0.5)
      console.log(
        `warning: the 1-minute load average is ${host.loadAverageAtStart[0]} before the run: other work on this machine will skew the timings`,
      );
    console.log(`work folder: ${workDir}`);
    const spec: DatasetSpec = { totalBytes: options.sizeBytes, seed: options.seed, files: options.files };
    const files = options.files !== undefined ? `, ${options.files} files` : '';
    console.log(`generating ${options.sizeLabel}${files} of data (seed ${options.seed}) ...`);
    let t = performance.now();
    const dataset = generateDataset(work.root, spec);
    syncDisks();
    const generateSeconds = (performance.now() - t) / 1000;
    t = performance.now();
    const source = fingerprint(work.root);
    console.log(
      `data set: ${dataset.files} files, ${mb(dataset.bytes)}: ${dataset.databases} SQLite databases (${mb(dataset.databaseBytes)}), ` +
        `${dataset.smallFiles} JSON/text files (${mb(dataset.smallBytes)}), ${dataset.binaries} random binaries (${mb(dataset.binaryBytes)}); ` +
        `generated in ${generateSeconds.toFixed(1)} s, fingerprinted in ${((performance.now() - t) / 1000).toFixed(1)} s`,
    );
    const passphrase = process.env.LIFEBOAT_BENCH_PASSPHRASE || randomBytes(24).toString('base64url');
    const results: StepResult[] = [];
    const resetSeconds: number[] = [];
    let changed: ChangeSummary | undefined;
    for (const rep of reps) {
      const paths = { root: work.root, ...repLayout(work.rep(rep)) };
      fs.mkdirSync(paths.home, { recursive: true, mode: 0o700 });
      const ctx: Context = { options, tools, paths, rep, passphrase, source, results };
      const change = measureRep(ctx, () => {
        const c = changeOnePercent(work.root, spec, work.originals);
        syncDisks();
        console.log(`changed ${c.files} files (${mb(c.bytes)} now), 1% of ${dataset.files}`);
        return c;
      });
      changed = await change;
      stopGpgAgent(paths.home);
      // Kept until the run ends (see freshRestoreDir): removing a repetition's restores and
      // repositories slows every file created for minutes after, the next repetition's restores
      // among them. Removed now only when the disk could not hold another repetition.
      const free = fs.statfsSync(options.dir);
      if (!options.keep && rep < reps.length && free.bavail * free.bsize < 8 * dataset.bytes) {
        const warning = `little disk space: repetition ${rep}'s folder removed before the next one, whose restores may be slowed by it`;
        console.log(`warning: ${warning}`);
        tools.warnings.push(warning);
        fs.rmSync(paths.repDir, { recursive: true, force: true });
      }
      if (rep === reps.length) break;
      // The next repetition backs up the data set as generated: the changed files are put back.
      t = performance.now();
      undoChange(work.root, changed, work.originals);
      syncDisks();
      const problems = compareFingerprints(source, fingerprint(work.root));
      if (problems.length)
        throw new Error(`the data set was not put back as generated: ${problems.join('; ')}`);
      resetSeconds.push((performance.now() - t) / 1000);
      console.log(`put the ${changed.files} changed files back (checked: the data set is as generated)`);
    }
    const builtAtEnd = lifeboatBuild().builtAt;
    if (builtAtEnd !== build.builtAt) {
      const warning = `dist/ was rebuilt during the run (${build.builtAt} -> ${builtAtEnd}): the repetitions may have measured different Lifeboat code`;
      console.log(`warning: ${warning}`);
      tools.warnings.push(warning);
    }
    return await report({
      options,
      tools,
      host,
      dataset,
      generateSeconds,
      changed,
      resetSeconds,
      lifeboat: {
        command: `MALLOC_ARENA_MAX=2 NODE_ENV=production node --max-semi-space-size=2 ${COMPILED_STEP} <step> <dataRoot> <repDir>`,
        ...build,
      },
      results,
    });
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
