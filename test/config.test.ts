/** The worker's config: every problem reported at once; a bad config stops the worker at start. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ConfigError, parseConfig } from '../worker/config';
import { spawnTsx, tempDir } from './helpers';

function problemsOf(raw: unknown): string[] {
  try {
    parseConfig(raw, '/etc/lifeboat/lifeboat.config.json');
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as ConfigError).problems;
  }
  throw new Error('the config was accepted');
}

test('a valid config resolves paths against the config folder and defaults the quarantine', () => {
  const config = parseConfig(
    {
      auditLedger: 'audit.sqlite',
      targets: {
        demo: {
          store: { primary: 'store/graph.json', backups: '/backups' },
          gates: { restore: { approvers: ['alice', 'bob'], quorum: 2 } },
        },
      },
    },
    '/etc/lifeboat/lifeboat.config.json',
  );
  expect(config.auditLedger).toBe('/etc/lifeboat/audit.sqlite');
  expect(config.targets.demo.store).toEqual({
    primary: '/etc/lifeboat/store/graph.json',
    backups: '/backups',
    quarantine: '/etc/lifeboat/store/quarantine',
  });
  expect(config.targets.demo.gates.restore).toEqual({ approvers: ['alice', 'bob'], quorum: 2 });
});

test('every problem is listed at once, each naming the setting and what is allowed', () => {
  const problems = problemsOf({
    auditLedger: 7,
    extra: true,
    targets: {
      'bad name!': {},
      demo: {
        stor: {},
        store: { primary: 'graph', backups: 3 },
        gates: {
          restore: { approvers: [], quorum: 0, onTimeout: 'panic', timeoutSeconds: -1, automatic: 'yes' },
          merge: { approvers: ['a'], quorum: 2 },
        },
      },
    },
  });
  expect(problems).toEqual(
    expect.arrayContaining([
      'config.extra is not a known setting; known: auditLedger, targets',
      'auditLedger must be the path of the audit ledger database (string)',
      "targets.bad name!: a target name may hold letters, digits, '.', '_' and '-' (at most 64)",
      'targets.demo.stor is not a known setting; known: description, store, gates',
      'targets.demo.store.backups must be a path (string)',
      'targets.demo.gates.restore.approvers must be a non-empty array of names (or ["*"] for anyone)',
      'targets.demo.gates.restore.quorum must be an integer of at least 1',
      'targets.demo.gates.restore.onTimeout must be "stop" or "proceed"',
      'targets.demo.gates.restore.timeoutSeconds must be a positive number of seconds',
      'targets.demo.gates.restore.automatic must be true or false',
      'targets.demo.gates.merge.quorum is 2 but only 1 approvers are allowed',
    ]),
  );
  expect(problems).toHaveLength(11);
  expect(problemsOf({ auditLedger: 'a.sqlite', targets: {} })).toEqual([
    'targets must be an object with at least one target, e.g. {"demo": {"store": {...}}}',
  ]);
});

describe('the worker stops at start on a bad config, listing every problem', () => {
  async function startWorkerWith(configPath: string) {
    const proc = spawnTsx('worker/main.ts', {
      LIFEBOAT_CONFIG: configPath,
      TEMPORAL_ADDRESS: process.env.LIFEBOAT_TEST_ADDRESS!,
    });
    const code = await proc.exited;
    return { code, output: proc.output() };
  }

  test('an invalid config', async () => {
    const dir = tempDir('config');
    const file = path.join(dir, 'lifeboat.config.json');
    fs.writeFileSync(file, JSON.stringify({ targets: { demo: { store: { primary: 3 } } } }));
    const { code, output } = await startWorkerWith(file);
    expect(code).toBe(2);
    expect(output).toContain(`invalid config ${file}:`);
    expect(output).toContain('- auditLedger must be the path of the audit ledger database (string)');
    expect(output).toContain('- targets.demo.store.primary must be a path (string)');
    expect(output).toContain('- targets.demo.store.backups must be a path (string)');
    expect(output).not.toMatch(/\n\s+at /);
  });

  test('an unreadable config', async () => {
    const missing = path.join(tempDir('config'), 'missing.json');
    const { code, output } = await startWorkerWith(missing);
    expect(code).toBe(2);
    expect(output).toMatch(new RegExp(`invalid config ${missing}:\\n\\s+- cannot read the file: ENOENT`));
  });

  test('malformed JSON', async () => {
    const file = path.join(tempDir('config'), 'lifeboat.config.json');
    fs.writeFileSync(file, '{"auditLedger": "a.sqlite",');
    const { code, output } = await startWorkerWith(file);
    expect(code).toBe(2);
    expect(output).toMatch(/- not valid JSON/);
  });
});
