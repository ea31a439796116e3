/**
 * zstd chunks (archive format version 2, activities/lib/zstd.ts): frames read on both paths (the
 * native binding, and fzstd where it is missing, as in the packed CLI) with the same bounds, the
 * frame-header reader against the binding's own answers, and hostile chunks in whole archives on
 * this thread, in the reader threads and without the binding.
 */
import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import * as zlib from 'node:zlib';
import * as binding from 'zstd-napi/binding';
import {
  ArchiveError,
  END,
  FORMATS,
  frameChunk,
  frameHeader,
  frameTrailer,
  readArchive,
  writeArchive,
  type EntryDigest,
  type Manifest,
} from '../activities/lib/archive';
import { frameInfo, unzstd, withoutNativeZstd, ZstdProblem } from '../activities/lib/zstd';
import { tempDir } from './helpers';

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

function frame(
  data: Buffer,
  params: Partial<Record<'checksumFlag' | 'contentSizeFlag', number>> = {},
): Buffer {
  const cctx = new binding.CCtx();
  cctx.setParameter(binding.CParameter.compressionLevel, 1);
  for (const [k, v] of Object.entries(params)) cctx.setParameter(binding.CParameter[k as 'checksumFlag'], v);
  const out = Buffer.alloc(binding.compressBound(data.length));
  return out.subarray(0, cctx.compress2(out, data));
}

const text = (n: number) => Buffer.from('lifeboat zstd '.repeat(Math.ceil(n / 14)).slice(0, n));
const SAMPLES = [text(1), text(300), text(70_000), randomBytes(256 * 1024), text(256 * 1024), text(3 << 20)];
const both = (what: string) =>
  [
    [`${what} (native)`, <T>(work: () => Promise<T>) => work()],
    [`${what} (fzstd)`, withoutNativeZstd],
  ] as const;

test('the frame-header reader agrees with the binding: content size and frame length', () => {
  const frames = SAMPLES.flatMap((s) => [
    frame(s),
    frame(s, { checksumFlag: 1 }),
    frame(s, { contentSizeFlag: 0 }),
  ]);
  for (const f of frames) {
    const declared = binding.getFrameContentSize(f);
    expect(frameInfo(f)).toEqual({
      contentSize: declared ?? undefined,
      length: binding.findFrameCompressedSize(f),
    });
    // Two frames: the first one's length; a cut frame: nothing.
    expect(frameInfo(Buffer.concat([f, f]))?.length).toBe(f.length);
    expect(frameInfo(f.subarray(0, f.length - 1))).toBeUndefined();
    expect(() => binding.findFrameCompressedSize(f.subarray(0, f.length - 1))).toThrow();
  }
  for (const junk of [
    Buffer.alloc(0),
    Buffer.from('not zstd at all'),
    Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0x08]),
  ])
    expect(frameInfo(junk)).toBeUndefined();
});

test.each(both('a chunk'))('%s: its bytes, within its bounds', async (_what, using) => {
  await using(async () => {
    for (const s of SAMPLES) expect(unzstd(frame(s), s.length).equals(s)).toBe(true);
    const big = frame(text(4 << 20));
    const problem = (stored: Buffer, room: number) => {
      try {
        unzstd(stored, room);
        return 'read';
      } catch (err) {
        return (err as ZstdProblem).problem;
      }
    };
    // Declaring more than the header still promises is refused before a byte is produced.
    expect(problem(big, (4 << 20) - 1)).toBe('tooLarge');
    expect(problem(frame(text(10), { contentSizeFlag: 0 }), 100)).toBe('corrupt');
    expect(problem(frame(Buffer.alloc(0)), 100)).toBe('corrupt');
    expect(problem(big.subarray(0, big.length - 3), 4 << 20)).toBe('corrupt');
    expect(problem(Buffer.from('not zstd at all'), 100)).toBe('corrupt');
    const flipped = frame(randomBytes(5000));
    flipped[flipped.length - 100] ^= 0xff; // raw block bytes: decodes, the entry's SHA-256 catches it
    expect(['read', 'corrupt']).toContain(problem(flipped, 5000));
  });
});

describe('hostile zstd chunks in an archive are refused with the reason', () => {
  const body = Buffer.from('payload');
  const entry = (codec: string, stored: Buffer, size: number, content: Buffer) =>
    Buffer.concat([
      frameHeader({ path: 'a', kind: 'file', mode: 0o644, mtimeMs: 0, size, codec }),
      frameChunk(stored),
      frameTrailer(sha(content), content.length),
    ]);
  const [v1, v2] = FORMATS.map((f) => f.magic);
  test.each([
    [
      'a zstd bomb',
      v2,
      entry('zstd', frame(Buffer.alloc(8 << 20)), 10, Buffer.alloc(10)),
      /entry "a" holds more bytes than its header says \(10\)/,
    ],
    [
      'a chunk that is not zstd',
      v2,
      entry('zstd', body, 7, body),
      /entry "a" is corrupt \(its compressed data does not decompress\)/,
    ],
    [
      'a frame without its content size',
      v2,
      entry('zstd', frame(body, { contentSizeFlag: 0 }), 7, body),
      /does not decompress/,
    ],
    [
      'zstd in a version 1 archive',
      v1,
      entry('zstd', frame(body), 7, body),
      /has an unknown codec 'zstd' \(format version 1 has store, deflate\)/,
    ],
    [
      'deflate in a version 2 archive',
      v2,
      entry('deflate', zlib.deflateRawSync(body), 7, body),
      /has an unknown codec 'deflate' \(format version 2 has store, zstd\)/,
    ],
  ])('%s', async (_what, magic, bytes, message) => {
    const archive = Buffer.concat([magic, bytes, END]);
    const read = (threadsAfter?: number) =>
      readArchive(Readable.from([archive]), async () => undefined, undefined, { threadsAfter });
    await expect(read()).rejects.toThrow(ArchiveError);
    await expect(read()).rejects.toThrow(message);
    await expect(read(0)).rejects.toThrow(message);
    await expect(withoutNativeZstd(() => read(0))).rejects.toThrow(message);
  });
});

test.each(both('a whole archive'))('%s: every byte as written', async (_what, using) => {
  const dir = tempDir('zstd-archive');
  const files: Record<string, Buffer> = {
    'text.txt': text(1_500_000),
    'random.bin': randomBytes(600_000),
    'small.txt': text(900),
  };
  const entries = Object.entries(files).map(([rel, data]) => {
    fs.writeFileSync(path.join(dir, rel), data);
    return { path: rel, kind: 'file' as const, source: path.join(dir, rel), mode: 0o644, mtimeMs: 0 };
  });
  const manifest = (digests: EntryDigest[]): Manifest => ({
    specVersion: 1,
    backupId: 'z1',
    kind: 'full',
    target: 't',
    createdAt: '2026-12-01T00:00:00Z',
    createdBy: 'test',
    engineVersion: '1.0.0',
    modules: [],
    files: digests.map((d) => ({ ...d, storedIn: 'z1' })),
    deleted: [],
  });
  const parts: Buffer[] = [];
  for await (const c of writeArchive(entries, manifest)) parts.push(Buffer.from(c));
  const archive = Buffer.concat(parts);
  expect(archive.subarray(0, FORMATS[1].magic.length).equals(FORMATS[1].magic)).toBe(true);
  const kept: Record<string, Buffer[]> = {};
  const codecs: Record<string, string> = {};
  await using(() =>
    readArchive(
      Readable.from([archive]),
      async (h) => {
        codecs[h.path] = h.codec;
        kept[h.path] = [];
        return { write: async (c) => void kept[h.path].push(Buffer.from(c)), close: async () => undefined };
      },
      undefined,
      { threadsAfter: 0 },
    ),
  );
  expect(codecs).toEqual({ 'text.txt': 'zstd', 'random.bin': 'store', 'small.txt': 'zstd' });
  for (const [rel, data] of Object.entries(files)) expect(sha(Buffer.concat(kept[rel]))).toBe(sha(data));
});
