// Runs the CLI bundle (one file of compiled JavaScript, esbuild's: scripts/pack-cli.js) with a V8
// code cache, so that a call does not compile the same 6 MB of JavaScript again: `lifeboat status`
// about 0.15 s sooner on a 2-core machine (`npm run bench:cli`). Node 20 has no compile cache of its
// own (module.enableCompileCache came with Node 22); this is what it does, for one file.
//
// The cache is bytecode that will run: it is used only when its header holds the SHA-256 of the
// bundle's text and of this Node's version and architecture (V8 itself checks little more than the
// text's length) and of the data after it (V8 does not check every byte), and only when this user
// owns the file and nobody else may write it. It lives beside the bundle when that folder is
// writable, else in the user's cache folder ($XDG_CACHE_HOME or ~/.cache, lifeboat/, mode 0700),
// never a shared temp folder. It is written when missing, stale, damaged or refused by V8, at exit
// (the functions the command compiled are then in it), atomically (a temp file renamed). Any problem
// with it costs only the speed: the bundle then compiles as before. LIFEBOAT_CLI_CACHE tells the CLI
// what happened (`lifeboat version --json`: codeCache). LIFEBOAT_CLI_NO_CACHE=1 neither reads nor
// writes one. The user's cache folder keeps the newest three caches (KEEP).
'use strict';
const { Buffer } = require('node:buffer');
const { createHash } = require('node:crypto');
const fs = require('node:fs');
const Module = require('node:module');
const os = require('node:os');
const path = require('node:path');
const vm = require('node:vm');

const MAGIC = Buffer.from('LIFEBOAT-V8CACHE/1\n');
/** The header: MAGIC, the key (the bundle's and Node's SHA-256), the SHA-256 of the V8 data after it. */
const HEADER = MAGIC.length + 64;

const sha256 = (data) => createHash('sha256').update(data).digest();

/** Where the cache may be: beside the bundle, then the user's cache folder. */
function places(bundle, key) {
  let home = process.env.XDG_CACHE_HOME;
  try {
    home ||= path.join(os.homedir(), '.cache');
  } catch {
    // No home (no HOME and no passwd entry): beside the bundle only.
  }
  const mine = path.join(home ?? '', 'lifeboat', `cli-${key.toString('hex').slice(0, 16)}.v8cache`);
  return home ? [`${bundle}.v8cache`, mine] : [`${bundle}.v8cache`];
}

/** A file this user wrote and only this user may change: nobody else's bytecode is run. */
function ownFile(fd) {
  const st = fs.fstatSync(fd);
  return st.isFile() && (!process.getuid || st.uid === process.getuid()) && (st.mode & 0o022) === 0;
}

/** The V8 data of the first cache of this bundle; `damaged` when one was found whose data is not whole. */
function readCache(files, key) {
  let damaged = false;
  for (const file of files) {
    let data;
    let fd;
    try {
      fd = fs.openSync(file, 'r');
      if (!ownFile(fd)) continue;
      data = fs.readFileSync(fd);
    } catch {
      continue;
    } finally {
      if (fd !== undefined) fs.closeSync(fd);
    }
    if (data.length <= HEADER || !data.subarray(0, MAGIC.length).equals(MAGIC)) continue;
    if (!data.subarray(MAGIC.length, MAGIC.length + 32).equals(key)) continue;
    // V8 checks its data's versions and length, not every byte: a flipped byte would run.
    const v8data = data.subarray(HEADER);
    if (sha256(v8data).equals(data.subarray(MAGIC.length + 32, HEADER))) return { data: v8data };
    damaged = true;
  }
  return { damaged };
}

/** Caches kept in the user's cache folder: one per bundle and Node, the newest few. */
const KEEP = 3;

function writeCache(files, key, data) {
  for (const [i, file] of files.entries()) {
    const tmp = `${file}.${process.pid}.tmp`;
    try {
      fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
      fs.writeFileSync(tmp, Buffer.concat([MAGIC, key, sha256(data), data]), { mode: 0o600 });
      fs.renameSync(tmp, file);
      if (i > 0) prune(path.dirname(file));
      return true;
    } catch {
      fs.rmSync(tmp, { force: true });
    }
  }
  return false;
}

/** The user's cache folder keeps the KEEP caches written last (older bundles and Nodes go). */
function prune(dir) {
  const caches = fs
    .readdirSync(dir)
    .filter((name) => /^cli-[0-9a-f]{16}\.v8cache$/.test(name))
    .map((name) => ({ file: path.join(dir, name), at: fs.statSync(path.join(dir, name)).mtimeMs }))
    .sort((a, b) => b.at - a.at);
  for (const old of caches.slice(KEEP)) fs.rmSync(old.file, { force: true });
}

/** Runs `bundle` as the main program, as `node bundle` would, with its code cache. */
function runBundle(bundle) {
  const source = fs.readFileSync(bundle, 'utf8');
  const key = sha256(`${source}\0${process.version}\0${process.arch}`);
  const files = places(bundle, key);
  const off = process.env.LIFEBOAT_CLI_NO_CACHE === '1';
  const found = off ? {} : readCache(files, key);
  const cached = found.data;
  // The text as Node's CommonJS loader wraps it (the bundle has no #! line: its launcher has).
  const script = new vm.Script(Module.wrap(source), {
    filename: bundle,
    cachedData: cached,
    // An import() in the bundle loads as it would in a file Node ran (none does today).
    importModuleDynamically: vm.constants?.USE_MAIN_CONTEXT_DEFAULT_LOADER,
  });
  const used = cached !== undefined && !script.cachedDataRejected;
  // used; missing, damaged or rejected by V8 (compiled now, written at exit); off (LIFEBOAT_CLI_NO_CACHE=1).
  process.env.LIFEBOAT_CLI_CACHE = off
    ? 'off'
    : used
      ? 'used'
      : cached
        ? 'rejected'
        : found.damaged
          ? 'damaged'
          : 'missing';
  if (!used && !off)
    process.once('exit', () => {
      try {
        writeCache(files, key, script.createCachedData());
      } catch {
        // The speed only: the next call compiles again.
      }
    });
  const mod = new Module(bundle, null);
  mod.filename = bundle;
  mod.paths = Module._nodeModulePaths(path.dirname(bundle));
  const req = Module.createRequire(bundle);
  script.runInThisContext().call(mod.exports, mod.exports, req, mod, bundle, path.dirname(bundle));
}

module.exports = { runBundle };
