/**
 * The CLI's package for a responder's laptop (`npm run pack:cli`): `lifeboat-<version>.tgz`, which
 * installs with no registry and no checkout (`npm install --offline ./lifeboat-<version>.tgz` into an
 * empty folder, or `--global`).
 *
 * - The CLI and every JavaScript module it runs are one file, dist/lifeboat-cli.js, bundled by esbuild
 *   from the TypeScript sources. Bare imports resolve exactly as the compiled CLI's `require` resolves them
 *   (Node's CommonJS resolution, e.g. openpgp's CommonJS build), so the bundle runs the code the
 *   repository's tests run. The package therefore has no dependencies to fetch.
 * - better-sqlite3, a native module, cannot be bundled: it is an optional dependency. Online, npm
 *   installs it (a prebuilt binary for the laptop, or a build); offline, or where it fails to build, the
 *   install still succeeds and only the commands that read a local SQLite store say what to install
 *   (client/cli.ts). pg-native (pg's optional native driver) stays outside the bundle likewise, and
 *   zstd-napi (optional too): without it the bundled fzstd decompresses archives, more slowly.
 * - The package's package.json carries the version and the commit it was built from (`lifeboat
 *   version` reports it: there is no git repository around an installed package).
 * - `lifeboat` (dist/lifeboat.js) runs the bundle through bin/cached-bundle.js (copied beside it), which
 *   keeps a V8 code cache of it: the bundle is not compiled again at every call.
 *
 * Usage: node scripts/pack-cli.js [--pack-destination DIR] [--json]; prints the tarball's path (or npm
 * pack's JSON). `--bundle FILE` writes the bundle alone (scripts/build.js: a checkout's
 * dist/lifeboat-cli.js). test/cli-pack.test.ts and `npm run bench:cli` use packCli and installOffline.
 * The package folder is assembled in a temporary folder, removed afterwards.
 */
'use strict';
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const { isBuiltin } = require('node:module');
const os = require('node:os');
const path = require('node:path');
const { parseArgs } = require('node:util');

const ROOT = path.resolve(__dirname, '..');
/** Modules left outside the bundle: native, resolved where the package is installed. */
const EXTERNAL = new Set(['better-sqlite3', 'pg-native', 'zstd-napi']);
/** Packages whose CommonJS build is UMD (its require calls hidden from a bundler): their ES module build. */
const ES_MODULE_BUILD = new Set(['jsonc-parser']);

/** Bare imports resolved as Node's require() resolves them from the importing file. */
const commonJsResolution = {
  name: 'commonjs-resolution',
  setup(build) {
    build.onResolve({ filter: /^[^./]/ }, (args) => {
      if (isBuiltin(args.path)) return { path: args.path, external: true };
      const name = args.path.startsWith('@') ? args.path.split('/', 2).join('/') : args.path.split('/')[0];
      if (EXTERNAL.has(name)) return { path: args.path, external: true };
      let resolved;
      try {
        resolved = require.resolve(args.path, { paths: [args.resolveDir] });
      } catch {
        // An optional dependency not installed here (pg's pg-cloudflare, say): left to the runtime,
        // whose require fails only if that code path ever runs, as the compiled CLI's would.
        return {
          path: args.path,
          external: true,
          warnings: [{ text: `${args.path} is not installed: left outside the bundle` }],
        };
      }
      if (ES_MODULE_BUILD.has(name) && name === args.path) {
        const dir = path.dirname(require.resolve(`${name}/package.json`, { paths: [args.resolveDir] }));
        return { path: path.join(dir, require(path.join(dir, 'package.json')).module) };
      }
      return { path: resolved };
    });
  },
};

/**
 * Runs npm: the npm that runs this script when there is one (`npm run pack:cli`, `npm test`), else
 * `npm` from PATH (through a shell on Windows, where it is npm.cmd).
 */
function npm(args, options) {
  const own = process.env.npm_execpath;
  const [command, argv, shell] =
    own && /npm-cli\.js$/.test(own)
      ? [process.execPath, [own, ...args], false]
      : ['npm', args, process.platform === 'win32'];
  const result = spawnSync(command, argv, {
    encoding: 'utf8',
    shell,
    ...options,
    env: { ...process.env, npm_config_update_notifier: 'false' },
  });
  if (result.error) throw new Error(`npm ${args[0]} could not run: ${result.error.message}`);
  if (result.status !== 0)
    throw new Error(`npm ${args[0]} failed (exit ${result.status}): ${(result.stderr ?? '').trim()}`);
  return result.stdout;
}

function commit() {
  const git = spawnSync('git', ['rev-parse', '--short=12', 'HEAD'], { cwd: ROOT, encoding: 'utf8' });
  if (git.status !== 0) return 'unknown';
  const dirty = spawnSync('git', ['status', '--porcelain', '--untracked-files=no'], {
    cwd: ROOT,
    encoding: 'utf8',
  });
  return `${git.stdout.trim()}${dirty.stdout.trim() ? '-dirty' : ''}`;
}

/** The CLI and every JavaScript module it runs in one file, `file` (bin/cached-bundle.js runs it). */
async function bundleCli(file) {
  const esbuild = require('esbuild');
  await esbuild.build({
    stdin: {
      // The entry: bin/lifeboat.js's job for the bundle, which is always compiled.
      contents: [
        "process.env.LIFEBOAT_CLI_RUNS = 'bundle';",
        "require('./client/cli').main(process.argv.slice(2)).then(",
        '  (code) => process.exit(code),',
        '  (err) => { console.error(err); process.exit(1); },',
        ');',
      ].join('\n'),
      resolveDir: ROOT,
      sourcefile: 'lifeboat-cli-entry.js',
      loader: 'js',
    },
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'cjs',
    outfile: file,
    plugins: [commonJsResolution],
    legalComments: 'linked',
    logLevel: 'warning',
  });
}

/** The package's dist/: the bundle, its loader (bin/cached-bundle.js) and the command that runs them. */
async function writeDist(out) {
  const dist = path.join(out, 'dist');
  await bundleCli(path.join(dist, 'lifeboat-cli.js'));
  fs.copyFileSync(path.join(ROOT, 'bin', 'cached-bundle.js'), path.join(dist, 'cached-bundle.js'));
  fs.writeFileSync(
    path.join(dist, 'lifeboat.js'),
    [
      '#!/usr/bin/env node',
      "'use strict';",
      "require('./cached-bundle.js').runBundle(require('node:path').join(__dirname, 'lifeboat-cli.js'));",
      '',
    ].join('\n'),
    { mode: 0o755 },
  );
}

function writePackage(out) {
  const root = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
  const manifest = {
    name: 'lifeboat',
    version: root.version,
    description: `${root.description}: the lifeboat CLI`,
    license: root.license,
    engines: root.engines,
    bin: { lifeboat: 'dist/lifeboat.js' },
    files: ['dist/'],
    optionalDependencies: {
      'better-sqlite3': root.dependencies['better-sqlite3'],
      'zstd-napi': root.dependencies['zstd-napi'],
    },
    lifeboatCommit: commit(),
  };
  fs.writeFileSync(path.join(out, 'package.json'), `${JSON.stringify(manifest, null, 2)}\n`);
  fs.writeFileSync(
    path.join(out, 'README.md'),
    [
      '# lifeboat CLI',
      '',
      'The command line of Lifeboat, a disaster-recovery runbook engine on Temporal: `lifeboat --help`.',
      'One bundled file; better-sqlite3 (optional) serves the commands that read a local SQLite store,',
      'zstd-napi (optional) reads archives faster (without it, a bundled JavaScript decoder reads them).',
      'See the repository\'s README, "The CLI on a responder\'s laptop".',
      '',
    ].join('\n'),
  );
}

/** Builds the package and packs it into `destination`; returns npm pack's description of it. */
async function packCli(destination) {
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'lifeboat-pack-cli-'));
  try {
    fs.mkdirSync(path.join(out, 'dist'));
    await writeDist(out);
    writePackage(out);
    const stdout = npm(['pack', '--offline', '--json', '--pack-destination', destination], { cwd: out });
    const [packed] = JSON.parse(stdout);
    return { ...packed, tarball: path.join(destination, packed.filename) };
  } finally {
    fs.rmSync(out, { recursive: true, force: true });
  }
}

/**
 * Installs a packed tarball into `folder` as a responder would, offline and from an empty npm cache
 * (`cache`): proof that it needs nothing from a registry. Returns the installed `lifeboat` command.
 */
function installOffline(tarball, folder, cache) {
  fs.mkdirSync(folder, { recursive: true });
  fs.mkdirSync(cache, { recursive: true });
  npm(['install', '--offline', '--cache', cache, '--prefix', folder, '--no-audit', '--no-fund', tarball], {
    cwd: folder,
  });
  return path.join(folder, 'node_modules', '.bin', 'lifeboat');
}

module.exports = { packCli, installOffline, bundleCli };

if (require.main === module) {
  const { values } = parseArgs({
    options: {
      'pack-destination': { type: 'string' },
      json: { type: 'boolean' },
      bundle: { type: 'string' },
    },
  });
  // `--bundle FILE`: the bundle alone (scripts/build.js makes dist/lifeboat-cli.js so).
  const done = values.bundle
    ? bundleCli(path.resolve(values.bundle)).then(() => path.resolve(values.bundle))
    : packCli(path.resolve(values['pack-destination'] ?? process.cwd()));
  done.then(
    (packed) =>
      console.log(
        typeof packed === 'string' ? packed : values.json ? JSON.stringify(packed, null, 2) : packed.tarball,
      ),
    (err) => {
      console.error(`pack-cli: ${err.message}`);
      process.exit(1);
    },
  );
}
