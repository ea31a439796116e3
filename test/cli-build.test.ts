/**
 * The compiled CLI (scripts/build.js, bin/lifeboat.js): `lifeboat` runs the JavaScript in dist/ when
 * it is not older than the sources, the TypeScript sources otherwise; a copy with bin/ and dist/ and no
 * TypeScript sources runs from dist/ alone. (The CLI package is one bundle: test/cli-pack.test.ts.)
 */
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { hermetic, tempDir } from './helpers';

const run = promisify(execFile);
const ROOT = path.resolve(__dirname, '..');
// eslint-disable-next-line @typescript-eslint/no-require-imports
const builder = require('../scripts/build.js') as { isStale: (root?: string) => boolean; build: () => void };

async function version(bin: string, env: Record<string, string> = {}) {
  const { stdout } = await run(process.execPath, [bin, 'version', '--json', '--address', '127.0.0.1:1'], {
    env: { ...hermetic(), ...env },
  });
  return JSON.parse(stdout) as { runs: string; cli: { version: string } };
}

beforeAll(() => {
  if (builder.isStale()) builder.build();
}, 120_000);

test('the CLI runs the compiled JavaScript when it is current, the sources when asked', async () => {
  expect((await version(path.join(ROOT, 'bin', 'lifeboat.js'))).runs).toBe('compiled');
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

test('without TypeScript sources the CLI runs from dist/ alone', async () => {
  const pkg = tempDir('cli-package');
  for (const part of ['bin', 'dist', path.join('scripts', 'build.js'), 'package.json'])
    fs.cpSync(path.join(ROOT, part), path.join(pkg, part), { recursive: true });
  fs.symlinkSync(path.join(ROOT, 'node_modules'), path.join(pkg, 'node_modules'));
  const answer = await version(path.join(pkg, 'bin', 'lifeboat.js'));
  expect(answer.runs).toBe('compiled');
  expect(answer.cli.version).toBe(
    (JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string }).version,
  );
}, 60_000);
