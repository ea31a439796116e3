/**
 * The compiled CLI (scripts/build.js, bin/lifeboat.js): `lifeboat` runs the JavaScript in dist/ when
 * it is not older than the sources — its bundle, dist/lifeboat-cli.js, with a code cache
 * (bin/cached-bundle.js), or dist/client/cli.js where the build made no bundle — and the TypeScript
 * sources otherwise; a copy with bin/ and dist/ and no TypeScript sources runs from dist/ alone. (The
 * CLI package: test/cli-pack.test.ts.)
 */
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { hermetic, serverAddress, tempDir } from './helpers';

const run = promisify(execFile);
const ROOT = path.resolve(__dirname, '..');
// eslint-disable-next-line @typescript-eslint/no-require-imports
const builder = require('../scripts/build.js') as { isStale: (root?: string) => boolean; build: () => void };

async function version(bin: string, env: Record<string, string> = {}) {
  // The test server answers at once (an address with no server takes the 5 s connect deadline).
  const { stdout } = await run(process.execPath, [bin, 'version', '--json', '--address', serverAddress()], {
    env: { ...hermetic(), LIFEBOAT_CLI_NO_CACHE: '', ...env },
  });
  return JSON.parse(stdout) as { runs: string; codeCache?: string; cli: { version: string } };
}

/** A copy of what runs the compiled CLI (bin/, dist/, the build script), without TypeScript sources. */
function compiledCopy(prefix: string): string {
  const pkg = tempDir(prefix);
  // Without the code cache: CLIs of other test files write and rename it meanwhile.
  const filter = (file: string) => !/\.v8cache(\.\d+\.tmp)?$/.test(file);
  for (const part of ['bin', 'dist', path.join('scripts', 'build.js'), 'package.json'])
    fs.cpSync(path.join(ROOT, part), path.join(pkg, part), { recursive: true, filter });
  fs.symlinkSync(path.join(ROOT, 'node_modules'), path.join(pkg, 'node_modules'));
  return pkg;
}

beforeAll(() => {
  if (builder.isStale()) builder.build();
}, 120_000);

test('the CLI runs the compiled JavaScript when it is current, the sources when asked', async () => {
  expect((await version(path.join(ROOT, 'bin', 'lifeboat.js'))).runs).toBe('bundle');
  expect((await version(path.join(ROOT, 'bin', 'lifeboat.js'), { LIFEBOAT_CLI_SOURCES: '1' })).runs).toBe(
    'sources',
  );
}, 60_000);

test('a build older than a source file is stale', () => {
  const root = tempDir('cli-build');
  fs.mkdirSync(path.join(root, 'client'));
  fs.mkdirSync(path.join(root, 'dist'));
  fs.writeFileSync(path.join(root, 'client', 'cli.ts'), '');
  expect(builder.isStale(root)).toBe(true); // never built
  fs.writeFileSync(path.join(root, 'dist', '.built'), '');
  const now = Date.now() / 1000;
  fs.utimesSync(path.join(root, 'client', 'cli.ts'), now - 60, now - 60);
  expect(builder.isStale(root)).toBe(false);
  fs.utimesSync(path.join(root, 'client', 'cli.ts'), now + 60, now + 60);
  expect(builder.isStale(root)).toBe(true);
});

test('without TypeScript sources the CLI runs from dist/ alone: the bundle, else dist/client/cli.js', async () => {
  const pkg = compiledCopy('cli-package');
  const bin = path.join(pkg, 'bin', 'lifeboat.js');
  const answer = await version(bin);
  expect(answer.runs).toBe('bundle');
  expect(answer.cli.version).toBe(
    (JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string }).version,
  );
  // A build without esbuild (the image's compile stage) has no bundle: the compiled modules run.
  fs.rmSync(path.join(pkg, 'dist', 'lifeboat-cli.js'));
  const fallback = await version(bin);
  expect(fallback.runs).toBe('compiled');
  expect(fallback.codeCache).toBeUndefined();
}, 60_000);

test('the code cache: written by the first call, used by the next, never used for another bundle or when damaged', async () => {
  const pkg = compiledCopy('cli-cache');
  const bin = path.join(pkg, 'bin', 'lifeboat.js');
  const bundle = path.join(pkg, 'dist', 'lifeboat-cli.js');
  const cache = `${bundle}.v8cache`;
  const home = tempDir('cli-cache-home');
  const env = { XDG_CACHE_HOME: home };
  expect((await version(bin, env)).codeCache).toBe('missing');
  expect(fs.statSync(cache).mode & 0o777).toBe(0o600);
  expect((await version(bin, env)).codeCache).toBe('used');
  // Another bundle (the same length, as V8's own check would let through): compiled again, the cache rewritten.
  const text = fs.readFileSync(bundle, 'utf8');
  fs.writeFileSync(bundle, text.replace(/\n$/, ' '));
  expect((await version(bin, env)).codeCache).toBe('missing');
  expect((await version(bin, env)).codeCache).toBe('used');
  // A damaged cache is never run (V8 would run most flipped bytes): compiled again, rewritten.
  const data = fs.readFileSync(cache);
  data[data.length - 100] ^= 0xff;
  fs.writeFileSync(cache, data);
  expect(await version(bin, env)).toMatchObject({ runs: 'bundle', codeCache: 'damaged' });
  expect((await version(bin, env)).codeCache).toBe('used');
  // A cache others may write is not run (whoever wrote it): compiled again, rewritten as 0600.
  fs.chmodSync(cache, 0o666);
  expect((await version(bin, env)).codeCache).toBe('missing');
  expect((await version(bin, env)).codeCache).toBe('used');
  // Where the bundle's folder takes no cache, the user's cache folder does.
  fs.rmSync(cache);
  fs.mkdirSync(cache);
  expect((await version(bin, env)).codeCache).toBe('missing');
  expect(fs.readdirSync(path.join(home, 'lifeboat'))).toEqual([
    expect.stringMatching(/^cli-[0-9a-f]{16}\.v8cache$/),
  ]);
  expect((await version(bin, env)).codeCache).toBe('used');
  expect((await version(bin, { ...env, LIFEBOAT_CLI_NO_CACHE: '1' })).codeCache).toBe('off');
  // The user's cache folder keeps the three caches written last: three more bundles, the first goes.
  const [first] = fs.readdirSync(path.join(home, 'lifeboat'));
  for (const n of [1, 2, 3]) {
    fs.writeFileSync(bundle, `${text}// ${n}\n`);
    expect((await version(bin, env)).codeCache).toBe('missing');
  }
  const kept = fs.readdirSync(path.join(home, 'lifeboat'));
  expect(kept).toHaveLength(3);
  expect(kept).not.toContain(first);
}, 90_000);
