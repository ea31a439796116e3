/**
 * Writes test/fixtures/archive-v2/ (the format Lifeboat writes today; archive-v1/ is the same made
 * by the Lifeboat of format 1, kept as it was): a full backup and an incremental on top of it of a tiny storage
 * root, made by Lifeboat's own backup activity in recipient-key mode, with signed sidecars, the
 * test-only keys, and expected.json (the tree each backup restores: path → size, SHA-256, mode,
 * mtime). test/archive-cli.test.ts and test/archive-format.test.ts read it; docs/archive-format.md
 * describes it.
 *
 *   node --require tsx/cjs scripts/make-archive-fixture.ts [--new-keys]
 *
 * Deterministic where it can be: the tree (bytes, modes, mtimes), the backup ids and every time
 * (keys, signatures, `createdAt`: the clock of this process is stopped at fixed dates in 2024, so
 * no machine sees them in the future) are fixed, and the keys are reused when the folder has them
 * (--new-keys makes new ones; a new folder takes archive-v1's). The plaintext of each archive is the same on every run; OpenPGP
 * encryption is randomised, so the `.lbk` files, their SHA-256 in the sidecars and the signatures
 * are not.
 */
import Database from 'better-sqlite3';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as openpgp from 'openpgp';
import { createStorageActivities } from '../activities';
import { Catalog } from '../activities/lib/catalog';
import { snapshotDatabase } from '../activities/lib/rootFiles';
import { parseConfig } from '../config';
import { pseudoRandom, sha256OfFile, treeState } from './storage-root';

/** The fixture of the format Lifeboat writes, and the one of each earlier format (never regenerated). */
export const FIXTURE = path.resolve(__dirname, '..', 'test', 'fixtures', 'archive-v2');
export const FIXTURE_V1 = path.resolve(__dirname, '..', 'test', 'fixtures', 'archive-v1');
export const FIXTURES = { 1: FIXTURE_V1, 2: FIXTURE } as const;
export const FIXTURE_TARGET = 'fixture';
export const FULL_ID = 'fixture-20240501T120000Z-f1x7-full';
export const INCREMENTAL_ID = 'fixture-20240502T093000Z-f1x7-incremental';
export const KEY_FILES = {
  recipientPrivate: 'fixture-recipient.private.asc',
  recipientPublic: 'fixture-recipient.public.asc',
  signingPrivate: 'fixture-signing.private.asc',
  signingPublic: 'fixture-signing.public.asc',
};

const KEY_TIME = Date.UTC(2024, 3, 30, 12, 0, 0);
const FULL_TIME = Date.UTC(2024, 4, 1, 12, 0, 0);
const CHANGE_TIME = Date.UTC(2024, 4, 2, 9, 30, 0, 500);
const MINUTE = 60_000;

/** Runs `work` with this process's clock (`new Date()`, `Date.now()`) stopped at `ms`. */
async function atTime<T>(ms: number, work: () => Promise<T>): Promise<T> {
  const RealDate = Date;
  class StoppedDate extends RealDate {
    constructor(value?: number | string | Date) {
      super(value ?? ms);
    }
    static override now(): number {
      return ms;
    }
  }
  globalThis.Date = StoppedDate as DateConstructor;
  try {
    return await work();
  } finally {
    globalThis.Date = RealDate;
  }
}
const DATABASES = ['data/app.db'];

/** Writes `content` at `rel` under `root` with a mode and an mtime (milliseconds). */
function put(root: string, rel: string, content: Buffer | string, mode: number, mtimeMs: number): void {
  const file = path.join(root, ...rel.split('/'));
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, content);
  fs.chmodSync(file, mode);
  fs.utimesSync(file, mtimeMs / 1000, mtimeMs / 1000);
}

/** The root as the full backup sees it: stored and deflated files, an empty file, a database, a mode. */
function writeRoot(root: string): void {
  put(root, 'config/settings.json', '{"theme": "dark", "upload": 10}\n', 0o600, FULL_TIME);
  put(root, 'notes/readme.md', `# Fixture\n${'Lifeboat keeps this line. '.repeat(80)}\n`, 0o644, FULL_TIME);
  put(root, 'notes/obsolete.txt', 'deleted before the incremental\n', 0o644, FULL_TIME);
  put(root, 'notes/r\u00e9sum\u00e9.txt', 'a UTF-8 name (NFC)\n', 0o644, FULL_TIME);
  put(root, 'data/blob.bin', pseudoRandom(7, 1024), 0o644, FULL_TIME);
  put(root, 'empty.txt', '', 0o644, FULL_TIME);
  put(root, 'bin/run.sh', '#!/bin/sh\necho lifeboat fixture\n', 0o755, FULL_TIME);
  const db = path.join(root, ...DATABASES[0].split('/'));
  fs.mkdirSync(path.dirname(db), { recursive: true });
  const sqlite = new Database(db);
  sqlite.exec('CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL)');
  const insert = sqlite.prepare('INSERT INTO items (name) VALUES (?)');
  for (let i = 0; i < 5; i += 1) insert.run(`item ${i}`);
  sqlite.close();
  fs.chmodSync(db, 0o644);
  fs.utimesSync(db, FULL_TIME / 1000, FULL_TIME / 1000);
}

/** What changes before the incremental: an edit, a deletion, a new file, a mode-only change. */
function changeRoot(root: string): void {
  put(
    root,
    'notes/readme.md',
    `# Fixture, edited\n${'Lifeboat changed this line. '.repeat(80)}\n`,
    0o644,
    CHANGE_TIME,
  );
  fs.rmSync(path.join(root, 'notes', 'obsolete.txt'));
  put(root, 'notes/new.md', 'added before the incremental\n', 0o644, CHANGE_TIME);
  // chmod leaves the mtime alone: the manifest points at the full's bytes with the new mode.
  fs.chmodSync(path.join(root, 'bin', 'run.sh'), 0o700);
}

/**
 * The tree a backup of `root` restores: the files as they are, except that a database restores as
 * its Online Backup API snapshot (a consistent copy, whose header bytes differ from the live file's).
 */
async function restoredTree(root: string, work: string): Promise<ReturnType<typeof treeState>> {
  const tree = treeState(root);
  const snapshot = path.join(work, 'snapshot.db');
  for (const rel of DATABASES) {
    // As the backup takes it (in memory: the same pages as the Online Backup API's, bar page 1's
    // change counter).
    await snapshotDatabase(path.join(root, ...rel.split('/')), snapshot, () => undefined);
    tree[rel] = { ...tree[rel], sha256: sha256OfFile(snapshot) };
    fs.rmSync(snapshot);
  }
  return tree;
}

async function keyPair(name: string, email: string) {
  // openpgp.js defaults (Curve25519, no SEIPDv2 feature): archives to this key open in GnuPG 2.2.
  return openpgp.generateKey({ userIDs: [{ name, email }], date: new Date(KEY_TIME), format: 'armored' });
}

/** The test-only keys: reused when present, so that regenerating keeps fingerprints stable. */
async function ensureKeys(newKeys: boolean): Promise<void> {
  const at = (f: string) => path.join(FIXTURE, f);
  const all = (dir: string) => Object.values(KEY_FILES).every((f) => fs.existsSync(path.join(dir, f)));
  if (!newKeys && !all(FIXTURE) && all(FIXTURE_V1))
    for (const f of Object.values(KEY_FILES)) fs.copyFileSync(path.join(FIXTURE_V1, f), at(f));
  if (newKeys || !all(FIXTURE)) {
    const recipient = await keyPair('Lifeboat fixture recipient (test only)', 'recipient@fixture.invalid');
    const signing = await keyPair('Lifeboat fixture signing (test only)', 'signing@fixture.invalid');
    fs.writeFileSync(at(KEY_FILES.recipientPrivate), recipient.privateKey);
    fs.writeFileSync(at(KEY_FILES.recipientPublic), recipient.publicKey);
    fs.writeFileSync(at(KEY_FILES.signingPrivate), signing.privateKey);
    fs.writeFileSync(at(KEY_FILES.signingPublic), signing.publicKey);
  }
}

async function main(): Promise<void> {
  fs.mkdirSync(FIXTURE, { recursive: true });
  await ensureKeys(process.argv.includes('--new-keys'));
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'lifeboat-fixture-'));
  try {
    const root = path.join(work, 'root');
    const repository = path.join(work, 'repo');
    writeRoot(root);
    const raw = {
      auditLedger: path.join(work, 'audit.sqlite'),
      targets: {
        [FIXTURE_TARGET]: {
          root,
          repository,
          encryption: {
            recipients: [path.join(FIXTURE, KEY_FILES.recipientPublic)],
            privateKeys: [path.join(FIXTURE, KEY_FILES.recipientPrivate)],
            signingKey: path.join(FIXTURE, KEY_FILES.signingPrivate),
          },
          engineVersion: '1.0.0',
          // Empty: a sidecar's array would be reflowed by prettier, which would break its signature.
          modules: [],
        },
      },
    };
    const config = parseConfig(raw, path.join(work, 'lifeboat.config.json'));
    const catalog = new Catalog(config.catalog);
    const expected: Record<string, ReturnType<typeof treeState>> = {};
    try {
      const acts = createStorageActivities(config, catalog);
      const createdBy = 'scripts/make-archive-fixture.ts';
      await atTime(FULL_TIME + MINUTE, () =>
        acts.writeBackup(FIXTURE_TARGET, { backupId: FULL_ID, kind: 'full', createdBy }),
      );
      expected[FULL_ID] = await restoredTree(root, work);
      changeRoot(root);
      await atTime(CHANGE_TIME + MINUTE, () =>
        acts.writeBackup(FIXTURE_TARGET, { backupId: INCREMENTAL_ID, kind: 'incremental', createdBy }),
      );
      expected[INCREMENTAL_ID] = await restoredTree(root, work);
    } finally {
      catalog.close();
    }
    for (const name of fs.readdirSync(FIXTURE).filter((n) => /\.(lbk|json|json\.asc)$/.test(n)))
      fs.rmSync(path.join(FIXTURE, name));
    for (const id of [FULL_ID, INCREMENTAL_ID])
      for (const ext of ['.lbk', '.json', '.json.asc'])
        fs.copyFileSync(path.join(repository, id + ext), path.join(FIXTURE, id + ext));
    // Paths use '/' on every host, as in the manifest.
    const trees = Object.fromEntries(
      Object.entries(expected).map(([id, tree]) => [
        id,
        Object.fromEntries(Object.entries(tree).map(([p, v]) => [p.split(path.sep).join('/'), v])),
      ]),
    );
    fs.writeFileSync(path.join(FIXTURE, 'expected.json'), `${JSON.stringify(trees, null, 2)}\n`);
    const total = fs.readdirSync(FIXTURE).reduce((n, f) => n + fs.statSync(path.join(FIXTURE, f)).size, 0);
    console.log(`wrote ${FIXTURE} (${total} bytes): ${FULL_ID}, ${INCREMENTAL_ID}`);
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}

if (require.main === module) {
  main().catch((err) => {
    console.error(err);
    process.exit(1);
  });
}
