/**
 * Break glass through the real CLI (`lifeboat archive list|extract` in child processes) on the
 * committed format-1 fixture and on archives made here: the exact tree comes back, signatures are
 * checked against the keys given, and every refusal (wrong key, foreign signer, missing parent,
 * non-empty folder, hostile entries) names its reason and writes nothing.
 */
import Database from 'better-sqlite3';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import * as openpgp from 'openpgp';
import { createStorageActivities } from '../activities';
import { END, MAGIC, frameChunk, frameHeader, frameTrailer } from '../activities/lib/archive';
import { Catalog } from '../activities/lib/catalog';
import { encryptStream } from '../activities/lib/crypto';
import { FIXTURE, FULL_ID, INCREMENTAL_ID, KEY_FILES } from '../scripts/make-archive-fixture';
import { treeState } from '../scripts/storage-root';
import { lifeboat, snapshotTree, tempDir, writeConfig } from './helpers';

const PASSPHRASE_ENV = 'LIFEBOAT_TEST_ARCHIVE_CLI_PASSPHRASE';
const PASSPHRASE = 'archive-cli-test-passphrase-never-shown';
const fixture = (name: string) => path.join(FIXTURE, name);
const KEY = ['--key', fixture(KEY_FILES.recipientPrivate)];
const TRUSTED = ['--trusted-key', fixture(KEY_FILES.signingPublic)];
const INCREMENTAL = fixture(`${INCREMENTAL_ID}.lbk`);
type Tree = Record<string, { sha256: string; mode: number; mtimeMs: number }>;
const expected = JSON.parse(fs.readFileSync(fixture('expected.json'), 'utf8')) as Record<string, Tree>;

let dir: string;
let signingFingerprint: string;
let foreign: { publicFile: string; privateFile: string; fingerprint: string };
let passphraseArchive: string;

const fingerprintOf = async (file: string) =>
  (await openpgp.readKey({ armoredKey: fs.readFileSync(file, 'utf8') })).getFingerprint().toUpperCase();

/** A fresh path in the test folder (not created). */
let counter = 0;
const fresh = (name: string) => path.join(dir, `${name}-${(counter += 1)}`);

beforeAll(async () => {
  dir = tempDir('archive-cli');
  signingFingerprint = await fingerprintOf(fixture(KEY_FILES.signingPublic));
  const k = await openpgp.generateKey({ userIDs: [{ name: 'foreign', email: 'foreign@test.invalid' }] });
  foreign = {
    publicFile: path.join(dir, 'foreign.public.asc'),
    privateFile: path.join(dir, 'foreign.private.asc'),
    fingerprint: '',
  };
  fs.writeFileSync(foreign.publicFile, k.publicKey);
  fs.writeFileSync(foreign.privateFile, k.privateKey);
  foreign.fingerprint = await fingerprintOf(foreign.publicFile);

  // A passphrase-mode backup made by the backup activity (the variable is set here, and for the CLI in its env only).
  process.env[PASSPHRASE_ENV] = PASSPHRASE;
  const root = path.join(dir, 'pass-root');
  fs.mkdirSync(path.join(root, 'docs'), { recursive: true });
  fs.writeFileSync(path.join(root, 'docs', 'plan.md'), '# Recovery plan\n'.repeat(100));
  fs.utimesSync(path.join(root, 'docs', 'plan.md'), 1_700_000_000.25, 1_700_000_000.25);
  const { config } = writeConfig(dir, {
    auditLedger: 'audit.sqlite',
    targets: {
      pass: { root, repository: path.join(dir, 'pass-repo'), encryption: { passphraseEnv: PASSPHRASE_ENV } },
    },
  });
  const catalog = new Catalog(config.catalog);
  try {
    const acts = createStorageActivities(config, catalog);
    passphraseArchive = (
      await acts.writeBackup('pass', { backupId: 'pass-full', kind: 'full', createdBy: 'test' })
    ).archive;
  } finally {
    catalog.close();
    delete process.env[PASSPHRASE_ENV];
  }
});

describe('the committed fixture', () => {
  test('archive list shows the incremental, its parent, what it stores, what was deleted, and the good signature', async () => {
    const r = await lifeboat(['archive', 'list', INCREMENTAL, ...KEY, ...TRUSTED]);
    expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: '' });
    expect(r.stdout).toContain(`incremental backup ${INCREMENTAL_ID} of target 'fixture'`);
    expect(r.stdout).toContain(`parent: ${FULL_ID}`);
    expect(r.stdout).toContain(`signature: good, by key ${signingFingerprint}`);
    expect(r.stdout).toContain("every entry's SHA-256 and the manifest checked: ok");
    // '<': stored in the full backup; the mode is the incremental's (0700), not the full's (0755).
    expect(r.stdout).toMatch(/^< 0700 .* bin\/run\.sh$/m);
    expect(r.stdout).toMatch(/^ {2}0644 .* notes\/readme\.md$/m);
    expect(r.stdout).toMatch(/^< 0644 .* db data\/app\.db$/m);
    expect(r.stdout).toContain('deleted since the parent: notes/obsolete.txt');
    expect(r.stdout).toContain('8 files');
    const json = await lifeboat(['archive', 'list', INCREMENTAL, ...KEY, '--json']);
    const listed = JSON.parse(json.stdout) as { manifest: { files: { path: string }[] } };
    expect(listed.manifest.files.map((f) => f.path).sort()).toEqual(
      Object.keys(expected[INCREMENTAL_ID]).sort(),
    );
  });

  test('archive extract of the incremental rebuilds exactly the expected tree: bytes, modes, mtimes', async () => {
    const into = fresh('extracted');
    const r = await lifeboat(['archive', 'extract', INCREMENTAL, '--into', into, ...KEY, ...TRUSTED]);
    expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: '' });
    expect(r.stdout).toContain(`extracted 8 files`);
    for (const id of [INCREMENTAL_ID, FULL_ID])
      expect(r.stdout).toContain(`signature of ${id}.json: good, by key ${signingFingerprint}`);
    expect(treeState(into)).toEqual(expected[INCREMENTAL_ID]);
    const db = new Database(path.join(into, 'data', 'app.db'), { readonly: true });
    try {
      expect(db.prepare('SELECT count(*) AS n FROM items').get()).toEqual({ n: 5 });
    } finally {
      db.close();
    }
  });

  test('the full backup alone extracts to its own tree, the deleted file included', async () => {
    const into = fresh('full');
    const r = await lifeboat(['archive', 'extract', fixture(`${FULL_ID}.lbk`), '--into', into, ...KEY]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`signature of ${FULL_ID}.json: not checked (no --trusted-key given)`);
    expect(treeState(into)).toEqual(expected[FULL_ID]);
  });

  test('a foreign --trusted-key: exit 1, naming the signer and the key given; nothing written', async () => {
    const into = fresh('foreign-trust');
    const r = await lifeboat([
      'archive',
      'extract',
      INCREMENTAL,
      '--into',
      into,
      ...KEY,
      '--trusted-key',
      foreign.publicFile,
    ]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(
      `its sidecar is signed by key ${signingFingerprint}, which is not a --trusted-key`,
    );
    expect(r.stderr).toContain(`${foreign.fingerprint} from ${foreign.publicFile}`);
    expect(fs.existsSync(into)).toBe(false);
  });

  test('a non-empty --into: exit 2, and the folder is left as it was', async () => {
    const into = fresh('busy');
    fs.mkdirSync(path.join(into, 'keep'), { recursive: true });
    fs.writeFileSync(path.join(into, 'keep', 'mine.txt'), 'not yours');
    const before = snapshotTree(into);
    const r = await lifeboat(['archive', 'extract', INCREMENTAL, '--into', into, ...KEY]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`--into ${into} is not empty (1 entries); extract into a new or empty folder`);
    expect(snapshotTree(into)).toEqual(before);
  });

  test('an incremental without its parent beside it: exit 1 naming the parent; nothing written', async () => {
    const alone = fresh('alone');
    fs.mkdirSync(alone);
    for (const ext of ['.lbk', '.json', '.json.asc'])
      fs.copyFileSync(fixture(INCREMENTAL_ID + ext), path.join(alone, INCREMENTAL_ID + ext));
    const into = fresh('orphan');
    const r = await lifeboat([
      'archive',
      'extract',
      path.join(alone, `${INCREMENTAL_ID}.lbk`),
      '--into',
      into,
      ...KEY,
    ]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(
      `backup ${INCREMENTAL_ID} is an incremental that needs its parent ${FULL_ID}, which is not beside it`,
    );
    expect(r.stderr).toContain(`put ${FULL_ID}.lbk in the same folder`);
    expect(fs.existsSync(into)).toBe(false);
  });

  test('a parent whose integrity check fails at its very end: exit 1, and every file and folder written is removed', async () => {
    const chain = fresh('damaged');
    fs.mkdirSync(chain);
    fs.copyFileSync(INCREMENTAL, path.join(chain, `${INCREMENTAL_ID}.lbk`));
    // The last byte belongs to SEIPD v1's modification detection code: every entry reads (and is
    // written) before OpenPGP reports the damage.
    const parent = fs.readFileSync(fixture(`${FULL_ID}.lbk`));
    parent[parent.length - 1] ^= 0x01;
    fs.writeFileSync(path.join(chain, `${FULL_ID}.lbk`), parent);
    const top = fresh('new-parent');
    const into = path.join(top, 'deeper', 'out');
    const r = await lifeboat([
      'archive',
      'extract',
      path.join(chain, `${INCREMENTAL_ID}.lbk`),
      '--into',
      into,
      ...KEY,
    ]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`${FULL_ID}.lbk is damaged: it does not decrypt cleanly`);
    expect(fs.existsSync(top)).toBe(false);
  });

  test('the wrong private key: exit 1 naming the key the archive wants; nothing written', async () => {
    const into = fresh('wrong-key');
    const r = await lifeboat([
      'archive',
      'extract',
      INCREMENTAL,
      '--into',
      into,
      '--key',
      foreign.privateFile,
    ]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(
      new RegExp(
        `${INCREMENTAL_ID}\\.lbk is encrypted to key [0-9A-F]{16}, which the --key file ${foreign.privateFile} does not hold`,
      ),
    );
    expect(fs.existsSync(into)).toBe(false);
  });

  test('a public key given as --key is bad input (exit 2)', async () => {
    const r = await lifeboat(['archive', 'list', INCREMENTAL, '--key', fixture(KEY_FILES.recipientPublic)]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('is a public key; give the private key the archive is encrypted to');
  });
});

describe('a passphrase-mode archive', () => {
  const env = { [PASSPHRASE_ENV]: PASSPHRASE };

  test('opens with --passphrase-env, and the passphrase is never printed', async () => {
    const list = await lifeboat(
      ['archive', 'list', passphraseArchive, '--passphrase-env', PASSPHRASE_ENV],
      env,
    );
    expect(list.code).toBe(0);
    expect(list.stdout).toContain('full backup pass-full');
    expect(list.stdout).toMatch(/ docs\/plan\.md$/m);
    const into = fresh('pass');
    const r = await lifeboat(
      ['archive', 'extract', passphraseArchive, '--into', into, '--passphrase-env', PASSPHRASE_ENV],
      env,
    );
    expect(r.code).toBe(0);
    expect(treeState(into)).toEqual(treeState(path.join(dir, 'pass-root')));
    for (const out of [list.stdout, list.stderr, r.stdout, r.stderr]) expect(out).not.toContain(PASSPHRASE);
  });

  test('a key instead of the passphrase: exit 1, saying it needs --passphrase-env', async () => {
    const r = await lifeboat(['archive', 'list', passphraseArchive, ...KEY]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('is encrypted with a passphrase, not to a key: open it with --passphrase-env');
  });

  test('a wrong passphrase: exit 1, without printing it', async () => {
    const wrong = 'not-the-passphrase-either';
    const r = await lifeboat(['archive', 'list', passphraseArchive, '--passphrase-env', PASSPHRASE_ENV], {
      [PASSPHRASE_ENV]: wrong,
    });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('cannot be decrypted with the configured passphrase');
    expect(r.stderr + r.stdout).not.toContain(wrong);
  });
});

describe('a hostile archive is refused before anything is written, inside or outside --into', () => {
  /** An archive encrypted to the fixture's recipient key (anyone with the public key can make one). */
  async function hostile(
    name: string,
    entries: { path: string; body: string; kind?: string }[],
  ): Promise<string> {
    const parts: Buffer[] = [MAGIC];
    for (const e of entries) {
      const body = Buffer.from(e.body);
      const sha = createHash('sha256').update(body).digest('hex');
      parts.push(
        frameHeader({
          path: e.path,
          kind: e.kind ?? 'file',
          mode: 0o644,
          mtimeMs: 0,
          size: body.length,
          codec: 'store',
        }),
        frameChunk(body),
        frameTrailer(sha, body.length),
      );
    }
    parts.push(END);
    const folder = fresh(name);
    fs.mkdirSync(folder);
    const file = path.join(folder, `${name}.lbk`);
    const out: Buffer[] = [];
    for await (const c of await encryptStream(Readable.from([Buffer.concat(parts)]), {
      recipients: [fixture(KEY_FILES.recipientPublic)],
    }))
      out.push(c as Buffer);
    fs.writeFileSync(file, Buffer.concat(out));
    return file;
  }

  test.each([
    ['../evil', /archive entry "\.\.\/evil" is refused: the path climbs out with '\.\.'/],
    ['notes/../../evil', /archive entry "notes\/\.\.\/\.\.\/evil" is refused: the path climbs out/],
    ['<absolute path>', /archive entry ".*evil-absolute" is refused: the path is absolute/],
  ])('an entry %s after a harmless one', async (entryPath, reason) => {
    const absolute = path.join(dir, 'evil-absolute');
    const target = entryPath === '<absolute path>' ? absolute : entryPath;
    const file = await hostile('hostile', [
      { path: 'innocent.txt', body: 'looks fine' },
      { path: target, body: 'pwned' },
    ]);
    const into = fresh('hostile-into');
    fs.mkdirSync(into);
    const r = await lifeboat(['archive', 'extract', file, '--into', into, ...KEY]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(reason);
    expect(fs.readdirSync(into)).toEqual([]);
    for (const outside of [
      path.resolve(into, '..', 'evil'),
      path.resolve(into, '..', '..', 'evil'),
      absolute,
    ])
      expect({ outside, exists: fs.existsSync(outside) }).toEqual({ outside, exists: false });
  });

  test('a --into that did not exist still does not', async () => {
    const file = await hostile('hostile-new', [{ path: '../evil', body: 'pwned' }]);
    const into = fresh('never-made');
    const r = await lifeboat(['archive', 'extract', file, '--into', into, ...KEY]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('is refused');
    expect(fs.existsSync(into)).toBe(false);
  });

  test('archive list refuses it too, naming the entry', async () => {
    const file = await hostile('hostile-list', [{ path: '/etc/cron.d/lifeboat', body: 'pwned' }]);
    const r = await lifeboat(['archive', 'list', file, ...KEY]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('archive entry "/etc/cron.d/lifeboat" is refused: the path is absolute');
  });

  test('a manifest that lists a file twice is refused before anything is written', async () => {
    const item = { path: 'a.txt', kind: 'file', size: 1, mode: 0o644, mtimeMs: 0, storedIn: 'twice' };
    const manifest = {
      specVersion: 1,
      backupId: 'twice',
      kind: 'full',
      target: 't',
      createdAt: '2024-01-01T00:00:00.000Z',
      createdBy: 'test',
      engineVersion: '1',
      modules: [],
      files: [1, 2].map(() => ({ ...item, sha256: createHash('sha256').update('x').digest('hex') })),
      deleted: [],
    };
    const file = await hostile('twice', [
      { path: 'a.txt', body: 'x' },
      { path: 'manifest.json', body: JSON.stringify(manifest), kind: 'manifest' },
    ]);
    const into = fresh('twice-into');
    const r = await lifeboat(['archive', 'extract', file, '--into', into, ...KEY]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('twice.lbk: the manifest lists "a.txt" twice');
    expect(fs.existsSync(into)).toBe(false);
  });

  test('a setuid file from an archive whose signature was not checked comes out without the bit, and the output says so', async () => {
    const body = '#!/bin/sh\necho hi\n';
    const sha = createHash('sha256').update(body).digest('hex');
    const manifest = {
      specVersion: 1,
      backupId: 'setid',
      kind: 'full',
      target: 't',
      createdAt: '2024-01-01T00:00:00.000Z',
      createdBy: 'test',
      engineVersion: '1',
      modules: [],
      files: [
        {
          path: 'run.sh',
          kind: 'file',
          size: body.length,
          sha256: sha,
          mode: 0o4755,
          mtimeMs: 0,
          storedIn: 'setid',
        },
      ],
      deleted: [],
    };
    const file = await hostile('setid', [
      { path: 'run.sh', body },
      { path: 'manifest.json', body: JSON.stringify(manifest), kind: 'manifest' },
    ]);
    const into = fresh('setid-into');
    const r = await lifeboat(['archive', 'extract', file, '--into', into, ...KEY]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(
      'setuid/setgid bits not restored (no signature checked; give --trusted-key): run.sh',
    );
    expect(fs.statSync(path.join(into, 'run.sh')).mode & 0o7777).toBe(0o755);
  });
});
