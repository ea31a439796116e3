/**
 * `npm pack` yields the CLI's package: bin/lifeboat.js and the compiled dist/ (prepack builds it when
 * stale), no TypeScript sources, no source maps, no worker. Unpacked into an empty folder, with no
 * checkout beside it, its `lifeboat` runs compiled: --help, runbooks, version against the test server,
 * and `audit show` on a SQLite ledger. The dependencies come from the repository's node_modules
 * (linked, as test/cli-build.test.ts does): `npm install --offline` of the tarball cannot run from this
 * machine's npm cache (README, "The CLI on a responder's laptop").
 */
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { ROOT, hermetic, lifeboat, oneEventLedger, tempDir } from './helpers';

const run = promisify(execFile);

let dir: string;
let files: string[];
let bin: string;

beforeAll(async () => {
  dir = tempDir('cli-pack');
  // --offline: packing needs no registry; prepack (scripts/build.js --if-stale) builds a stale dist/.
  const { stdout } = await run('npm', ['pack', '--offline', '--json', '--pack-destination', dir], {
    cwd: ROOT,
    env: { ...hermetic(), npm_config_update_notifier: 'false' },
    maxBuffer: 16 * 1024 * 1024,
  });
  const [packed] = JSON.parse(stdout) as { filename: string; files: { path: string }[] }[];
  files = packed.files.map((f) => f.path);
  const app = path.join(dir, 'app');
  fs.mkdirSync(path.join(app, 'node_modules', 'lifeboat'), { recursive: true });
  await run('tar', [
    'xzf',
    path.join(dir, packed.filename),
    '-C',
    path.join(app, 'node_modules', 'lifeboat'),
    '--strip-components=1',
  ]);
  // The package's dependencies, as an install would place them beside it.
  for (const dep of fs.readdirSync(path.join(ROOT, 'node_modules')))
    if (!dep.startsWith('.') && dep !== 'lifeboat')
      fs.symlinkSync(path.join(ROOT, 'node_modules', dep), path.join(app, 'node_modules', dep));
  bin = path.join(app, 'node_modules', 'lifeboat', 'bin', 'lifeboat.js');
}, 180_000);

const packed = (args: string[]) => lifeboat(args, {}, { bin, cwd: dir });

test('the package holds the launcher and the compiled CLI, and nothing of the checkout', () => {
  expect(files).toEqual(
    expect.arrayContaining(['package.json', 'bin/lifeboat.js', 'dist/client/cli.js', 'dist/client/lazy.js']),
  );
  expect(files.filter((f) => f.endsWith('.ts') || f.endsWith('.map'))).toEqual([]);
  expect(files.filter((f) => !/^(package\.json|README\.md|bin\/lifeboat\.js|dist\/)/.test(f))).toEqual([]);
  expect(files.filter((f) => /^dist\/(worker|bench)\//.test(f))).toEqual([]);
});

test('the packed lifeboat runs compiled in a folder without the repository', async () => {
  const ledger = path.join(dir, 'audit.sqlite');
  await oneEventLedger(ledger, 'cli-pack');
  const [version, help, runbooks, audit] = await Promise.all([
    packed(['version', '--json']),
    packed(['--help']),
    packed(['runbooks', '--json']),
    packed(['audit', 'show', 'cli-pack', '--ledger', ledger]),
  ]);
  expect({ code: version.code, stderr: version.stderr }).toEqual({ code: 0, stderr: '' });
  const answer = JSON.parse(version.stdout) as {
    runs: string;
    cli: { version: string };
    unreachable?: string;
  };
  expect(answer.runs).toBe('compiled');
  expect(answer.unreachable).toBeUndefined();
  expect(answer.cli.version).toBe(
    (JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string }).version,
  );
  expect(help.code).toBe(0);
  expect(help.stdout).toContain('audit show');
  expect(runbooks.code).toBe(0);
  expect((JSON.parse(runbooks.stdout) as { name: string }[]).map((r) => r.name)).toContain(
    'corruptedStoreRecovery',
  );
  expect({ code: audit.code, stderr: audit.stderr }).toEqual({ code: 0, stderr: '' });
  expect(audit.stdout).toContain('step.succeeded [verifyPrimary]');
}, 60_000);
