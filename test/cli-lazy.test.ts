/**
 * The CLI loads what a command needs when the command runs: `lifeboat status`, `list`, the help and
 * the other commands that do not read local stores never load the native SQLite module (nor the
 * PostgreSQL driver, OpenPGP or the config parser); `audit show` and `audit verify`, which read the
 * audit ledger, load it and work. Real processes of bin/lifeboat.js (dist/client/cli.js, built when
 * stale) with a preload, written here, that records which packages each process loaded.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { lifeboat, oneEventLedger, tempDir, type CliResult } from './helpers';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const builder = require('../scripts/build.js') as { isStale: () => boolean; build: () => void };

/** The packages that only the commands reading local stores (or signing, or a config) need. */
const STORE_PACKAGES = ['better-sqlite3', 'pg', 'openpgp', 'zod'];

const PRELOAD = `'use strict';
// Written by test/cli-lazy.test.ts: at exit, appends the packages this process loaded to $LIFEBOAT_TEST_LOADED.
const fs = require('node:fs');
process.on('exit', () => {
  const loaded = new Set();
  for (const file of Object.keys(require.cache)) {
    const m = /[\\\\/]node_modules[\\\\/]((?:@[^\\\\/]+[\\\\/])?[^\\\\/]+)[\\\\/]/.exec(file);
    if (m) loaded.add(m[1].replace(/\\\\/g, '/'));
  }
  fs.appendFileSync(process.env.LIFEBOAT_TEST_LOADED, JSON.stringify([...loaded]) + '\\n');
});
`;

let dir: string;
let preload: string;

beforeAll(() => {
  if (builder.isStale()) builder.build();
  dir = tempDir('cli-lazy');
  preload = path.join(dir, 'record-loaded.js');
  fs.writeFileSync(preload, PRELOAD);
}, 120_000);

let runs = 0;
/** Runs `lifeboat args` under the preload: its answer and the packages it loaded. */
async function traced(
  args: string[],
  env: Record<string, string> = {},
): Promise<CliResult & { loaded: string[] }> {
  const log = path.join(dir, `loaded-${(runs += 1)}.jsonl`);
  const result = await lifeboat(args, {
    ...env,
    NODE_OPTIONS: `--require ${preload}`,
    LIFEBOAT_TEST_LOADED: log,
    // The compiled modules, not their bundle (one file: its modules never reach require.cache).
    // esbuild keeps each require() where it is, so the bundle loads lazily as they do.
    LIFEBOAT_CLI_BUNDLE: '0',
  });
  const lines = fs.existsSync(log) ? fs.readFileSync(log, 'utf8').trim().split('\n') : [];
  if (lines.length === 0) throw new Error(`lifeboat ${args.join(' ')} recorded nothing: ${result.stderr}`);
  return { ...result, loaded: lines.flatMap((l) => JSON.parse(l) as string[]) };
}

test('the commands that read no local store load neither SQLite nor the other store packages', async () => {
  const commands: { args: string[]; code: number; says: RegExp }[] = [
    { args: ['--help'], code: 0, says: /lifeboat <command>/ },
    { args: ['audit', 'show', '--help'], code: 0, says: /lifeboat audit show <workflowId>/ },
    { args: ['schedule'], code: 2, says: /missing subcommand/ },
    { args: ['runbooks', '--json'], code: 0, says: /corruptedStoreRecovery/ },
    { args: ['status', 'cli-lazy-no-such-run'], code: 2, says: /cli-lazy-no-such-run/ },
    { args: ['list', '--json'], code: 0, says: /^\[/ },
    { args: ['watch', 'cli-lazy-no-such-run'], code: 2, says: /cli-lazy-no-such-run/ },
    { args: ['approve', 'cli-lazy-no-such-run', '--as', 'alice'], code: 2, says: /cli-lazy-no-such-run/ },
    {
      args: ['stop', 'cli-lazy-no-such-run', '--as', 'alice', '--reason', 'test'],
      code: 2,
      says: /cli-lazy-no-such-run/,
    },
    { args: ['start', 'corruptedStoreRecovery', '--input', '{'], code: 2, says: /--input/ },
    { args: ['version', '--json'], code: 0, says: /"taskQueue"/ },
  ];
  // Two at a time: the machine has two cores and jest runs another test file beside this one.
  const results: Awaited<ReturnType<typeof traced>>[] = [];
  for (let i = 0; i < commands.length; i += 2)
    results.push(...(await Promise.all(commands.slice(i, i + 2).map((c) => traced(c.args)))));
  commands.forEach((c, i) => {
    const r = results[i];
    const what = `lifeboat ${c.args.join(' ')}`;
    expect({ what, code: r.code, said: c.says.test(`${r.stdout}${r.stderr}`) }).toEqual({
      what,
      code: c.code,
      said: true,
    });
    expect({ what, store: r.loaded.filter((p) => STORE_PACKAGES.includes(p)) }).toEqual({ what, store: [] });
    // The preload itself is seen: the records are of real runs of the CLI.
    expect(r.loaded).toContain(r.loaded.includes('tsx') ? 'tsx' : '@temporalio/common');
  });
}, 90_000);

test('the commands that read the audit ledger load SQLite when they run, and work', async () => {
  const file = path.join(dir, 'audit.sqlite');
  await oneEventLedger(file, 'cli-lazy');
  const [show, verify] = await Promise.all([
    traced(['audit', 'show', 'cli-lazy', '--ledger', file, '--json']),
    traced(['audit', 'verify', '--ledger', file]),
  ]);
  expect(show.code).toBe(0);
  expect(
    (JSON.parse(show.stdout) as { event: string; step: string }[]).map((r) => [r.event, r.step]),
  ).toEqual([['step.succeeded', 'verifyPrimary']]);
  expect(verify.code).toBe(0);
  expect(verify.stdout).toContain('chain intact (1 rows)');
  expect(show.loaded).toContain('better-sqlite3');
  expect(verify.loaded).toContain('better-sqlite3');
}, 60_000);
