/**
 * `npm run bench [-- --size 256M] [--dir DIR] [--keep] [--seed N]`
 *
 * Generates a reproducible data set, then, on the same data and in one fixed order, measures
 * Lifeboat (full backup, incremental after changing 1% of files, verify, restore) against restic,
 * borg and `tar | gzip -1 | gpg --symmetric`. Prints a table (seconds, MB/s, archive size, peak
 * RSS, Lifeboat's ratio to each peer) and writes bench/results/latest.json. See bench/README.md.
 *
 * This file sets up and cleans up the work folder. The rest: options.ts (the command line), tools.ts
 * (which peers are installed), data.ts (the data set), sequence.ts (the twelve steps in order),
 * steps.ts (one measured step), measure.ts and lifeboat-step.ts (timing one process), report.ts
 * (ratios, targets, the table and latest.json).
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { changeOnePercent, fingerprint, generateDataset, type DatasetSummary } from './data';
import { layout } from './layout';
import { syncDisks } from './measure';
import { parseArgs } from './options';
import { mb, report } from './report';
import { measureEverything } from './sequence';
import type { Context } from './steps';
import { ensureTools } from './tools';

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
    return await report({
      options,
      tools,
      dataset,
      generateSeconds,
      changed,
      loadAtStart,
      results: ctx.results,
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
