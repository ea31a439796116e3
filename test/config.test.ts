/** The worker's config: every problem reported at once; a bad config stops the worker at start. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ConfigError, parseConfig } from '../config';
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
      'config.extra is not a known setting; known: auditLedger, catalog, targets, notify, selfBackup, identities, groups, agents, policies, database',
      'auditLedger must be the path of the audit ledger database (string)',
      "targets.bad name!: a target name may hold letters, digits, '.', '_' and '-' (at most 64)",
      expect.stringMatching(
        /^targets\.demo\.stor is not a known setting; known: description, store, gates, root, repository/,
      ),
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

test('backup settings: encryption, commands, retention, folders are checked together', () => {
  const problems = problemsOf({
    auditLedger: 'a.sqlite',
    targets: {
      data: {
        root: '/srv/data',
        repository: '/srv/data/backups',
        encryption: { passphrase: 'hunter2' },
        retention: { keepLast: 0, hourly: 3 },
        commands: { quiesce: { argv: 'systemctl stop app' }, 'bad name': { argv: ['x'] } },
        restoreInto: { inspect: '/srv/data/inspect' },
        modules: 'maps',
      },
      keys: { root: '/a', repository: '/b', encryption: { passphraseEnv: 'not a var' } },
    },
  });
  expect(problems).toEqual(
    expect.arrayContaining([
      'targets.data.repository must be outside targets.data.root (and the root outside the repository)',
      expect.stringMatching(/^targets\.data\.encryption must be \{"recipients"/),
      'targets.data.retention.keepLast must be a positive integer',
      expect.stringMatching(/^targets\.data\.retention\.hourly is not a known setting/),
      'targets.data.commands.quiesce.argv must be a non-empty array of strings (run without a shell)',
      "targets.data.commands.bad name: a command name may hold letters, digits, '_' and '-'",
      'targets.data.restoreInto.inspect must be outside the root',
      'targets.data.modules must be an array of module names',
      'targets.keys.encryption.passphraseEnv must name an environment variable (the passphrase itself never goes in the config)',
    ]),
  );
  // The passphrase given by mistake is never echoed back.
  expect(problems.join('\n')).not.toContain('hunter2');
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

  test('an identity whose key file is not an armored public key', async () => {
    const dir = tempDir('config');
    const file = path.join(dir, 'lifeboat.config.json');
    fs.writeFileSync(path.join(dir, 'alice.pub.asc'), 'not a key\n');
    fs.writeFileSync(
      file,
      JSON.stringify({
        auditLedger: 'audit.sqlite',
        identities: { alice: { keys: ['alice.pub.asc'] } },
        targets: {
          demo: {
            store: { primary: 'g.json', backups: 'b' },
            gates: { restore: { approvers: ['alice'], signed: true } },
          },
        },
      }),
    );
    const { code, output } = await startWorkerWith(file);
    expect(code).toBe(2);
    expect(output).toContain(`invalid config ${file}:`);
    expect(output).toContain(
      `- the public key (identities.alice.keys[0]) ${path.join(dir, 'alice.pub.asc')} is not an armored OpenPGP public key`,
    );
    expect(output).not.toMatch(/\n\s+at /);
  });

  test('malformed JSON', async () => {
    const file = path.join(tempDir('config'), 'lifeboat.config.json');
    fs.writeFileSync(file, '{"auditLedger": "a.sqlite",');
    const { code, output } = await startWorkerWith(file);
    expect(code).toBe(2);
    expect(output).toMatch(/- not valid JSON/);
  });
});

test('the recovery sections: defaults beside their files, and every bad setting named with what is allowed', () => {
  const config = parseConfig(
    {
      auditLedger: 'audit.sqlite',
      notify: { webhooks: ['https://hooks.example.com/T1/abc'] },
      targets: {
        app: {
          configFile: { file: 'app/config.toml', default: 'app/default.toml' },
          auditChain: { file: 'data/chain.jsonl' },
          panic: {
            flag: 'data/PANIC',
            ledger: 'data/ledger.db',
            ledgerBackups: 'backup/data',
            proofs: 'proof',
          },
          health: { url: 'http://127.0.0.1:3000/healthz' },
          objectives: { rtoMinutes: 30, rpoMinutes: 60 },
          commands: { rescan: { argv: ['rescan'] } },
          driverStore: {
            adapter: 'directory',
            backups: 'drivers/backups',
            updates: 'drivers/updates',
            store: 'drivers/store',
            devices: 'drivers/devices.json',
            rescan: 'rescan',
          },
        },
      },
    },
    '/etc/lifeboat/lifeboat.config.json',
  );
  const app = config.targets.app;
  expect(app.configFile).toEqual({
    file: '/etc/lifeboat/app/config.toml',
    format: 'toml',
    backups: '/etc/lifeboat/app/backups',
    default: '/etc/lifeboat/app/default.toml',
    quarantine: '/etc/lifeboat/app/quarantine',
    keep: 10,
  });
  expect(app.auditChain).toEqual({
    file: '/etc/lifeboat/data/chain.jsonl',
    backups: '/etc/lifeboat/data/chain_backups',
    quarantine: '/etc/lifeboat/data/quarantine',
  });
  expect(app.panic!.recoveryProofs).toBe('/etc/lifeboat/data/recovery-proofs');
  expect(app.health).toEqual({
    url: 'http://127.0.0.1:3000/healthz',
    attempts: 5,
    intervalSeconds: 2,
    timeoutSeconds: 5,
  });
  expect(app.healthCheck).toEqual({ minBackups: 5, minValidBackups: 3, minFreeBytes: 1024 ** 3 });
  expect(app.objectives).toEqual({ rtoMinutes: 30, rpoMinutes: 60 });
  expect(app.driverStore).toMatchObject({
    adapter: 'directory',
    keepSets: 2,
    pnputil: 'pnputil',
    rescan: 'rescan',
  });
  expect(config.notify).toEqual({
    webhooks: ['https://hooks.example.com/T1/abc'],
    uiUrl: 'http://127.0.0.1:8233',
    timeoutSeconds: 5,
  });

  const problems = problemsOf({
    auditLedger: 'audit.sqlite',
    notify: { webhooks: ['ftp://x', 'not a url'], uiUrl: 3 },
    targets: {
      win: { driverStore: { adapter: 'devcon', backups: 'b', updates: 'u', rescan: 'nope', keepSets: 0 } },
      dir: { driverStore: { adapter: 'directory', backups: 'b', updates: 'u' } },
      app: {
        configFile: { file: 'app/config.yaml' },
        panic: { flag: 'PANIC' },
        health: { url: 'localhost:3000' },
        healthCheck: { minBackups: -1 },
        objectives: { rpoMinutes: 'hourly' },
      },
    },
  });
  expect(problems).toEqual(
    expect.arrayContaining([
      'notify.webhooks[0] must be an http:// or https:// URL',
      'notify.webhooks[1] must be an http:// or https:// URL',
      'notify.uiUrl must be an http:// or https:// URL',
      'targets.win.driverStore.adapter is "devcon"; the driver store adapters are: pnputil, directory',
      'targets.win.driverStore.keepSets must be an integer of at least 1',
      `targets.win.driverStore.rescan must name a command of this target's "commands" (have: none)`,
      'targets.dir.driverStore.store is required by the directory adapter (the package folder)',
      'targets.dir.driverStore.devices is required by the directory adapter (the device-status JSON file)',
      'targets.app.configFile.file must end in .toml or .json (that is how Lifeboat knows how to parse it)',
      'targets.app.panic.ledger is required (a path)',
      'targets.app.health.url must be an http:// or https:// URL',
      'targets.app.healthCheck.minBackups must be an integer of at least 0',
      'targets.app.objectives.rpoMinutes must be a number of at least 0.01',
    ]),
  );
});

test('a drill directory inside a production path of its target is refused, naming both', () => {
  const problems = problemsOf({
    auditLedger: 'audit.sqlite',
    targets: {
      storage: {
        root: '/srv/app/storage',
        repository: '/backups/storage',
        drill: { directory: '/srv/app/storage/drills', signingKey: 'k.sec.asc', publicKey: 'k.pub.asc' },
      },
      store: {
        store: { primary: '/srv/graph/graph.json', backups: '/srv/graph/backups' },
        // Holding production inside the drill folder is refused too.
        drill: { directory: '/srv', signingKey: 'k.sec.asc', publicKey: 'k.pub.asc' },
      },
      missing: { drill: { directory: '/srv/drills' } },
    },
  });
  expect(problems).toEqual(
    expect.arrayContaining([
      'targets.storage.drill.directory (/srv/app/storage/drills) overlaps the production path /srv/app/storage; a drill must run outside everything it protects',
      'targets.store.drill.directory (/srv) overlaps the production path /srv/graph; a drill must run outside everything it protects',
      'targets.missing.drill.signingKey must be a path (string)',
      'targets.missing.drill.publicKey must be a path (string)',
    ]),
  );
  const ok = parseConfig(
    {
      auditLedger: 'audit.sqlite',
      targets: {
        storage: {
          root: '/srv/app/storage',
          drill: { directory: '/srv/drills', signingKey: 'keys/k.sec.asc', publicKey: 'keys/k.pub.asc' },
        },
      },
    },
    '/etc/lifeboat/lifeboat.config.json',
  );
  expect(ok.targets.storage.drill).toEqual({
    directory: '/srv/drills',
    signingKey: '/etc/lifeboat/keys/k.sec.asc',
    publicKey: '/etc/lifeboat/keys/k.pub.asc',
    signingKeyPassphraseEnv: undefined,
    commands: {},
  });
});

test('backups encrypted to public keys must be signed; signing keys and trusted signers resolve against the config folder', () => {
  const problems = problemsOf({
    auditLedger: 'audit.sqlite',
    targets: {
      unsigned: { root: '/srv/a', repository: '/srv/a-backups', encryption: { recipients: ['k.pub.asc'] } },
      badSigners: {
        root: '/srv/b',
        repository: '/srv/b-backups',
        encryption: { passphraseEnv: 'PASS', trustedSigners: 'old.pub.asc', signingKeyPassphraseEnv: 'X' },
      },
      sameFolder: { root: '/srv/c', repository: '/srv/c-backups', offsite: '/srv/c-backups' },
    },
  });
  expect(problems).toEqual(
    expect.arrayContaining([
      expect.stringMatching(
        /^targets\.unsigned\.encryption\.signingKey is required with recipients: anyone who holds a public key can write an archive/,
      ),
      expect.stringMatching(
        /^targets\.badSigners\.encryption\.trustedSigners must be a non-empty array of armored public key files/,
      ),
      'targets.badSigners.encryption.signingKeyPassphraseEnv is set but targets.badSigners.encryption.signingKey is not',
      'targets.sameFolder.offsite must be a folder apart from targets.sameFolder.repository (it is the second copy)',
    ]),
  );
  const config = parseConfig(
    {
      auditLedger: 'audit.sqlite',
      targets: {
        signed: {
          root: '/srv/a',
          repository: '/srv/a-backups',
          encryption: {
            recipients: ['keys/k.pub.asc'],
            signingKey: 'keys/sign.sec.asc',
            signingKeyPassphraseEnv: 'SIGN_PASS',
            trustedSigners: ['keys/retired.pub.asc'],
          },
        },
      },
    },
    '/etc/lifeboat/lifeboat.config.json',
  );
  expect(config.targets.signed.encryption).toEqual({
    recipients: ['/etc/lifeboat/keys/k.pub.asc'],
    signingKey: '/etc/lifeboat/keys/sign.sec.asc',
    signingKeyPassphraseEnv: 'SIGN_PASS',
    trustedSigners: ['/etc/lifeboat/keys/retired.pub.asc'],
  });
});

test('selfBackup makes the built-in target lifeboat-self of the ledger and the catalog; the name is reserved', () => {
  const config = parseConfig(
    {
      auditLedger: 'state/audit.sqlite',
      targets: { a: { store: { primary: 'g.json', backups: 'b' } } },
      selfBackup: {
        repository: '/srv/lifeboat-self',
        offsite: '/mnt/offsite/lifeboat-self',
        encryption: { passphraseEnv: 'SELF_PASS' },
        retention: { keepLast: 7 },
      },
    },
    '/etc/lifeboat/lifeboat.config.json',
  );
  const self = config.targets['lifeboat-self'];
  expect(self.sources).toEqual({
    'audit.sqlite': '/etc/lifeboat/state/audit.sqlite',
    'catalog.sqlite': '/etc/lifeboat/state/catalog.sqlite',
  });
  expect(self.root).toBeUndefined();
  expect({ repository: self.repository, offsite: self.offsite, retention: self.retention }).toEqual({
    repository: '/srv/lifeboat-self',
    offsite: '/mnt/offsite/lifeboat-self',
    retention: { keepLast: 7 },
  });

  expect(
    problemsOf({
      auditLedger: '/var/lib/lifeboat/audit.sqlite',
      targets: { 'lifeboat-self': { root: '/srv/x' } },
      selfBackup: { repository: '/var/lib/lifeboat', root: '/srv' },
    }),
  ).toEqual(
    expect.arrayContaining([
      'targets.lifeboat-self: the name is reserved for Lifeboat\'s own stores; configure their backups in the top-level "selfBackup" section',
      'selfBackup.root is not a known setting; known: repository, offsite, encryption, retention, dump',
      'selfBackup.encryption is required (as for any target)',
      'selfBackup: /var/lib/lifeboat must not hold the store it backs up (audit.sqlite: /var/lib/lifeboat/audit.sqlite)',
    ]),
  );
});

test('a check across settings is reported together with the other problems of the same section', () => {
  const problems = problemsOf({
    auditLedger: 'audit.sqlite',
    targets: {
      app: {
        gates: { restore: { approvers: ['alice'], quorum: 2, onTimeout: 'later' } },
        driverStore: { adapter: 'directory', backups: 'b', updates: 'u', keepSets: 0 },
        configFile: { file: '/srv/app/config.toml', keep: 0 },
        drill: { directory: '/srv/app/drills', signingKey: 3, publicKey: 'k.pub.asc' },
      },
    },
  });
  expect(problems).toEqual(
    expect.arrayContaining([
      'targets.app.gates.restore.onTimeout must be "stop" or "proceed"',
      'targets.app.gates.restore.quorum is 2 but only 1 approvers are allowed',
      'targets.app.driverStore.keepSets must be an integer of at least 1',
      'targets.app.driverStore.store is required by the directory adapter (the package folder)',
      'targets.app.configFile.keep must be an integer of at least 1',
      'targets.app.drill.signingKey must be a path (string)',
      'targets.app.drill.directory (/srv/app/drills) overlaps the production path /srv/app; a drill must run outside everything it protects',
    ]),
  );
});

test('each form of encryption names its own settings, and a secret given by mistake is not echoed', () => {
  const problems = problemsOf({
    auditLedger: 'audit.sqlite',
    targets: {
      pass: { encryption: { passphraseEnv: 'PASS', recipients: ['k.pub.asc'] } },
      keys: { encryption: { recipients: ['k.pub.asc'], signingKey: 's.sec.asc', passphrase: 'hunter2' } },
    },
  });
  expect(problems).toEqual([
    'targets.pass.encryption.recipients is not a known setting; known: passphraseEnv, signingKey, signingKeyPassphraseEnv, trustedSigners',
    'targets.keys.encryption.passphrase is not a known setting; known: recipients, privateKeys, privateKeyPassphraseEnv, signingKey, signingKeyPassphraseEnv, trustedSigners',
  ]);
  expect(problems.join('\n')).not.toContain('hunter2');
});
