/**
 * A verification's short way (activities/lib/manifestRecord.ts): the recorded manifest's text
 * pretty-printed as an archive holds it, hashed as it streams; what that way refuses to vouch for
 * (the full way then reads again); and, end to end on a real archive and a real catalog file, that a
 * row this code records is read the short way: its digest is the archive's manifest entry's.
 */
import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import { writeArchive, type EntryDigest } from '../activities/lib/archive';
import { readRecordedArchive } from '../activities/lib/archiveReader';
import { Catalog } from '../activities/lib/catalog';
import type { Manifest, ManifestFile } from '../activities/lib/manifest';
import { PrettyDigest, RecordedFiles } from '../activities/lib/manifestRecord';
import { tempDir } from './helpers';

const sha = (text: string | Buffer) => createHash('sha256').update(text).digest('hex');

/** The digest of `text` fed in pieces of `step` bytes. */
function pretty(text: string, step: number): string {
  const d = new PrettyDigest();
  const bytes = Buffer.from(text);
  for (let at = 0; at < bytes.length; at += step) d.write(bytes.subarray(at, at + step));
  return d.digest();
}

test('the pretty digest is the SHA-256 of JSON.stringify(value, null, 1), whatever the pieces', () => {
  const values: unknown[] = [
    {},
    [],
    'a string',
    -0.5e-7,
    null,
    { a: [], b: {}, c: [[], [{}], { d: [1, 2, { e: null }] }] },
    { 'quoted "key"': 'a \\"string\\" with {brackets}, [commas], :colons and \\\\', n: true },
    { unicode: 'Grüße, 日本語, emoji 🛟', control: '\u0001\n\t' },
    { files: Array.from({ length: 50 }, (_, i) => ({ path: `p/${i}`, size: i, sha256: 'a'.repeat(64) })) },
  ];
  for (const value of values) {
    const compact = JSON.stringify(value);
    const want = sha(JSON.stringify(value, null, 1));
    for (const step of [1, 2, 7, 64, 1 << 20]) expect(pretty(compact, step)).toBe(want);
    // Whitespace between tokens is not the text's: a row written with other indentation is the same.
    expect(pretty(JSON.stringify(value, null, 4), 5)).toBe(want);
  }
  // Inside strings nothing changes: a space or an escaped quote there is kept.
  expect(pretty('{"a b":"c \\" d"}', 3)).not.toBe(pretty('{"ab":"c \\" d"}', 3));
});

function manifestOf(backupId: string, files: Partial<ManifestFile>[]): Manifest {
  return {
    specVersion: 1,
    backupId,
    kind: 'full',
    target: 't',
    createdAt: '2026-12-02T00:00:00.000Z',
    createdBy: 'test',
    engineVersion: '1.0.0',
    modules: [],
    files: files.map((f, i) => ({
      path: `dir/f${i}`,
      kind: 'file',
      size: i,
      sha256: sha(String(i)),
      mode: 0o644,
      mtimeMs: 0,
      storedIn: backupId,
      ...f,
    })) as ManifestFile[],
    deleted: [],
  };
}

/** RecordedFiles of `text`, given in pieces of 5 bytes as the catalog would give it. */
const recordedOf = (text: string | undefined, backupId = 'b1') =>
  RecordedFiles.read((each) => {
    if (text === undefined) return false;
    const bytes = Buffer.from(text);
    for (let at = 0; at < bytes.length; at += 5) each(bytes.subarray(at, at + 5));
    return true;
  }, backupId);

test('a recorded text the short way cannot vouch for is left to the full way', () => {
  const m = manifestOf('b1', [{}, {}, { storedIn: 'b0' }]);
  const good = recordedOf(JSON.stringify(m))!;
  expect(good.count).toBe(2);
  expect(good.manifestSha256).toBe(sha(JSON.stringify(m, null, 1)));
  const refused: [string, string | undefined][] = [
    ['no recorded manifest', undefined],
    ['not JSON', JSON.stringify(m).slice(0, -1)],
    ['another backup', JSON.stringify({ ...m, backupId: 'b2' })],
    // JSON.parse keeps the last of two `files` keys; this way would hold the entries to both.
    [
      'two files arrays',
      JSON.stringify(m).replace(
        '"files":[',
        `"files":[${JSON.stringify({ ...m.files[0], path: 'x' })}],"files":[`,
      ),
    ],
    ['a file list that is not an array', JSON.stringify({ ...m, files: {} })],
    ['another specVersion', JSON.stringify({ ...m, specVersion: 2 })],
    ['no engineVersion', JSON.stringify({ ...m, engineVersion: undefined })],
    ['no valid kind', JSON.stringify({ ...m, kind: 'partial' })],
    ['a path that is refused', JSON.stringify(manifestOf('b1', [{ path: '../etc/passwd' }]))],
    ['a path listed twice', JSON.stringify(manifestOf('b1', [{ path: 'a' }, { path: 'a' }]))],
    ['an item without its sha256', JSON.stringify(manifestOf('b1', [{ sha256: 'x' }]))],
    ['not an object at the top', JSON.stringify([m])],
  ];
  for (const [what, text] of refused) expect([what, recordedOf(text)]).toEqual([what, undefined]);
});

test('the entries must be the files stored in the backup, in order, with their fields', () => {
  const m = manifestOf('b1', [{}, { kind: 'sqlite' }, { storedIn: 'b0' }, { path: 'é/ü' }]);
  const digests: EntryDigest[] = m.files
    .filter((f) => f.storedIn === 'b1')
    .map(({ path: p, kind, size, sha256, mode, mtimeMs }) => ({
      path: p,
      kind,
      size,
      sha256,
      mode,
      mtimeMs,
    }));
  const matched = (entries: EntryDigest[]) => {
    const r = recordedOf(JSON.stringify(m))!;
    for (const e of entries) r.check(e);
    return r.matched;
  };
  expect(matched(digests)).toBe(true);
  const [a, b, c] = digests;
  expect(matched([b, a, c])).toBe(false);
  expect(matched([a, b])).toBe(false);
  expect(matched([...digests, { ...c, path: 'extra' }])).toBe(false);
  expect(matched([{ ...a, path: 'dir/f9' }, b, c])).toBe(false);
  expect(matched([{ ...a, path: 'dir/f' }, b, c])).toBe(false);
  expect(matched([a, { ...b, kind: 'file' }, c])).toBe(false);
  expect(matched([a, b, { ...c, size: c.size + 1 }])).toBe(false);
  expect(matched([a, b, { ...c, sha256: sha('other') }])).toBe(false);
  // Mode and mtime are the entry's header's: the full way does not compare them either.
  expect(matched([{ ...a, mode: 0o600 }, b, c])).toBe(true);
});

test('a row this code records is read the short way: its digest is the archive manifest entry’s', async () => {
  const dir = tempDir('manifest-record');
  const files = Array.from({ length: 1200 }, (_, i) => {
    const rel = `docs/${String(i).padStart(4, '0')}-ü.txt`;
    fs.mkdirSync(path.join(dir, 'docs'), { recursive: true });
    fs.writeFileSync(path.join(dir, rel), i % 100 === 0 ? randomBytes(300_000) : `file ${i}\n`);
    return {
      path: rel,
      kind: 'file' as const,
      source: path.join(dir, rel),
      mode: 0o640,
      mtimeMs: 1_700_000_000_000 + i,
    };
  });
  let manifest: Manifest | undefined;
  const parts: Buffer[] = [];
  let manifestEntry = { sha256: '', size: 0 };
  const plain = writeArchive(
    files,
    (digests) =>
      (manifest = {
        ...manifestOf('real', []),
        files: digests.map((d) => ({ ...d, storedIn: 'real' })),
      }),
    undefined,
    (written) => (manifestEntry = written),
  );
  for await (const c of plain) parts.push(Buffer.from(c));
  const archive = Buffer.concat(parts);
  const catalog = new Catalog(path.join(dir, 'catalog.sqlite'));
  try {
    catalog.record(
      {
        backupId: 'real',
        target: 't',
        kind: 'full',
        parent: null,
        createdAt: manifest!.createdAt,
        archive: path.join(dir, 'real.lbk'),
        archiveSize: archive.length,
        archiveSha256: sha(archive),
        files: files.length,
        bytes: 0,
        manifestSha256: manifestEntry.sha256,
      },
      manifest!,
    );
    const recorded = RecordedFiles.read((each) => catalog.manifestPieces('real', each), 'real')!;
    expect(recorded.manifestSha256).toBe(manifestEntry.sha256);
    const seen: string[] = [];
    await readRecordedArchive(
      Readable.from([archive]),
      async () => undefined,
      undefined,
      recorded.manifestSha256,
      {
        threadsAfter: 0,
        onEntry: (d) => {
          seen.push(d.path);
          recorded.check(d);
        },
      },
    );
    expect(seen).toEqual(files.map((f) => f.path));
    expect(recorded.matched).toBe(true);
  } finally {
    catalog.close();
  }
});
