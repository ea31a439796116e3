/**
 * Drill proofs: signed by the signDrillProof activity with real OpenPGP keys, checked by the real
 * `lifeboat proof verify`; key problems STOP as KeyProblem without showing a passphrase or key;
 * drills recorded in the catalog and listed by `lifeboat drills list`.
 */
import { ApplicationFailure } from '@temporalio/common';
import Database from 'better-sqlite3';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as openpgp from 'openpgp';
import { createDrillProofActivities } from '../activities/drillProof';
import { Catalog } from '../activities/lib/catalog';
import type { DrillProof, DrillRecord } from '../common/drill';
import { lifeboat, tempDir, writeConfig } from './helpers';

const PASSPHRASE = 'drill-key-passphrase-91c2';
const WRONG_PASSPHRASE = 'not-the-passphrase-7f3a';
const PASSPHRASE_ENV = 'LIFEBOAT_TEST_DRILL_PASSPHRASE';
const WRONG_ENV = 'LIFEBOAT_TEST_DRILL_WRONG_PASSPHRASE';
const UNSET_ENV = 'LIFEBOAT_TEST_DRILL_UNSET_PASSPHRASE';

interface KeyPair {
  secretFile: string;
  publicFile: string;
  privateKey: openpgp.PrivateKey;
  fingerprint: string;
}

let dir: string;
let configFile: string;
let config: ReturnType<typeof writeConfig>['config'];
let brokenConfig: ReturnType<typeof writeConfig>['config'];
let catalog: Catalog;
let alphaKey: KeyPair;
let bravoKey: KeyPair;
let foreignKey: KeyPair;
let acts: ReturnType<typeof createDrillProofActivities>;

async function makeKey(name: string, passphrase?: string): Promise<KeyPair> {
  const keys = path.join(dir, 'keys');
  fs.mkdirSync(keys, { recursive: true });
  const { privateKey, publicKey } = await openpgp.generateKey({
    userIDs: [{ name: `Lifeboat drills ${name}` }],
    passphrase,
    format: 'armored',
  });
  const secretFile = path.join(keys, `${name}.sec.asc`);
  const publicFile = path.join(keys, `${name}.pub.asc`);
  fs.writeFileSync(secretFile, privateKey, { mode: 0o600 });
  fs.writeFileSync(publicFile, publicKey);
  let key = await openpgp.readPrivateKey({ armoredKey: privateKey });
  if (passphrase) key = await openpgp.decryptKey({ privateKey: key, passphrase });
  return { secretFile, publicFile, privateKey: key, fingerprint: key.getFingerprint().toUpperCase() };
}

function proofOf(target: string, drillId: string, overrides: Partial<DrillProof> = {}): DrillProof {
  return {
    kind: 'lifeboat.drillProof',
    version: 1,
    drillId,
    workflowId: `drDrill-${drillId}`,
    runId: 'run-1',
    target,
    scenario: 'fullRestore',
    approvals: 'automatic',
    recovery: { runbook: 'restore', workflowId: `restore-${drillId}`, state: 'completed' },
    timings: {
      startedAt: '2025-03-01T02:00:00.000Z',
      disasterAt: '2025-03-01T02:00:05.000Z',
      recoveredAt: '2025-03-01T02:03:10.000Z',
      finishedAt: '2025-03-01T02:03:30.000Z',
    },
    checks: [
      { name: 'files restored', ok: true, detail: '128 files match the manifest' },
      { name: 'integrity checks', ok: true, detail: '3 databases: ok' },
    ],
    passed: true,
    rto: { achievedSeconds: 185, objectiveMinutes: 30, met: true },
    rpo: { achievedSeconds: 3720, objectiveMinutes: 60, met: false, dataAsOf: '2025-03-01T00:58:05.000Z' },
    backup: { id: 'full-20250301', manifestSha256: 'ab'.repeat(32) },
    ...overrides,
  };
}

/** Canonical JSON written out independently of the code under test: sorted keys, no spaces. */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value && typeof value === 'object')
    return `{${Object.keys(value)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical((value as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  return JSON.stringify(value);
}
const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

async function signWith(key: openpgp.PrivateKey, bytes: Buffer): Promise<string> {
  const message = await openpgp.createMessage({ binary: bytes });
  return openpgp.sign({ message, signingKeys: key, detached: true, format: 'armored' });
}

/** Writes `body` as a proof file signed by `key` (as an attacker holding that key would). */
async function writeSigned(name: string, body: unknown, key: openpgp.PrivateKey): Promise<string> {
  const file = path.join(dir, 'crafted', name);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const bytes = Buffer.from(`${JSON.stringify(body, null, 2)}\n`);
  fs.writeFileSync(file, bytes);
  fs.writeFileSync(`${file}.asc`, await signWith(key, bytes));
  return file;
}

const verify = (...args: string[]) => lifeboat(['proof', 'verify', ...args, '--config', configFile]);

async function failureOf(promise: Promise<unknown>): Promise<ApplicationFailure> {
  try {
    await promise;
  } catch (err) {
    expect(err).toBeInstanceOf(ApplicationFailure);
    return err as ApplicationFailure;
  }
  throw new Error('the activity succeeded');
}

beforeAll(async () => {
  dir = tempDir('drill-proof');
  process.env[PASSPHRASE_ENV] = PASSPHRASE;
  process.env[WRONG_ENV] = WRONG_PASSPHRASE;
  delete process.env[UNSET_ENV];
  [alphaKey, bravoKey, foreignKey] = await Promise.all([
    makeKey('alpha'),
    makeKey('bravo', PASSPHRASE),
    makeKey('foreign'),
  ]);
  const drill = (name: string, key: KeyPair, extra: Record<string, unknown> = {}) => ({
    directory: path.join(dir, 'drills', name),
    signingKey: key.secretFile,
    publicKey: key.publicFile,
    ...extra,
  });
  fs.mkdirSync(path.join(dir, 'main'));
  ({ file: configFile, config } = writeConfig(path.join(dir, 'main'), {
    auditLedger: 'audit.sqlite',
    targets: {
      alpha: { drill: drill('alpha', alphaKey), objectives: { rtoMinutes: 30, rpoMinutes: 60 } },
      bravo: { drill: drill('bravo', bravoKey, { signingKeyPassphraseEnv: PASSPHRASE_ENV }) },
      'no-drill': { objectives: { rtoMinutes: 30 } },
    },
  }));
  fs.mkdirSync(path.join(dir, 'broken'));
  ({ config: brokenConfig } = writeConfig(path.join(dir, 'broken'), {
    auditLedger: 'audit.sqlite',
    targets: {
      'missing-key': {
        drill: drill('missing-key', alphaKey, { signingKey: path.join(dir, 'keys', 'nope.sec.asc') }),
      },
      'public-as-signing': { drill: drill('public', alphaKey, { signingKey: alphaKey.publicFile }) },
      'locked-no-env': { drill: drill('locked', bravoKey) },
      'env-unset': { drill: drill('unset', bravoKey, { signingKeyPassphraseEnv: UNSET_ENV }) },
      'wrong-passphrase': { drill: drill('wrong', bravoKey, { signingKeyPassphraseEnv: WRONG_ENV }) },
      'other-public-key': { drill: drill('other', alphaKey, { publicKey: bravoKey.publicFile }) },
    },
  }));
  catalog = new Catalog(config.catalog);
  acts = createDrillProofActivities(config, catalog);
});

afterAll(() => {
  catalog?.close();
  delete process.env[PASSPHRASE_ENV];
  delete process.env[WRONG_ENV];
});

test('a signed proof holds the proof, its canonical hash and the signer, and lifeboat proof verify accepts it', async () => {
  const proof = proofOf('alpha', 'drill-alpha-1');
  const signed = await acts.signDrillProof('alpha', proof);
  expect(signed.path).toBe(path.join(dir, 'drills', 'alpha', 'proofs', 'drill-alpha-1.json'));
  expect(signed.signaturePath).toBe(`${signed.path}.asc`);
  expect(signed.fingerprint).toBe(alphaKey.fingerprint);

  const bytes = fs.readFileSync(signed.path);
  const body = JSON.parse(bytes.toString('utf8')) as Record<string, unknown>;
  expect(body).toEqual({ proof, contentSha256: sha256(canonical(proof)), signedBy: alphaKey.fingerprint });
  expect(signed.contentSha256).toBe(sha256(canonical(proof)));
  // The signature is a standard detached one over the file's bytes: any OpenPGP tool can check it.
  const armored = fs.readFileSync(signed.signaturePath, 'utf8');
  expect(armored).toMatch(/^-----BEGIN PGP SIGNATURE-----/);
  const { signatures } = await openpgp.verify({
    message: await openpgp.createMessage({ binary: bytes }),
    signature: await openpgp.readSignature({ armoredSignature: armored }),
    verificationKeys: await openpgp.readKey({ armoredKey: fs.readFileSync(alphaKey.publicFile, 'utf8') }),
    format: 'binary',
  });
  await expect(signatures[0].verified).resolves.toBe(true);

  const [text, json] = await Promise.all([verify(signed.path), verify(signed.path, '--json')]);
  expect(text.stderr).toBe('');
  expect(text.code).toBe(0);
  expect(text.stdout).toContain(`VALID drill proof ${signed.path}`);
  expect(text.stdout).toMatch(/drill +drill-alpha-1 \(workflow drDrill-drill-alpha-1\)/);
  expect(text.stdout).toMatch(/target +alpha/);
  expect(text.stdout).toMatch(/scenario +fullRestore \(recovery: restore, completed\)/);
  expect(text.stdout).toMatch(/result +PASSED \(2 of 2 checks passed\)/);
  expect(text.stdout).toMatch(/RTO +3m 05s \(objective 30m, met\)/);
  expect(text.stdout).toMatch(/RPO +1h 02m \(objective 60m, MISSED\)/);
  expect(text.stdout).toContain(`signed by  ${alphaKey.fingerprint}`);
  expect(text.stdout).toContain(`(drill key of alpha: ${alphaKey.publicFile})`);
  expect(json.code).toBe(0);
  expect(JSON.parse(json.stdout)).toMatchObject({
    valid: true,
    drillId: 'drill-alpha-1',
    target: 'alpha',
    scenario: 'fullRestore',
    passed: true,
    rto: proof.rto,
    rpo: proof.rpo,
    signedBy: { fingerprint: alphaKey.fingerprint, publicKey: alphaKey.publicFile, targets: ['alpha'] },
    contentSha256: signed.contentSha256,
  });
});

test('a key locked with a passphrase signs with the passphrase from the configured environment variable', async () => {
  const signed = await acts.signDrillProof('bravo', proofOf('bravo', 'drill-bravo-1', { passed: false }));
  expect(signed.fingerprint).toBe(bravoKey.fingerprint);
  const result = await verify(signed.path);
  expect(result.code).toBe(0);
  expect(result.stdout).toMatch(/result +FAILED \(2 of 2 checks passed\)/);
  expect(result.stdout).toContain(`signed by  ${bravoKey.fingerprint}`);
});

test('signing again with the same proof keeps the files; a changed proof is signed anew', async () => {
  const proof = proofOf('alpha', 'drill-alpha-retry');
  const first = await acts.signDrillProof('alpha', proof);
  const signature = fs.readFileSync(first.signaturePath, 'utf8');
  const again = await acts.signDrillProof('alpha', proof);
  expect(again).toEqual(first);
  expect(fs.readFileSync(first.signaturePath, 'utf8')).toBe(signature);

  const changed = await acts.signDrillProof('alpha', { ...proof, passed: false });
  expect(changed.contentSha256).not.toBe(first.contentSha256);
  expect(JSON.parse(fs.readFileSync(changed.path, 'utf8'))).toMatchObject({ proof: { passed: false } });
  // No temp files are left beside the proof.
  expect(
    fs
      .readdirSync(path.dirname(first.path))
      .filter((f) => f.includes('drill-alpha-retry'))
      .sort(),
  ).toEqual(['drill-alpha-retry.json', 'drill-alpha-retry.json.asc']);
  expect((await verify(changed.path)).code).toBe(0);
});

describe('a proof that must not be trusted fails with exit code 1 and says why', () => {
  test('edited after signing', async () => {
    const signed = await acts.signDrillProof(
      'alpha',
      proofOf('alpha', 'drill-alpha-edited', { passed: false }),
    );
    const body = JSON.parse(fs.readFileSync(signed.path, 'utf8')) as { proof: DrillProof };
    body.proof.passed = true;
    fs.writeFileSync(signed.path, `${JSON.stringify(body, null, 2)}\n`);
    const [text, json] = await Promise.all([verify(signed.path), verify(signed.path, '--json')]);
    expect(text.code).toBe(1);
    expect(text.stderr).toContain(
      'the signature does not verify: the proof was changed after it was signed, or was signed by another key',
    );
    expect(text.stdout).not.toMatch(/VALID/);
    expect(json.code).toBe(1);
    expect(JSON.parse(json.stdout)).toMatchObject({ valid: false, problem: /does not verify/ });
  });

  test('signed by a key that is not in the config, even with a correct content hash', async () => {
    const proof = proofOf('alpha', 'drill-forged');
    const file = await writeSigned(
      'forged.json',
      { proof, contentSha256: sha256(canonical(proof)), signedBy: alphaKey.fingerprint },
      foreignKey.privateKey,
    );
    const result = await verify(file);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(
      `signed by key ${foreignKey.fingerprint}, which is not a drill key in ${configFile}`,
    );
  });

  test('a genuine proof edited, its contentSha256 recomputed and the file re-signed by a foreign key', async () => {
    const signed = await acts.signDrillProof(
      'alpha',
      proofOf('alpha', 'drill-alpha-resigned', { passed: false }),
    );
    const body = JSON.parse(fs.readFileSync(signed.path, 'utf8')) as {
      proof: DrillProof;
      contentSha256: string;
    };
    body.proof.passed = true;
    body.proof.rto.achievedSeconds = 60;
    body.contentSha256 = sha256(canonical(body.proof));
    const bytes = Buffer.from(`${JSON.stringify(body, null, 2)}\n`);
    fs.writeFileSync(signed.path, bytes);
    fs.writeFileSync(signed.signaturePath, await signWith(foreignKey.privateKey, bytes));
    const result = await verify(signed.path);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(`signed by key ${foreignKey.fingerprint}, which is not a drill key`);
  });

  test('a content hash that does not match the proof names both hashes', async () => {
    const proof = proofOf('alpha', 'drill-bad-hash');
    const claimed = 'cd'.repeat(32);
    const file = await writeSigned('bad-hash.json', { proof, contentSha256: claimed }, alphaKey.privateKey);
    const result = await verify(file);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(
      `the content hash does not match: the file says contentSha256 ${claimed}, the proof hashes to ${sha256(canonical(proof))}`,
    );
  });

  test("signed by one target's drill key but claiming another target", async () => {
    const proof = proofOf('bravo', 'drill-cross');
    const file = await writeSigned(
      'cross.json',
      { proof, contentSha256: sha256(canonical(proof)) },
      alphaKey.privateKey,
    );
    const result = await verify(file);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(
      `the proof is of target 'bravo', whose drill key is ${bravoKey.fingerprint}, but it was signed by ${alphaKey.fingerprint}`,
    );
  });
});

test('bad input to proof verify gets exit code 2 naming what is wrong', async () => {
  const good = (await acts.signDrillProof('alpha', proofOf('alpha', 'drill-alpha-input'))).path;
  const notJson = path.join(dir, 'crafted', 'not-json.json');
  fs.mkdirSync(path.dirname(notJson), { recursive: true });
  fs.writeFileSync(notJson, 'proof: yes\n');
  const unsigned = path.join(dir, 'crafted', 'unsigned.json');
  fs.copyFileSync(good, unsigned);
  const notSignature = path.join(dir, 'crafted', 'not-a-signature.asc');
  fs.writeFileSync(notSignature, 'hello\n');
  const noKeysDir = path.join(dir, 'no-keys');
  fs.mkdirSync(noKeysDir);
  const noKeys = writeConfig(noKeysDir, {
    auditLedger: 'audit.sqlite',
    targets: { plain: { objectives: { rtoMinutes: 5 } } },
  }).file;
  const missing = path.join(dir, 'crafted', 'missing.json');

  const cases: [string[], string][] = [
    [['proof', 'verify', missing, '--config', configFile], `no proof file ${missing}`],
    [['proof', 'verify', notJson, '--config', configFile], `${notJson} is not JSON`],
    [
      ['proof', 'verify', unsigned, '--config', configFile],
      `no signature file ${unsigned}.asc; give --signature <file> if it is elsewhere`,
    ],
    [
      ['proof', 'verify', good, '--signature', notSignature, '--config', configFile],
      `the signature file ${notSignature} is not an armored OpenPGP signature`,
    ],
    [
      ['proof', 'verify', good, '--config', noKeys],
      `no drill keys in ${noKeys}: no target has a "drill" section with a publicKey`,
    ],
    [['proof', 'verify', '--config', configFile], 'expected <file>, got none'],
  ];
  const results = await Promise.all(cases.map(([args]) => lifeboat(args)));
  results.forEach((result, i) => {
    expect({ args: cases[i][0], code: result.code }).toEqual({ args: cases[i][0], code: 2 });
    expect(result.stderr).toContain(cases[i][1]);
  });

  // The signature given with --signature is the one checked.
  fs.copyFileSync(`${good}.asc`, path.join(dir, 'crafted', 'elsewhere.asc'));
  const elsewhere = await verify(unsigned, '--signature', path.join(dir, 'crafted', 'elsewhere.asc'));
  expect(elsewhere.code).toBe(0);
});

describe('key problems STOP with KeyProblem and never show a passphrase or key', () => {
  const cases: [string, RegExp][] = [
    [
      'missing-key',
      /cannot read the signing key \(targets\.missing-key\.drill\.signingKey\) .*nope\.sec\.asc: no such file/,
    ],
    [
      'public-as-signing',
      /targets\.public-as-signing\.drill\.signingKey \(.*alpha\.pub\.asc\) is a public key; it must name the armored OpenPGP private key/,
    ],
    [
      'locked-no-env',
      /is protected by a passphrase and targets\.locked-no-env\.drill\.signingKeyPassphraseEnv is not set/,
    ],
    [
      'env-unset',
      new RegExp(
        `the environment variable ${UNSET_ENV} \\(the passphrase of the signing key .*bravo\\.sec\\.asc\\) is not set on the worker`,
      ),
    ],
    [
      'wrong-passphrase',
      new RegExp(`the passphrase in ${WRONG_ENV} does not unlock the signing key .*bravo\\.sec\\.asc`),
    ],
    [
      'other-public-key',
      new RegExp(
        `the drill public key .*bravo\\.pub\\.asc \\(\\w{40}\\) does not belong to the signing key .*alpha\\.sec\\.asc \\(\\w{40}\\)`,
      ),
    ],
  ];
  test.each(cases)('%s', async (target, message) => {
    const broken = createDrillProofActivities(brokenConfig, catalog);
    const failure = await failureOf(broken.signDrillProof(target, proofOf(target, `drill-${target}`)));
    expect(failure.type).toBe('KeyProblem');
    expect(failure.nonRetryable).toBe(true);
    expect(failure.message).toMatch(new RegExp(`^target '${target}': `));
    expect(failure.message).toMatch(message);
    const everything = `${failure.message}\n${failure.stack ?? ''}\n${JSON.stringify(failure.details)}`;
    for (const secret of [PASSPHRASE, WRONG_PASSPHRASE, 'BEGIN PGP'])
      expect(everything).not.toContain(secret);
    const armoredBody = fs.readFileSync(bravoKey.secretFile, 'utf8').split('\n')[2];
    expect(everything).not.toContain(armoredBody);
    // Nothing half-done: no proof without a signature.
    expect(fs.existsSync(path.join(brokenConfig.targets[target].drill!.directory, 'proofs'))).toBe(false);
  });
});

test('a target without a drill section, or a proof of another target, is refused as bad input', async () => {
  const noDrill = await failureOf(acts.signDrillProof('no-drill', proofOf('no-drill', 'drill-x')));
  expect(noDrill.type).toBe('InvalidInput');
  expect(noDrill.message).toBe("target 'no-drill' has no 'drill' section in the worker's config");
  const other = await failureOf(acts.signDrillProof('alpha', proofOf('bravo', 'drill-y')));
  expect(other.type).toBe('InvalidInput');
  expect(other.message).toMatch(/the proof names target 'bravo' but is signed for target 'alpha'/);
  const traversal = await failureOf(acts.signDrillProof('alpha', proofOf('alpha', '../../escape')));
  expect(traversal.type).toBe('InvalidInput');
  expect(traversal.message).toMatch(/the drill id '\.\.\/\.\.\/escape' must be letters, digits/);
});

test('recorded drills are listed newest first, by target, as text and JSON', async () => {
  const record = (drillId: string, target: string, finishedAt: string, extra: Partial<DrillRecord> = {}) => ({
    drillId,
    workflowId: `drDrill-${drillId}`,
    target,
    scenario: 'fullRestore' as const,
    passed: true,
    startedAt: '2025-03-01T02:00:00.000Z',
    finishedAt,
    rtoSeconds: 185,
    rtoObjectiveMinutes: 30,
    rpoSeconds: 3720,
    rpoObjectiveMinutes: 60,
    proofPath: path.join(dir, 'drills', target, 'proofs', `${drillId}.json`),
    ...extra,
  });
  const older: DrillRecord = record('list-alpha-1', 'alpha', '2025-03-01T02:03:30.000Z', {
    passed: false,
    scenario: 'corruptStore',
    rtoSeconds: 2400,
  });
  const newer: DrillRecord = record('list-alpha-2', 'alpha', '2025-04-01T02:03:30.000Z', {
    rpoSeconds: undefined,
  });
  const bravo: DrillRecord = record('list-bravo-1', 'bravo', '2025-03-15T02:03:30.000Z', {
    rtoObjectiveMinutes: undefined,
    rpoObjectiveMinutes: undefined,
  });
  await acts.recordDrill({ ...older, passed: true });
  await acts.recordDrill(older); // a retry with the final result replaces the first record
  await acts.recordDrill(newer);
  await acts.recordDrill(bravo);

  const list = (...args: string[]) => lifeboat(['drills', 'list', ...args, '--config', configFile]);
  const [all, alpha, json, unknown] = await Promise.all([
    list(),
    list('--target', 'alpha'),
    list('--json', '--target', 'alpha'),
    list('--target', 'atlantis'),
  ]);
  expect(all.code).toBe(0);
  const ids = (out: string) => [...out.matchAll(/^(list-\S+)/gm)].map((m) => m[1]);
  expect(ids(all.stdout)).toEqual(['list-alpha-2', 'list-bravo-1', 'list-alpha-1']);
  expect(all.stdout).toContain('list-alpha-1  alpha  corruptStore  FAIL  finished 2025-03-01T02:03:30.000Z');
  expect(all.stdout).toContain('list-alpha-2  alpha  fullRestore  PASS  finished 2025-04-01T02:03:30.000Z');
  expect(all.stdout).toMatch(
    /list-alpha-1 .*\n {4}RTO 40m 00s \(objective 30m, MISSED\)\n {4}RPO 1h 02m \(objective 60m, MISSED\)/,
  );
  expect(all.stdout).toMatch(
    /list-alpha-2 .*\n {4}RTO 3m 05s \(objective 30m, met\)\n {4}RPO not measured \(objective 60m\)/,
  );
  expect(all.stdout).toMatch(/list-bravo-1 .*\n {4}RTO 3m 05s \(no objective\)/);

  expect(alpha.code).toBe(0);
  expect(ids(alpha.stdout)).toEqual(['list-alpha-2', 'list-alpha-1']);
  expect(json.code).toBe(0);
  expect(JSON.parse(json.stdout)).toEqual([
    { ...newer, rtoMet: true },
    { ...older, rtoMet: false, rpoMet: false },
  ]);
  expect(unknown.code).toBe(2);
  expect(unknown.stderr).toContain(
    "unknown target 'atlantis'; the config and its agents have: alpha, bravo, no-drill",
  );
  expect(catalog.listDrills('bravo')).toEqual([bravo]);
});

test('a catalog written before drills existed lists no drills when opened read-only', () => {
  const file = path.join(dir, 'old-catalog.sqlite');
  const db = new Database(file);
  db.exec('CREATE TABLE backups (backup_id TEXT PRIMARY KEY)');
  db.close();
  const old = new Catalog(file, { readonly: true });
  try {
    expect(old.listDrills()).toEqual([]);
  } finally {
    old.close();
  }
});
