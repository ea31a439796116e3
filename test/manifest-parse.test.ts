/**
 * ManifestParser (activities/lib/manifestParse.ts) against JSON.parse of the whole text: the same
 * value (key order included) or a refusal, for every way of cutting the text into chunks, on
 * manifests, on texts that are not manifests, and on thousands of damaged manifests.
 */
import { ManifestJsonError, ManifestParser } from '../activities/lib/manifestParse';
import { prng } from '../bench/data';
import {
  isManifestJson,
  manifestJsonPieces,
  prettyManifestPieces,
  type Manifest,
} from '../activities/lib/manifest';

/**
 * The parser's result fed `bytes` in pieces of the given sizes (cycled), or 'refused'. Every text
 * is scanned (`wholeUpTo` 0) unless a limit is given: below it, a text is parsed whole.
 */
function streamed(bytes: Buffer, sizes: number[], wholeUpTo = 0): string {
  const parser = new ManifestParser(undefined, wholeUpTo);
  try {
    let at = 0;
    for (let k = 0; at < bytes.length; k += 1) {
      const size = Math.max(1, sizes[k % sizes.length]);
      // A copy, reused afterwards as a reader's buffer may be: the parser must keep its own bytes.
      const piece = Buffer.from(bytes.subarray(at, at + size));
      parser.write(piece);
      piece.fill(0x41);
      at += size;
    }
    return JSON.stringify(parser.end());
  } catch (err) {
    if (err instanceof ManifestJsonError) return 'refused';
    throw err;
  }
}

function whole(bytes: Buffer): string {
  try {
    return JSON.stringify(JSON.parse(bytes.toString('utf8')));
  } catch {
    return 'refused';
  }
}

const CUTS = [[1], [2, 3], [7], [64], [1000], [1 << 20], [5, 1, 13, 2]];

function expectSame(text: string | Buffer): void {
  const bytes = Buffer.isBuffer(text) ? text : Buffer.from(text);
  const expected = whole(bytes);
  for (const sizes of CUTS) expect([sizes, streamed(bytes, sizes)]).toEqual([sizes, expected]);
}

function manifest(files: number): Manifest {
  return {
    specVersion: 1,
    backupId: 'storage-20260101T020000Z-ab12-full',
    kind: 'full',
    target: 'storage',
    createdAt: '2026-01-01T02:00:00.000Z',
    createdBy: 'wf-1',
    engineVersion: '1.2.3',
    storageSpecVersion: '1.0.0',
    modules: ['core', 'm[1]'],
    files: Array.from({ length: files }, (_, i) => ({
      path: [`a/${i}.json`, `ünï/cödé ${i}`, `q"uote\\${i}`, `b{r}a[c]k,e:t ${i}`, `日本/${i}`][i % 5],
      kind: i % 7 ? ('file' as const) : ('sqlite' as const),
      size: i * 37,
      sha256: (i.toString(16) + 'a'.repeat(64)).slice(0, 64),
      mode: 420,
      mtimeMs: 1700000000000 + i / 3,
      storedIn: 'storage-20260101T020000Z-ab12-full',
      source: i % 7 ? undefined : { size: i, mtimeMs: i, walSize: 0, walMtimeMs: 0 },
    })),
    deleted: ['gone/x'],
  };
}

describe('ManifestParser', () => {
  it('parses manifests as JSON.parse does, however the bytes are cut', () => {
    const m = manifest(40);
    expectSame(JSON.stringify(m, null, 1));
    expectSame(JSON.stringify(m));
    expectSame(JSON.stringify(m, null, '\t\r\n '));
    expectSame(JSON.stringify({ ...m, files: [] }, null, 1));
    expectSame(JSON.stringify({ ...manifest(1), export: { files: [1, 2], path: 'x' } }));
  });

  it('keeps key order and the last of duplicate keys, and reads only the top-level files as items', () => {
    for (const text of [
      '{"files":[{"a":1}],"kind":"full","files":[{"b":2},{"c":[3,{"d":"]"}]}]}',
      '{"files":[{"a":1}],"files":5}',
      '{"files":[{"a":1}],"files":"x"}',
      '{"files":[{"a":1}],"files":{"x":[1]}}',
      '{"files":[1],"files":null}',
      '{"files":{"files":[1,2]},"x":[[],[[]]]}',
      '{"fil\\u0065s":[1, 2 ,3 ] , "b" : [ ] }',
      '{"a":"files","files":[true,false,null,-1.5e3,"s\\"t\\\\"],"z":{}}',
      '{"files":[]}',
      '{ }',
      '{"files":[[]],"k":"v"}',
      '{"x\\"files":[1],"files\\\\":[2]}',
    ])
      expectSame(text);
  });

  it('gives a text that is not an object to JSON.parse whole', () => {
    for (const text of ['[1,2]', '"files"', 'null', '  5 ', '[]', 'true', '-0']) expectSame(text);
  });

  it('refuses what JSON.parse refuses', () => {
    for (const text of [
      '',
      '   ',
      '{',
      '{"files":[1,]}',
      '{"files":[,1]}',
      '{"files":[1 2]}',
      '{"files":[{} {}]}',
      '{"files":[{]}',
      '{"files":[}',
      '{"files":[1]',
      '{"files":[1]}}',
      '{"files":[1]} x',
      '{"files":["a\u0001"]}',
      '{"files":["open]}',
      '{"files" [1]}',
      '{"files":[1]]}',
      '\ufeff{"files":[]}',
      '{"a":1,}',
      '{"files":[{"a":1}],}',
    ]) {
      expect([text, whole(Buffer.from(text))]).toEqual([text, 'refused']);
      expectSame(text);
    }
  });

  it('parses a small text whole, and scans one that outgrows the limit from its first byte', () => {
    const text = Buffer.from(JSON.stringify(manifest(40), null, 1));
    const expected = whole(text);
    // Wholly under the limit, over it from the first piece, and over it after some pieces kept.
    for (const limit of [text.length, 1, 5000])
      for (const sizes of CUTS)
        expect([limit, sizes, streamed(text, sizes, limit)]).toEqual([limit, sizes, expected]);
    for (const bad of ['{"files":[1,]}', '{"files":[1]} x', ''])
      expect(streamed(Buffer.from(bad), [3], 1 << 20)).toBe('refused');
    // The default: a manifest's text, small or cut into many pieces, as JSON.parse reads it.
    const parser = new ManifestParser();
    for (let at = 0; at < text.length; at += 100) parser.write(text.subarray(at, at + 100));
    expect(JSON.stringify(parser.end())).toBe(expected);
  });

  it('answers as JSON.parse does for thousands of damaged manifests', () => {
    const rand = prng(7);
    const base = Buffer.from(JSON.stringify(manifest(6), null, 1));
    const alphabet = Buffer.from('{}[]",:\\ 0a\n');
    let refused = 0;
    for (let n = 0; n < 3000; n += 1) {
      const bytes = Buffer.from(base);
      const at = Math.floor(rand() * bytes.length);
      const kind = rand();
      let damaged: Buffer;
      if (kind < 0.33) damaged = Buffer.concat([bytes.subarray(0, at), bytes.subarray(at + 1)]);
      else if (kind < 0.66)
        damaged = Buffer.concat([
          bytes.subarray(0, at),
          alphabet.subarray(Math.floor(rand() * alphabet.length)).subarray(0, 1),
          bytes.subarray(at),
        ]);
      else {
        bytes[at] = alphabet[Math.floor(rand() * alphabet.length)];
        damaged = bytes;
      }
      const expected = whole(damaged);
      if (expected === 'refused') refused += 1;
      const sizes = [1 + Math.floor(rand() * 40), 1 + Math.floor(rand() * 400)];
      expect([n, streamed(damaged, sizes)]).toEqual([n, expected]);
    }
    // The damage is mostly fatal, and not always.
    expect(refused).toBeGreaterThan(1000);
    expect(refused).toBeLessThan(3000);
  });
});

describe('isManifestJson', () => {
  it('is true exactly for JSON.stringify of the manifest', () => {
    const m = JSON.parse(JSON.stringify(manifest(30), null, 1)) as Manifest;
    const text = JSON.stringify(m);
    expect(isManifestJson(Buffer.from(text), m)).toBe(true);
    expect(isManifestJson(Buffer.from(JSON.stringify({ ...m, files: [] })), { ...m, files: [] })).toBe(true);
    // One character changed anywhere, one added or taken off at the end, another key order: false.
    const rand = prng(3);
    for (let n = 0; n < 300; n += 1) {
      const at = Math.floor(rand() * text.length);
      const other = text.slice(0, at) + (text[at] === '1' ? '2' : '1') + text.slice(at + 1);
      expect(isManifestJson(Buffer.from(other), m)).toBe(false);
    }
    expect(isManifestJson(Buffer.from(text + ' '), m)).toBe(false);
    expect(isManifestJson(Buffer.from(text.slice(0, -1)), m)).toBe(false);
    const { backupId, ...rest } = m;
    expect(isManifestJson(Buffer.from(JSON.stringify({ backupId, ...rest })), m)).toBe(false);
  });
});

describe('prettyManifestPieces, manifestJsonPieces', () => {
  it('join into exactly JSON.stringify(manifest, null, 1) and JSON.stringify(manifest)', () => {
    const m = manifest(25);
    const cases: Manifest[] = [
      m,
      { ...m, parent: undefined },
      { ...m, kind: 'incremental', parent: 'p-1' },
      { ...m, files: [] },
      { ...m, files: m.files.slice(0, 1) },
      {
        ...m,
        modules: ['\n "files": []', 'x'],
        export: { scope: 'module', id: 'files', path: 'modules/files' },
      },
      { ...m, deleted: [] },
    ];
    for (const c of [...cases, manifest(2500)])
      for (const batch of [1, 7, 1000]) {
        const pieces = [...prettyManifestPieces(c, batch)];
        expect(pieces.join('')).toBe(JSON.stringify(c, null, 1));
        // A piece per batch of items (and the parts around them): never the whole text in one.
        if (c.files.length > 1) expect(pieces.length).toBe(Math.ceil(c.files.length / batch) + 2);
        const compact = [...manifestJsonPieces(c, batch)];
        expect(compact.join('')).toBe(JSON.stringify(c));
        expect(isManifestJson(Buffer.from(JSON.stringify(c)), c)).toBe(true);
      }
  });
});

test('with onItems, the files are handed over as parsed and not kept; the rest is the same', () => {
  const m = manifest(3000);
  const bytes = Buffer.concat([...manifestJsonPieces(m)].map((p) => Buffer.from(p)));
  for (const size of [1, 7, 4096, 65536]) {
    const seen: unknown[] = [];
    const parser = new ManifestParser((items) => seen.push(...items));
    for (let at = 0; at < bytes.length; at += size) parser.write(Buffer.from(bytes.subarray(at, at + size)));
    const { files, ...rest } = parser.end() as Manifest;
    expect(files).toEqual([]);
    expect(seen).toEqual(m.files);
    const { files: _all, ...expected } = m;
    expect(rest).toEqual(expected);
  }
});
