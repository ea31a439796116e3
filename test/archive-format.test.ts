/**
 * docs/archive-format.md against real archives made by Lifeboat's backup activity: what GnuPG 2.2
 * does with each encryption mode (and that the doc's table says exactly that), the sidecar's
 * signature under `gpg --verify`, and archives read by readers written from the doc alone — the one
 * below (it does not import archive.ts) and the doc's own Python sketch — down to the last file of an
 * incremental's tree. The committed fixtures (test/fixtures/archive-v2, and archive-v1 of the format
 * before) are read the same way. Zstandard frames are decompressed by fzstd, not by the binding
 * Lifeboat writes them with.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { decompress as unzstd } from 'fzstd';
import * as openpgp from 'openpgp';
import { createStorageActivities } from '../activities';
import { Catalog } from '../activities/lib/catalog';
import { FIXTURES, FULL_ID, INCREMENTAL_ID, KEY_FILES } from '../scripts/make-archive-fixture';
import { treeState, writeStorageRoot } from '../scripts/storage-root';
import { ROOT, tempDir, writeConfig } from './helpers';

const DOC = path.join(ROOT, 'docs', 'archive-format.md');
const PASSPHRASE_ENV = 'LIFEBOAT_TEST_FORMAT_PASSPHRASE';
const PASSPHRASE = 'format-test-passphrase-not-printed';
/** The magic Lifeboat writes, and the one before it. */
const MAGIC = Buffer.from('LIFEBOAT-ARCHIVE/2\n');
const CODECS: Record<string, string[]> = {
  [MAGIC.toString()]: ['store', 'zstd'],
  'LIFEBOAT-ARCHIVE/1\n': ['store', 'deflate'],
};

let dir: string;
let keys: Record<'recipient' | 'recipientV2' | 'signing', { publicFile: string; privateFile: string }>;
let signingFingerprint: string;
const repo = (target: string) => path.join(dir, target, 'repo');
const archiveOf = (target: string, id: string) => path.join(repo(target), `${id}.lbk`);
const sidecarOf = (target: string, id: string) =>
  JSON.parse(fs.readFileSync(path.join(repo(target), `${id}.json`), 'utf8')) as Record<string, unknown>;

// ---- A reader of the plaintext, written from docs/archive-format.md section 3 alone. ----

interface ReadEntry {
  header: { path: string; kind: string; mode: number; mtimeMs: number; size: number; codec: string };
  data: Buffer;
}
interface ManifestItem {
  path: string;
  kind: string;
  size: number;
  sha256: string;
  mode: number;
  mtimeMs: number;
  storedIn: string;
}
interface ReadArchive {
  entries: Map<string, ReadEntry>;
  manifest: { specVersion: number; backupId: string; kind: string; parent?: string; files: ManifestItem[] };
  manifestSha256: string;
}

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

function readPlaintext(plain: Buffer): ReadArchive {
  let at = 0;
  const take = (n: number) => {
    if (at + n > plain.length) throw new Error(`truncated at ${at}`);
    at += n;
    return plain.subarray(at - n, at);
  };
  const u32 = () => take(4).readUInt32BE(0);
  const codecs = CODECS[take(MAGIC.length).toString('latin1')];
  if (!codecs) throw new Error('wrong magic');
  const entries = new Map<string, ReadEntry>();
  let manifest: ReadArchive['manifest'] | undefined;
  let manifestSha256 = '';
  for (let tag = take(1).toString('latin1'); tag !== 'Z'; tag = take(1).toString('latin1')) {
    if (tag !== 'E') throw new Error(`unexpected tag ${tag}`);
    if (manifest) throw new Error('an entry after the manifest');
    const length = u32();
    if (length > 65536) throw new Error('header too long');
    const header = JSON.parse(take(length).toString('utf8')) as ReadEntry['header'];
    if (header.path.startsWith('/') || header.path.split('/').includes('..')) throw new Error('unsafe path');
    if (entries.has(header.path.normalize('NFC'))) throw new Error(`${header.path} twice`);
    if (!codecs.includes(header.codec)) throw new Error(`codec ${header.codec}`);
    const chunks: Buffer[] = [];
    for (let n = u32(); n !== 0; n = u32()) {
      if (n > 8 * 1024 * 1024) throw new Error('chunk too long');
      const stored = take(n);
      const data =
        header.codec === 'zstd'
          ? unzstd(stored)
          : header.codec === 'deflate'
            ? zlib.inflateRawSync(stored)
            : stored;
      chunks.push(Buffer.from(data));
    }
    const data = Buffer.concat(chunks);
    const trailer = JSON.parse(take(u32()).toString('utf8')) as { sha256: string; size: number };
    expect({ path: header.path, sha256: sha256(data), size: data.length }).toEqual({
      path: header.path,
      sha256: trailer.sha256,
      size: header.size,
    });
    expect(trailer.size).toBe(header.size);
    if (header.kind === 'manifest') {
      manifest = JSON.parse(data.toString('utf8')) as ReadArchive['manifest'];
      manifestSha256 = trailer.sha256;
    } else entries.set(header.path.normalize('NFC'), { header, data });
  }
  if (at !== plain.length) throw new Error('bytes after the end marker');
  if (!manifest) throw new Error('no manifest');
  expect(manifest.specVersion).toBe(1);
  // Exactly the files the manifest says are stored here, with its checksums.
  const storedHere = manifest.files.filter((f) => f.storedIn === manifest!.backupId);
  expect(storedHere.map((f) => [f.path, f.kind, f.size, f.sha256])).toEqual(
    storedHere.map((f) => {
      const e = entries.get(f.path);
      return [f.path, e?.header.kind, e?.data.length, e && sha256(e.data)];
    }),
  );
  expect([...entries.keys()].sort()).toEqual(storedHere.map((f) => f.path).sort());
  return { entries, manifest, manifestSha256 };
}

/** The tree at the last of `chain`'s backups, from the plaintexts of every archive it needs (section 4). */
function rebuildTree(chain: ReadArchive[]) {
  const last = chain[chain.length - 1];
  const byId = new Map(chain.map((a) => [a.manifest.backupId, a]));
  const tree: Record<string, { sha256: string; mode: number; mtimeMs: number }> = {};
  for (const f of last.manifest.files) {
    const bytes = byId.get(f.storedIn)?.entries.get(f.path)?.data;
    if (!bytes) throw new Error(`${f.path}: no entry in ${f.storedIn}`);
    expect({ path: f.path, sha256: sha256(bytes) }).toEqual({ path: f.path, sha256: f.sha256 });
    tree[f.path] = { sha256: f.sha256, mode: f.mode, mtimeMs: f.mtimeMs };
  }
  return tree;
}

// ---- Real GnuPG, in a home of its own. ----

function gpg(home: string, args: string[], input?: string) {
  const r = spawnSync('gpg', ['--batch', '--no-tty', ...args], {
    env: { ...process.env, GNUPGHOME: home },
    input,
    maxBuffer: 256 * 1024 * 1024,
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr.toString() };
}

const homes: string[] = [];
function gnupgHome(...importFiles: string[]): string {
  const home = tempDir('gnupg');
  fs.chmodSync(home, 0o700);
  homes.push(home);
  for (const file of importFiles) expect(gpg(home, ['--import', file]).status).toBe(0);
  return home;
}

/** The doc's GnuPG table: outer layer → [decrypts it, packets]. */
function gnupgTable(): Map<string, string[]> {
  const doc = fs.readFileSync(DOC, 'utf8');
  const section = doc.slice(doc.indexOf('### GnuPG 2.2 compatibility'));
  const rows = new Map<string, string[]>();
  for (const line of section.split('\n')) {
    if (!line.startsWith('|')) {
      if (rows.size) break;
      continue;
    }
    const [first, ...rest] = line
      .split('|')
      .slice(1, -1)
      .map((c) => c.trim());
    rows.set(first, rest);
  }
  return rows;
}

/** Where a new-format packet's body starts and how long it is (partial lengths: the first part). */
function packetAt(b: Buffer, at: number): { tag: number; body: number; length: number } {
  const l0 = b[at + 1];
  const tag = b[at] & 0x3f;
  if (l0 < 192) return { tag, body: at + 2, length: l0 };
  if (l0 < 224) return { tag, body: at + 3, length: ((l0 - 192) << 8) + b[at + 2] + 192 };
  if (l0 === 255) return { tag, body: at + 6, length: b.readUInt32BE(at + 2) };
  return { tag, body: at + 2, length: 1 << (l0 & 0x1f) };
}

/** The first two packets' kinds and versions ("PKESK v3 + SEIPD v1"), read from the archive's bytes. */
function outerPackets(file: string): string {
  const b = fs.readFileSync(file);
  expect(b[0] & 0xc0).toBe(0xc0); // openpgp.js writes new-format packets
  const esk = packetAt(b, 0);
  const seipd = packetAt(b, esk.body + esk.length);
  expect(seipd.tag).toBe(18);
  return `${esk.tag === 1 ? 'PKESK' : 'SKESK'} v${b[esk.body]} + SEIPD v${b[seipd.body]}`;
}

beforeAll(async () => {
  process.env[PASSPHRASE_ENV] = PASSPHRASE;
  dir = tempDir('format');
  const make = async (name: string, config?: Partial<openpgp.Config>) => {
    const k = await openpgp.generateKey({ userIDs: [{ name, email: `${name}@test.invalid` }], config });
    const files = {
      publicFile: path.join(dir, `${name}.public.asc`),
      privateFile: path.join(dir, `${name}.private.asc`),
    };
    fs.writeFileSync(files.publicFile, k.publicKey);
    fs.writeFileSync(files.privateFile, k.privateKey);
    return files;
  };
  keys = {
    recipient: await make('recipient'),
    // A key that advertises SEIPDv2: openpgp.js then writes an RFC 9580 message to it.
    recipientV2: await make('recipient-v2', { aeadProtect: true }),
    signing: await make('signing'),
  };
  signingFingerprint = (
    await openpgp.readKey({ armoredKey: fs.readFileSync(keys.signing.publicFile, 'utf8') })
  )
    .getFingerprint()
    .toUpperCase();
  const target = (name: string, encryption: Record<string, unknown>) => {
    writeStorageRoot(path.join(dir, name, 'root'), {
      projects: 1,
      filesPerProject: 2,
      binaryBytes: 300 * 1024,
    });
    // More than one chunk of each codec: 300 KiB of random bytes (stored), 600 KiB of text (zstd).
    fs.writeFileSync(path.join(dir, name, 'root', 'big.txt'), 'lifeboat '.repeat(70_000));
    return { root: path.join(dir, name, 'root'), repository: repo(name), encryption, engineVersion: '3.1.0' };
  };
  const signingKey = keys.signing.privateFile;
  const { config } = writeConfig(dir, {
    auditLedger: 'audit.sqlite',
    targets: {
      recipients: target('recipients', { recipients: [keys.recipient.publicFile], signingKey }),
      'recipients-seipdv2': target('recipients-seipdv2', {
        recipients: [keys.recipientV2.publicFile],
        signingKey,
      }),
      passphrase: target('passphrase', { passphraseEnv: PASSPHRASE_ENV, signingKey }),
    },
  });
  const catalog = new Catalog(config.catalog);
  try {
    const acts = createStorageActivities(config, catalog);
    for (const name of ['recipients', 'recipients-seipdv2', 'passphrase'])
      await acts.writeBackup(name, {
        backupId: `${name}-full`,
        kind: 'full',
        createdBy: 'archive-format.test',
      });
    const root = path.join(dir, 'recipients', 'root');
    fs.writeFileSync(path.join(root, 'projects', 'p0', 'notes', 'n0.md'), 'changed for the incremental\n');
    fs.rmSync(path.join(root, 'projects', 'p0', 'notes', 'n1.md'));
    await acts.writeBackup('recipients', {
      backupId: 'recipients-incr',
      kind: 'incremental',
      createdBy: 'test',
    });
  } finally {
    catalog.close();
  }
});

afterAll(() => {
  delete process.env[PASSPHRASE_ENV];
  // Each home's gpg-agent was started by these tests: stop exactly those.
  for (const home of homes)
    spawnSync('gpgconf', ['--kill', 'gpg-agent'], { env: { ...process.env, GNUPGHOME: home } });
});

describe('GnuPG 2.2 and the outer OpenPGP layer, as the doc says', () => {
  test('gpg is GnuPG 2.2, the series the doc describes (2.2.40 when it was written)', () => {
    expect(gpg(gnupgHome(), ['--version']).stdout.toString()).toMatch(/^gpg \(GnuPG\) 2\.2\.\d+$/m);
  });

  test('recipients: gpg decrypts the archive and the plaintext starts with the magic', () => {
    const home = gnupgHome(keys.recipient.privateFile);
    const r = gpg(home, ['--decrypt', archiveOf('recipients', 'recipients-full')]);
    expect({ status: r.status, start: r.stdout.subarray(0, MAGIC.length).toString() }).toEqual({
      status: 0,
      start: MAGIC.toString(),
    });
    expect(outerPackets(archiveOf('recipients', 'recipients-full'))).toBe('PKESK v3 + SEIPD v1');
    expect(gnupgTable().get('recipients')?.slice(0, 2)).toEqual([
      'yes',
      expect.stringMatching(/^PKESK v3 \+ SEIPD v1/),
    ]);
  });

  test('recipients-seipdv2: gpg cannot read the v6 key packet', () => {
    const home = gnupgHome(keys.recipientV2.privateFile);
    const file = archiveOf('recipients-seipdv2', 'recipients-seipdv2-full');
    const r = gpg(home, ['--decrypt', file]);
    expect({ status: r.status, out: r.stdout.length }).toEqual({ status: 2, out: 0 });
    expect(r.stderr).toContain('packet(1) with unknown version 6');
    expect(outerPackets(file)).toBe('PKESK v6 + SEIPD v2');
    expect(gnupgTable().get('recipients-seipdv2')?.slice(0, 2)).toEqual([
      'no',
      expect.stringMatching(/^PKESK v6 \+ SEIPD v2/),
    ]);
  });

  test('passphrase: gpg fails even with the right passphrase, and says why', () => {
    const home = gnupgHome();
    const file = archiveOf('passphrase', 'passphrase-full');
    // The passphrase goes on stdin, never on a command line.
    const r = gpg(
      home,
      ['--pinentry-mode', 'loopback', '--passphrase-fd', '0', '--decrypt', file],
      `${PASSPHRASE}\n`,
    );
    expect({ status: r.status, out: r.stdout.length }).toEqual({ status: 2, out: 0 });
    expect(r.stderr).toContain('packet(3) with unknown version 6');
    expect(outerPackets(file)).toBe('SKESK v6 + SEIPD v2');
    expect(gnupgTable().get('passphrase')?.slice(0, 2)).toEqual([
      'no',
      expect.stringMatching(/^SKESK v6 \+ SEIPD v2/),
    ]);
    // And the sidecar says which mode it is.
    expect(sidecarOf('passphrase', 'passphrase-full').encryption).toBe('passphrase');
  });

  test('the table has exactly these rows', () => {
    expect([...gnupgTable().keys()]).toEqual([
      'Outer layer',
      expect.stringMatching(/^-+$/),
      'recipients',
      'recipients-seipdv2',
      'passphrase',
    ]);
  });

  test("gpg --verify accepts the sidecar's signature, and rejects it once the sidecar changed", () => {
    const home = gnupgHome(keys.signing.publicFile);
    const sidecar = path.join(repo('recipients'), 'recipients-full.json');
    const good = gpg(home, ['--verify', `${sidecar}.asc`, sidecar]);
    expect(good.status).toBe(0);
    expect(good.stderr).toContain('Good signature');
    expect(good.stderr.replace(/ /g, '')).toContain(signingFingerprint);
    const bytes = fs.readFileSync(sidecar);
    expect(bytes.toString()).toBe(`${JSON.stringify(JSON.parse(bytes.toString()), null, 2)}\n`);
    const changed = path.join(dir, 'changed.json');
    fs.writeFileSync(changed, bytes.toString().replace('"files": ', '"files":  '));
    const bad = gpg(home, ['--verify', `${sidecar}.asc`, changed]);
    expect({ status: bad.status, says: bad.stderr.includes('BAD signature') }).toEqual({
      status: 1,
      says: true,
    });
  });
});

describe('a reader written from the doc reads what gpg decrypts', () => {
  const decrypt = (home: string, file: string) => {
    const r = gpg(home, ['--decrypt', file]);
    expect(r.status).toBe(0);
    return r.stdout;
  };

  test("a full and an incremental: every entry's SHA-256, the manifests, the sidecars and the tree", () => {
    const home = gnupgHome(keys.recipient.privateFile);
    const full = readPlaintext(decrypt(home, archiveOf('recipients', 'recipients-full')));
    const incr = readPlaintext(decrypt(home, archiveOf('recipients', 'recipients-incr')));
    for (const [a, id] of [
      [full, 'recipients-full'],
      [incr, 'recipients-incr'],
    ] as const)
      expect(a.manifestSha256).toBe(sidecarOf('recipients', id).manifestSha256);
    expect(incr.manifest).toMatchObject({ kind: 'incremental', parent: 'recipients-full' });
    expect(incr.manifest).toHaveProperty('deleted', ['projects/p0/notes/n1.md']);
    expect([...incr.entries.keys()]).toEqual(['projects/p0/notes/n0.md']);
    // Multi-chunk entries of both codecs were read.
    expect(full.entries.get('big.txt')?.header.codec).toBe('zstd');
    expect(full.entries.get('projects/p0/tiles/tile.bin')?.header).toMatchObject({
      codec: 'store',
      size: 300 * 1024,
    });
    // The tree the incremental describes is the root as it was, databases apart (they are snapshots).
    const live = treeState(path.join(dir, 'recipients', 'root'));
    // A database's -wal and -shm (left by reading it) are not part of the tree: its snapshot is.
    for (const p of Object.keys(live)) if (/-(wal|shm)$/.test(p)) delete live[p];
    const tree = rebuildTree([full, incr]);
    const databases = incr.manifest.files.filter((f) => f.kind === 'sqlite').map((f) => f.path);
    expect(databases.length).toBeGreaterThan(0);
    for (const p of databases) {
      expect(full.entries.get(p)?.data.subarray(0, 16).toString('latin1')).toBe('SQLite format 3\0');
      tree[p].sha256 = live[p].sha256;
    }
    expect(tree).toEqual(live);
  });

  test("the doc's Python sketch reads the same plaintext", () => {
    const doc = fs.readFileSync(DOC, 'utf8');
    const sketch = /```python\n([\s\S]*?)```/.exec(doc)![1];
    const home = gnupgHome(keys.recipient.privateFile);
    const plain = decrypt(home, archiveOf('recipients', 'recipients-full'));
    const r = spawnSync('python3', ['-c', sketch], { input: plain });
    expect(r.stderr.toString()).toBe('');
    const [backupId, manifestSha256, ...paths] = r.stdout.toString().trim().split('\n');
    expect({ backupId, manifestSha256 }).toEqual({
      backupId: 'recipients-full',
      manifestSha256: sidecarOf('recipients', 'recipients-full').manifestSha256,
    });
    expect(paths).toEqual([...readPlaintext(plain).entries.keys()].sort());
  });

  test.each(Object.entries(FIXTURES))(
    'the committed fixture of format %s: gpg opens it with its test-only key and it rebuilds the expected tree',
    (version, FIXTURE) => {
      const home = gnupgHome(
        path.join(FIXTURE, KEY_FILES.recipientPrivate),
        path.join(FIXTURE, KEY_FILES.signingPublic),
      );
      const read = (id: string) => {
        const sidecar = path.join(FIXTURE, `${id}.json`);
        expect(gpg(home, ['--verify', `${sidecar}.asc`, sidecar]).status).toBe(0);
        const archive = readPlaintext(decrypt(home, path.join(FIXTURE, `${id}.lbk`)));
        expect(archive.manifestSha256).toBe(JSON.parse(fs.readFileSync(sidecar, 'utf8')).manifestSha256);
        return archive;
      };
      const expected = JSON.parse(fs.readFileSync(path.join(FIXTURE, 'expected.json'), 'utf8'));
      const full = read(FULL_ID);
      expect(rebuildTree([full])).toEqual(expected[FULL_ID]);
      expect(rebuildTree([full, read(INCREMENTAL_ID)])).toEqual(expected[INCREMENTAL_ID]);
      const codecs = new Set(
        [full, read(INCREMENTAL_ID)].flatMap((a) => [...a.entries.values()].map((e) => e.header.codec)),
      );
      expect([...codecs].sort()).toEqual(version === '1' ? ['deflate', 'store'] : ['store', 'zstd']);
    },
  );
});
