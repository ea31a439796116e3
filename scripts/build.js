/**
 * The compiled CLI and runtime (`npm run build`): TypeScript compiled to CommonJS in dist/ with
 * tsconfig.build.json, so that `lifeboat` runs JavaScript without compiling TypeScript at every call
 * (bin/lifeboat.js), and the benchmark's Lifeboat step (dist/bench/lifeboat-step.js, which `npm run
 * bench` runs compiled, as production runs Lifeboat). dist/.built marks a finished build; the build is
 * stale when a source file under the compiled folders or one of the compiled files (FILES), or a
 * tsconfig, is newer. Run by the setup of both README commands and of `npm run bench`. The CLI is also
 * bundled into one file (bundleCli below), and the workflows into the bundle workers run (bundleWorkflows).
 */
'use strict';
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const ROOT = path.resolve(__dirname, '..');
const FOLDERS = ['common', 'config', 'workflows', 'runbooks', 'activities', 'worker', 'client'];
/** Single files compiled besides the folders (tsconfig.build.json's include lists both). */
const FILES = ['bench/lifeboat-step.ts', 'bench/layout.ts'];
const STAMP = path.join(ROOT, 'dist', '.built');

/** The newest modification time of the compiled sources (a dev checkout; 0 in an installed package). */
function newestSource(root = ROOT) {
  let newest = 0;
  const walk = (dir) => {
    let entries;
    try {
      entries = fs.readdirSync(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith('.ts')) newest = Math.max(newest, fs.statSync(p).mtimeMs);
    }
  };
  for (const f of FOLDERS) walk(path.join(root, f));
  // The lock and npm's record of what is installed: the CLI's bundle holds the dependencies' code.
  const installed = ['package-lock.json', path.join('node_modules', '.package-lock.json')];
  for (const f of [...FILES, 'tsconfig.json', 'tsconfig.build.json', 'package.json', ...installed])
    if (fs.existsSync(path.join(root, f))) newest = Math.max(newest, fs.statSync(path.join(root, f)).mtimeMs);
  return newest;
}

/** Whether dist/ is missing or older than the sources it was compiled from. */
function isStale(root = ROOT) {
  const stamp = path.join(root, 'dist', '.built');
  if (!fs.existsSync(stamp)) return true;
  return newestSource(root) > fs.statSync(stamp).mtimeMs;
}

/**
 * The CLI in one file, dist/lifeboat-cli.js (scripts/pack-cli.js's bundle, which bin/lifeboat.js runs
 * with a code cache: bin/cached-bundle.js). Where esbuild (a dev dependency) or pack-cli.js is not
 * there, as in the image's compile stage, there is none and bin/lifeboat.js runs dist/client/cli.js.
 */
function bundleCli() {
  const file = path.join(ROOT, 'dist', 'lifeboat-cli.js');
  // An older build's bundle never runs beside a newer dist/.
  for (const old of [file, `${file}.v8cache`, `${file}.LEGAL.txt`]) fs.rmSync(old, { force: true });
  const packCli = path.join(__dirname, 'pack-cli.js');
  let esbuild = false;
  try {
    esbuild = !!require.resolve('esbuild');
  } catch {
    // No esbuild: no bundle.
  }
  if (!esbuild || !fs.existsSync(packCli)) return;
  const result = spawnSync(process.execPath, [packCli, '--bundle', file], {
    cwd: ROOT,
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  // A speed-up only: without it the CLI runs dist/client/cli.js.
  if (result.status !== 0) {
    fs.rmSync(file, { force: true });
    console.warn(`build: bundling the CLI failed (exit ${result.status}); lifeboat runs dist/client/cli.js`);
  }
}

/**
 * The workflow bundle, dist/workflow-bundle.js, made from the compiled workflows by the compiled
 * dist/worker/bundle-main.js: a compiled worker runs it (worker/bundle.ts) instead of bundling with
 * webpack at every start. Without it (bundling failed), a worker bundles at start as before.
 */
function bundleWorkflows() {
  const file = path.join(ROOT, 'dist', 'workflow-bundle.js');
  fs.rmSync(file, { force: true });
  const result = spawnSync(process.execPath, [path.join(ROOT, 'dist', 'worker', 'bundle-main.js'), file], {
    cwd: ROOT,
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  if (result.status !== 0) {
    fs.rmSync(file, { force: true });
    console.warn(
      `build: bundling the workflows failed (exit ${result.status}); workers bundle them at start`,
    );
  }
}

function build() {
  // The stamp carries the build's start time: a source saved while tsc runs is newer than it.
  const started = new Date();
  fs.rmSync(STAMP, { force: true });
  const tsc = require.resolve('typescript/bin/tsc');
  const result = spawnSync(process.execPath, [tsc, '-p', path.join(ROOT, 'tsconfig.build.json')], {
    cwd: ROOT,
    stdio: 'inherit',
  });
  if (result.status !== 0) throw new Error(`the TypeScript build failed (exit ${result.status})`);
  bundleCli();
  bundleWorkflows();
  fs.writeFileSync(STAMP, `${started.toISOString()}\n`);
  fs.utimesSync(STAMP, started, started);
}

module.exports = { isStale, build, newestSource, FOLDERS, FILES };

if (require.main === module) {
  try {
    // `--if-stale`: a current dist/ is left as it is.
    if (!process.argv.includes('--if-stale') || isStale()) build();
  } catch (err) {
    console.error(`build failed: ${err.message}`);
    process.exit(1);
  }
}
