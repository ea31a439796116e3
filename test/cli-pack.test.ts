/**
 * The CLI's package (scripts/pack-cli.js, `npm run pack:cli`): one bundled file, the loader that keeps
 * its code cache (bin/cached-bundle.js) and a package.json with nothing to fetch but an optional
 * better-sqlite3. Installed with `npm install --offline` from an empty npm cache into an empty folder
 * outside the repository, its `lifeboat` reaches the test server,
 * lists runbooks and runs, and breaks glass on the committed archive fixture; the commands that read a
 * local SQLite store say what to install until better-sqlite3 is beside it (put there from the
 * repository's node_modules, as an online install of the optional dependency would), then work.
 * The repository itself refuses `npm pack`, pointing at `npm run pack:cli`.
 */
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { FIXTURES, FULL_ID, INCREMENTAL_ID, KEY_FILES } from '../scripts/make-archive-fixture';
import { treeState } from '../scripts/storage-root';
import { ROOT, hermetic, lifeboat, oneEventLedger, tempDir } from './helpers';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const packer = require('../scripts/pack-cli.js') as {
  packCli: (destination: string) => Promise<{ tarball: string; files: { path: string }[] }>;
  installOffline: (tarball: string, folder: string, cache: string) => string;
};
const run = promisify(execFile);

let dir: string;
let app: string;
let files: string[];
let bin: string;

beforeAll(async () => {
  dir = tempDir('cli-pack');
  const packed = await packer.packCli(dir);
  files = packed.files.map((f) => f.path);
  app = path.join(dir, 'app');
  bin = packer.installOffline(packed.tarball, app, path.join(dir, 'empty-npm-cache'));
}, 180_000);

// LIFEBOAT_COMMIT emptied: the commit must come from the package's own package.json.
const installed = (args: string[]) => lifeboat(args, { LIFEBOAT_COMMIT: '' }, { bin, cwd: dir });

test('the package is the bundle, its loader, its licences and a manifest that needs no registry', () => {
  expect(files.sort()).toEqual([
    'README.md',
    'dist/cached-bundle.js',
    'dist/lifeboat-cli.js',
    'dist/lifeboat-cli.js.LEGAL.txt',
    'dist/lifeboat.js',
    'package.json',
  ]);
  const manifest = JSON.parse(
    fs.readFileSync(path.join(app, 'node_modules', 'lifeboat', 'package.json'), 'utf8'),
  ) as Record<string, unknown>;
  const root = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as {
    version: string;
    dependencies: Record<string, string>;
  };
  expect(manifest.version).toBe(root.version);
  expect(manifest.dependencies).toBeUndefined();
  expect(manifest.optionalDependencies).toEqual({
    'better-sqlite3': root.dependencies['better-sqlite3'],
    'zstd-napi': root.dependencies['zstd-napi'],
  });
  // Installed offline from an empty cache: lifeboat alone, its optional native modules skipped.
  expect(fs.readdirSync(path.join(app, 'node_modules')).filter((d) => !d.startsWith('.'))).toEqual([
    'lifeboat',
  ]);
});

test('the installed lifeboat runs the bundle, names its build and reaches the server', async () => {
  const { stdout: head } = await run('git', ['rev-parse', '--short=12', 'HEAD'], { cwd: ROOT });
  const [version, help, runbooks, list] = await Promise.all([
    installed(['version', '--json']),
    installed(['--help']),
    installed(['runbooks', '--json']),
    installed(['list', '--json']),
  ]);
  expect({ code: version.code, stderr: version.stderr }).toEqual({ code: 0, stderr: '' });
  const answer = JSON.parse(version.stdout) as {
    runs: string;
    cli: { version: string; commit: string };
    unreachable?: string;
  };
  expect(answer.runs).toBe('bundle');
  expect(answer.unreachable).toBeUndefined();
  expect(answer.cli.commit).toMatch(new RegExp(`^${head.trim()}(-dirty)?$`));
  expect(help.code).toBe(0);
  expect(help.stdout).toContain('audit show');
  expect(runbooks.code).toBe(0);
  expect((JSON.parse(runbooks.stdout) as { name: string }[]).map((r) => r.name)).toContain(
    'corruptedStoreRecovery',
  );
  expect({ code: list.code, stderr: list.stderr }).toEqual({ code: 0, stderr: '' });
  expect(Array.isArray(JSON.parse(list.stdout))).toBe(true);
  // The first calls wrote the code cache beside the bundle; the next one runs from it.
  const again = await installed(['version', '--json']);
  expect((JSON.parse(again.stdout) as { codeCache: string }).codeCache).toBe('used');
}, 60_000);

// Format 2's zstd chunks by the bundled JavaScript decoder: zstd-napi is not installed either.
test.each(Object.entries(FIXTURES))(
  'break glass without the repository, SQLite or zstd-napi: the format %s fixture lists and extracts exactly, signatures checked',
  async (version, folder) => {
    const fixture = (name: string) => path.join(folder, name);
    const KEY = [
      '--key',
      fixture(KEY_FILES.recipientPrivate),
      '--trusted-key',
      fixture(KEY_FILES.signingPublic),
    ];
    const incremental = fixture(`${INCREMENTAL_ID}.lbk`);
    const into = path.join(dir, `extracted-v${version}`);
    const listed = await installed(['archive', 'list', incremental, ...KEY]);
    expect({ code: listed.code, stderr: listed.stderr }).toEqual({ code: 0, stderr: '' });
    expect(listed.stdout).toContain("every entry's SHA-256 and the manifest checked: ok");
    const r = await installed(['archive', 'extract', incremental, '--into', into, ...KEY]);
    expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: '' });
    expect(r.stdout).toContain(`signature of ${FULL_ID}.json: good`);
    const expected = JSON.parse(fs.readFileSync(fixture('expected.json'), 'utf8')) as Record<string, unknown>;
    expect(treeState(into)).toEqual(expected[INCREMENTAL_ID]);
  },
  60_000,
);

test('a command that reads the local stores says what to install, then works once better-sqlite3 is there', async () => {
  const ledger = path.join(dir, 'audit.sqlite');
  await oneEventLedger(ledger, 'cli-pack');
  const without = await installed(['audit', 'show', 'cli-pack', '--ledger', ledger]);
  expect(without.code).toBe(1);
  expect(without.stderr).toContain('lifeboat audit show: this command reads the control plane');
  expect(without.stderr).toContain('better-sqlite3');
  expect(without.stderr).toContain('npm install better-sqlite3');
  expect(without.stdout).toBe('');

  // What an online install of the optional dependency puts beside lifeboat.
  for (const dep of ['better-sqlite3', 'bindings', 'file-uri-to-path'])
    fs.symlinkSync(path.join(ROOT, 'node_modules', dep), path.join(app, 'node_modules', dep));
  const audit = await installed(['audit', 'show', 'cli-pack', '--ledger', ledger]);
  expect({ code: audit.code, stderr: audit.stderr }).toEqual({ code: 0, stderr: '' });
  expect(audit.stdout).toContain('step.succeeded [verifyPrimary]');
}, 60_000);

test('the repository itself is not a package: npm pack refuses and names npm run pack:cli', async () => {
  const refused = await run('npm', ['pack', '--dry-run', '--offline'], {
    cwd: ROOT,
    env: { ...hermetic(), npm_config_update_notifier: 'false' },
  }).then(
    () => undefined,
    (e: { stderr: string }) => e.stderr,
  );
  expect(refused).toContain('npm run pack:cli');
}, 60_000);
