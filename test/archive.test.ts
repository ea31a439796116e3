/**
 * The archive format and its encryption, without a server: round trips with real OpenPGP keys and
 * passphrases, and hostile or damaged archives that must be refused with a reason.
 */
import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import * as zlib from 'node:zlib';
import * as openpgp from 'openpgp';
import {
  ArchiveError,
  END,
  FORMATS,
  MAGIC,
  frameChunk,
  frameHeader,
  frameTrailer,
  readArchive,
  readRecordedArchive,
  writeArchive,
  type EntryDigest,
  type Manifest,
  type SourceEntry,
} from '../activities/lib/archive';
import { KeyError, decryptStream, encryptStream, type EncryptionSettings } from '../activities/lib/crypto';
import { warmEntryThread } from '../activities/lib/entryThreads';
import { workersFor } from '../activities/lib/archiveAhead';
import { tempDir } from './helpers';

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

function manifestFor(id: string) {
  return (digests: EntryDigest[]): Manifest => ({
    specVersion: 1,
    backupId: id,
    kind: 'full',
    target: 't',
    createdAt: '2026-11-21T00:00:00Z',
    createdBy: 'test',
    engineVersion: '1.0.0',
    modules: [],
    files: digests.map((d) => ({ ...d, storedIn: id })),
    deleted: [],
  });
}

async function collect(stream: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of stream) parts.push(Buffer.from(c));
  return Buffer.concat(parts);
}

function sources(dir: string, files: Record<string, Buffer>): SourceEntry[] {
  return Object.entries(files).map(([rel, data]) => {
    const file = path.join(dir, rel);
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, data);
    return { path: rel, kind: 'file', source: file, mode: 0o640, mtimeMs: 1_700_000_000_000 };
  });
}

async function readAll(bytes: Buffer) {
  const kept: Record<string, Buffer> = {};
  const codecs: Record<string, string> = {};
  const result = await readArchive(Readable.from([bytes]), async (header) => {
    const parts: Buffer[] = [];
    codecs[header.path] = header.codec;
    return {
      write: async (chunk) => void parts.push(chunk),
      close: async (digest) => void (kept[digest.path] = Buffer.concat(parts)),
    };
  });
  return { ...result, kept, codecs };
}

const FILES = {
  'notes/readme.txt': Buffer.from('lifeboat '.repeat(50_000)),
  'blobs/random.bin': randomBytes(3 * 1024 * 1024 + 17),
  'empty.txt': Buffer.alloc(0),
  'é/naïve.json': Buffer.from(JSON.stringify({ a: 1 })),
};

test.each([
  ['on this thread', undefined, undefined, false],
  ['by reader threads', 0, undefined, false],
  ['by up to three reader threads', 0, 3, false],
  ['by a reader thread started ahead', 0, 1, true],
])(
  'file sinks %s: bytes, mode and mtime as recorded; never over an existing file',
  async (_how, threadsAfter, threads, ahead) => {
    // Started ahead: one spare at a time, taken by the read's pool (a new one can start after).
    if (ahead) expect([warmEntryThread(), warmEntryThread()]).toEqual([true, false]);
    const dir = tempDir('archive-sinks');
    const files = { ...FILES, 'deep/er/many.txt': Buffer.from('x'.repeat(600_000)) };
    const bytes = await collect(writeArchive(sources(path.join(dir, 'src'), files), manifestFor('b1')));
    const out = path.join(dir, 'out');
    fs.mkdirSync(out);
    const closed: string[] = [];
    const result = await readArchive(
      Readable.from([bytes]),
      async (header) => {
        const file = path.join(out, header.path.replace(/\//g, '_'));
        return {
          file,
          mode: 0o604,
          mtimeMs: 1_600_000_000_500,
          close: async (d) => void closed.push(d.path),
        };
      },
      undefined,
      { threadsAfter, threads },
    );
    expect(closed.sort()).toEqual(Object.keys(files).sort());
    expect(result.entries.map((e) => e.path).sort()).toEqual(Object.keys(files).sort());
    if (ahead) expect(warmEntryThread()).toBe(true);
    for (const [rel, data] of Object.entries(files)) {
      const file = path.join(out, rel.replace(/\//g, '_'));
      expect(sha(fs.readFileSync(file))).toBe(sha(data));
      const st = fs.statSync(file);
      expect(st.mode & 0o7777).toBe(0o604);
      expect(st.mtimeMs).toBe(1_600_000_000_500);
    }
    // A file already there is never written over: the read fails naming it.
    const again = readArchive(
      Readable.from([bytes]),
      async (header) => ({
        file: path.join(out, header.path.replace(/\//g, '_')),
        mode: 0o600,
        mtimeMs: 0,
        close: async () => undefined,
      }),
      undefined,
      { threadsAfter, threads },
    );
    await expect(again).rejects.toThrow(/EEXIST/);
    expect(sha(fs.readFileSync(path.join(out, 'deep_er_many.txt')))).toBe(sha(files['deep/er/many.txt']));
  },
);

test('round trip through a passphrase: bytes, checksums and codecs', async () => {
  const dir = tempDir('archive');
  process.env.LIFEBOAT_TEST_PASSPHRASE = 'correct horse battery staple';
  const settings: EncryptionSettings = { passphraseEnv: 'LIFEBOAT_TEST_PASSPHRASE' };
  const cipher = await collect(
    await encryptStream(writeArchive(sources(dir, FILES), manifestFor('b1')), settings),
  );
  expect(cipher.includes(Buffer.from('lifeboat lifeboat'))).toBe(false);
  const plain = await collect(await decryptStream(Readable.from([cipher]), settings));
  const { kept, codecs, manifest } = await readAll(plain);
  for (const [rel, data] of Object.entries(FILES)) expect(sha(kept[rel])).toBe(sha(data));
  expect(codecs['notes/readme.txt']).toBe('zstd');
  expect(codecs['blobs/random.bin']).toBe('store');
  expect(manifest.files.map((f) => f.path).sort()).toEqual(Object.keys(FILES).sort());
  // Compression pays on the text: the archive is smaller than the data.
  const total = Object.values(FILES).reduce((n, b) => n + b.length, 0);
  expect(cipher.length).toBeLessThan(total);

  process.env.LIFEBOAT_TEST_PASSPHRASE = 'wrong';
  await expect(decryptStream(Readable.from([cipher]), settings)).rejects.toThrow(KeyError);
  await expect(decryptStream(Readable.from([cipher]), settings)).rejects.toThrow(
    /cannot be decrypted with the configured passphrase/,
  );
  await expect(decryptStream(Readable.from([cipher]), settings)).rejects.not.toThrow(/wrong/);
  delete process.env.LIFEBOAT_TEST_PASSPHRASE;
  await expect(decryptStream(Readable.from([cipher]), settings)).rejects.toThrow(
    'the environment variable LIFEBOAT_TEST_PASSPHRASE (the backup passphrase) is not set on the worker',
  );
});

test('round trip to recipient keys generated here; another key cannot open it', async () => {
  const dir = tempDir('archive-keys');
  const write = async (name: string) => {
    const { privateKey, publicKey } = await openpgp.generateKey({
      type: 'ecc',
      curve: 'curve25519Legacy',
      userIDs: [{ name }],
      format: 'armored',
    });
    fs.writeFileSync(path.join(dir, `${name}.pub.asc`), publicKey);
    fs.writeFileSync(path.join(dir, `${name}.sec.asc`), privateKey);
  };
  await write('ops');
  await write('other');
  const settings: EncryptionSettings = {
    recipients: [path.join(dir, 'ops.pub.asc')],
    privateKeys: [path.join(dir, 'ops.sec.asc')],
  };
  const cipher = await collect(
    await encryptStream(
      writeArchive(sources(dir, { 'a.txt': Buffer.from('hello') }), manifestFor('b2')),
      settings,
    ),
  );
  const { kept } = await readAll(await collect(await decryptStream(Readable.from([cipher]), settings)));
  expect(kept['a.txt'].toString()).toBe('hello');
  await expect(
    decryptStream(Readable.from([cipher]), {
      recipients: [],
      privateKeys: [path.join(dir, 'other.sec.asc')],
    }),
  ).rejects.toThrow(/cannot be decrypted with the configured key/);
  await expect(
    decryptStream(Readable.from([cipher]), { recipients: [], privateKeys: [path.join(dir, 'missing.asc')] }),
  ).rejects.toThrow(/cannot read the private key .*missing\.asc: ENOENT/);

  // A flipped byte in the ciphertext is caught while reading: in the data, and in the integrity tag
  // at the very end (the plaintext streams before the tag is seen; the tag's failure still arrives).
  for (const at of [Math.floor(cipher.length / 2), cipher.length - 3]) {
    const flipped = Buffer.from(cipher);
    flipped[at] ^= 0x01;
    await expect(
      (async () => readAll(await collect(await decryptStream(Readable.from([flipped]), settings))))(),
    ).rejects.toThrow();
  }
});

test('workersFor: none for no file, one more than the largest file needs only for every 8 MiB of the others', () => {
  const MiB = 1024 * 1024;
  const entry = (size?: number) => ({
    path: 'p',
    kind: 'file' as const,
    source: 's',
    mode: 0o644,
    mtimeMs: 0,
    size,
  });
  expect(workersFor([], 4)).toBe(0);
  expect(workersFor([entry()], 4)).toBe(4); // sizes unknown: every worker
  expect(workersFor([entry(39 * MiB), ...Array(6).fill(entry(100_000))], 4)).toBe(1);
  expect(workersFor([entry(39 * MiB), entry(8 * MiB)], 4)).toBe(2);
  expect(workersFor([entry(1), entry(1)], 4)).toBe(1);
  expect(workersFor([entry(39 * MiB), entry(40 * MiB), entry(41 * MiB)], 2)).toBe(2);
  expect(workersFor([entry(39 * MiB), entry(40 * MiB), entry(41 * MiB)], 4)).toBe(3); // no more than the files
  expect(workersFor([entry(1), entry(100 * MiB), entry(undefined)], 2)).toBe(2);
});

test('an archive of no file is written and reads back', async () => {
  const bytes = await collect(writeArchive([], manifestFor('empty')));
  const result = await readArchive(Readable.from([bytes]), async () => undefined);
  expect(result.entries).toEqual([]);
});

test('small chunks travel packed and their packs are refilled: every byte of 700 mixed files round-trips', async () => {
  // Small chunks (64 KiB or less) share a pack that goes back to the reading thread to be filled
  // again once the writer has copied them (archiveAhead.ts): 28 MB of them pass through a few packs
  // many times over, with large chunks and the unit boundary between them.
  const dir = tempDir('archive-packs');
  const files: Record<string, Buffer> = {};
  const sizes = [0, 1, 511, 512, 4096, 65_535, 65_536, 65_537, 300_000];
  for (let i = 0; i < 700; i += 1) {
    const size = i < sizes.length ? sizes[i] : (i * 7919) % 70_000;
    // Random bytes stay stored (a chunk of exactly 64 KiB is still small); repeated text compresses.
    files[`f/${i}.bin`] = i < sizes.length || i % 2 ? randomBytes(size) : Buffer.alloc(size, `file ${i} `);
  }
  // Held as yielded, not copied, as a stream's buffer holds them: a view of a pack refilled later
  // would change under it.
  const held: Buffer[] = [];
  for await (const piece of writeArchive(sources(dir, files), manifestFor('packs'))) held.push(piece);
  const { kept, codecs } = await readAll(Buffer.concat(held));
  for (const [rel, data] of Object.entries(files)) expect(sha(kept[rel])).toBe(sha(data));
  expect(new Set(Object.values(codecs))).toEqual(new Set(['store', 'zstd']));
});

test('an archive of 5,000 files (a manifest far larger than one chunk) round-trips', async () => {
  const dir = tempDir('archive-many');
  const files: Record<string, Buffer> = {};
  for (let i = 0; i < 5000; i += 1)
    files[`projects/p${i % 50}/notes/note-with-a-longish-name-${i}.md`] = Buffer.from(`note ${i}`);
  const bytes = await collect(writeArchive(sources(dir, files), manifestFor('many')));
  const { kept, manifest } = await readAll(bytes);
  expect(manifest.files).toHaveLength(5000);
  expect(JSON.stringify(manifest).length).toBeGreaterThan(1024 * 1024);
  expect(kept['projects/p7/notes/note-with-a-longish-name-4957.md'].toString()).toBe('note 4957');
  // The manifest entry, written a piece at a time: exactly JSON.stringify(manifest, null, 1), in
  // chunks of 256 KiB (the last one shorter), as docs/archive-format.md says.
  const header = bytes.lastIndexOf(Buffer.from('{"path":"manifest.json","kind":"manifest"'));
  let at = header + bytes.readUInt32BE(header - 4);
  const lengths: number[] = [];
  const parts: Buffer[] = [];
  for (let length = bytes.readUInt32BE(at); length > 0; length = bytes.readUInt32BE(at)) {
    lengths.push(length);
    parts.push(bytes.subarray(at + 4, at + 4 + length));
    at += 4 + length;
  }
  expect(Buffer.concat(parts).toString()).toBe(JSON.stringify(manifest, null, 1));
  expect(lengths.length).toBeGreaterThan(4);
  expect(lengths.slice(0, -1).every((l) => l === 256 * 1024)).toBe(true);
  expect(lengths[lengths.length - 1]).toBeLessThanOrEqual(256 * 1024);
});

test.each([
  ['on this thread', undefined],
  ['by reader threads', 0],
])(
  "a restore's read (%s) compares the manifest with its recorded SHA-256, parses and keeps nothing of it",
  async (_how, threadsAfter) => {
    const dir = tempDir('archive-recorded');
    let recorded = '';
    const written = writeArchive(
      sources(path.join(dir, 'src'), FILES),
      manifestFor('b1'),
      undefined,
      (m) => (recorded = m.sha256),
    );
    const bytes = await collect(written);
    // What a sidecar records is what readArchive reports of the same archive.
    expect((await readArchive(Readable.from([bytes]), async () => undefined)).manifestSha256).toBe(recorded);
    const kept: Record<string, string> = {};
    const read = readRecordedArchive(
      Readable.from([bytes]),
      async () => {
        const parts: Buffer[] = [];
        return {
          write: async (chunk) => void parts.push(chunk),
          close: async (d) => void (kept[d.path] = sha(Buffer.concat(parts))),
        };
      },
      undefined,
      recorded,
      { threadsAfter },
    );
    await expect(read).resolves.toBeUndefined();
    expect(kept).toEqual(Object.fromEntries(Object.entries(FILES).map(([p, b]) => [p, sha(b)])));
    // Another manifest than the recorded one, or none, is refused.
    const other = readRecordedArchive(
      Readable.from([bytes]),
      async () => undefined,
      undefined,
      'f'.repeat(64),
      {
        threadsAfter,
      },
    );
    await expect(other).rejects.toMatchObject({
      code: 'manifestMismatch',
      message: "the archive's manifest is not the one recorded when the backup was made",
    });
    const body = Buffer.from('payload');
    const withoutManifest = Buffer.concat([
      MAGIC,
      frameHeader({
        path: 'a.txt',
        kind: 'file',
        mode: 0o644,
        mtimeMs: 0,
        size: body.length,
        codec: 'store',
      }),
      frameChunk(body),
      frameTrailer(sha(body), body.length),
      END,
    ]);
    const none = readRecordedArchive(
      Readable.from([withoutManifest]),
      async () => undefined,
      undefined,
      recorded,
      {
        threadsAfter,
      },
    );
    await expect(none).rejects.toMatchObject({ code: 'noManifest' });
  },
);

describe('hostile and damaged archives are refused with the reason', () => {
  const data = Buffer.from('payload');
  function entry(
    header: Record<string, unknown>,
    body = data,
    trailer = { sha256: sha(body), size: body.length },
  ): Buffer {
    return Buffer.concat([
      frameHeader({ kind: 'file', mode: 0o644, mtimeMs: 0, size: body.length, codec: 'store', ...header }),
      frameChunk(body),
      frameTrailer(trailer.sha256, trailer.size),
    ]);
  }
  function manifestEntry(paths: string[]): Buffer {
    const m = Buffer.from(
      JSON.stringify(
        manifestFor('b')(
          paths.map((p) => ({
            path: p,
            kind: 'file',
            size: data.length,
            sha256: sha(data),
            mode: 0o644,
            mtimeMs: 0,
          })),
        ),
      ),
    );
    return entry({ path: 'manifest.json', kind: 'manifest', size: m.length }, m);
  }
  const archive = (...parts: Buffer[]) => Buffer.concat([MAGIC, ...parts]);

  test.each([
    [
      'a path with ..',
      archive(entry({ path: '../etc/passwd' })),
      /"\.\.\/etc\/passwd" is refused: the path climbs out with '\.\.'/,
    ],
    ['an absolute path', archive(entry({ path: '/etc/passwd' })), /is refused: the path is absolute/],
    ['a backslash', archive(entry({ path: 'a\\b' })), /is refused: the path holds a backslash/],
    ['a drive path', archive(entry({ path: 'C:/x' })), /is refused: the path names a drive/],
    [
      'a symlink',
      archive(entry({ path: 'link', kind: 'symlink' })),
      /"link" is refused: its kind 'symlink' is not a regular file/,
    ],
    [
      'a device file',
      archive(entry({ path: 'dev', kind: 'device' })),
      /its kind 'device' is not a regular file/,
    ],
    ['a duplicate', archive(entry({ path: 'a' }), entry({ path: 'a' })), /entry "a" appears twice/],
    [
      'names colliding after normalisation',
      archive(entry({ path: 'caf\u00e9' }), entry({ path: 'cafe\u0301' })),
      /collide after Unicode normalisation/,
    ],
    [
      'a flipped data byte',
      archive(entry({ path: 'a' }, Buffer.from('paYload'), { sha256: sha(data), size: 7 })),
      /entry "a" does not match its checksum/,
    ],
    [
      'a truncated archive',
      archive(entry({ path: 'a' })).subarray(0, MAGIC.length + 30),
      /the archive is truncated/,
    ],
    ['no manifest', archive(entry({ path: 'a' }), END), /has no manifest/],
    [
      'an entry the manifest does not list',
      archive(entry({ path: 'a' }), entry({ path: 'extra' }), manifestEntry(['a']), END),
      /holds "extra", which the manifest does not list/,
    ],
    [
      'a manifest entry missing from the archive',
      archive(entry({ path: 'a' }), manifestEntry(['a', 'gone']), END),
      /lists "gone" but the archive has no such entry/,
    ],
    [
      'data after the end',
      archive(entry({ path: 'a' }), manifestEntry(['a']), END, Buffer.from('x')),
      /data after its end marker/,
    ],
    ['not an archive', Buffer.from('PK\u0003\u0004 zip?'), /not a Lifeboat archive/],
    [
      'a newer format version',
      Buffer.concat([Buffer.from('LIFEBOAT-ARCHIVE/3\n'), entry({ path: 'a' })]),
      /the archive is of format version 3; this Lifeboat reads versions 1 and 2 only/,
    ],
    [
      'a small chunk that inflates past its header (a deflate bomb in a version 1 archive)',
      Buffer.concat([
        FORMATS[0].magic,
        entry(
          { path: 'bomb', codec: 'deflate', size: 10 },
          zlib.deflateRawSync(Buffer.alloc(4 * 1024 * 1024)),
          { sha256: sha(Buffer.alloc(10)), size: 10 },
        ),
      ]),
      /entry "bomb" holds more bytes than its header says \(10\)/,
    ],
    [
      'a manifest that lists a path twice',
      archive(entry({ path: 'a' }), manifestEntry(['a', 'a']), END),
      /the manifest lists "a" twice/,
    ],
  ])('%s', async (_what, bytes, message) => {
    const opened: string[] = [];
    await expect(
      readArchive(Readable.from([bytes]), async (h) => {
        opened.push(h.path);
        return undefined;
      }),
    ).rejects.toThrow(ArchiveError);
    await expect(readArchive(Readable.from([bytes]), async () => undefined)).rejects.toThrow(message);
    // The same when the reader threads inflate and hash every entry.
    await expect(
      readArchive(Readable.from([bytes]), async () => undefined, undefined, { threadsAfter: 0 }),
    ).rejects.toThrow(message);
    // A refused header never reaches the sink.
    expect(opened).not.toContain('../etc/passwd');
    expect(opened).not.toContain('link');
  });

  test("a root's own manifest.json is an entry like any other, apart from the archive's manifest", async () => {
    const result = await readArchive(
      Readable.from([archive(entry({ path: 'manifest.json' }), manifestEntry(['manifest.json']), END)]),
      async () => undefined,
    );
    expect(result.entries.map((e) => e.path)).toEqual(['manifest.json']);
    expect(result.manifest.files.map((f) => f.path)).toEqual(['manifest.json']);
  });

  test('a well-formed archive passes', async () => {
    const result = await readArchive(
      Readable.from([archive(entry({ path: 'a' }), manifestEntry(['a']), END)]),
      async () => undefined,
    );
    expect(result.entries.map((e) => e.path)).toEqual(['a']);
  });
});
