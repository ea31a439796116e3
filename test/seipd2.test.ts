/**
 * seipd2.ts reads SEIPDv2 AES-GCM messages with Node's crypto instead of openpgp.js: the same bytes
 * out as openpgp.js gives, whatever the chunk size and however the ciphertext arrives in pieces;
 * every flipped byte and every truncation of the data packet refused (never other plaintext); what it
 * does not read (another AEAD mode, compressed data inside) handed back whole to openpgp.js; damage
 * met before the archive's magic header reported as damage. And hashedRead.ts, the thread that reads
 * and hashes an archive for it.
 */
import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import * as openpgp from 'openpgp';
import { MAGIC, frameChunk, frameHeader, frameTrailer } from '../activities/lib/archiveFormat';
import { readArchive } from '../activities/lib/archiveReader';
import { decryptStream, encryptStream } from '../activities/lib/crypto';
import { hashedRead, warmHashedRead } from '../activities/lib/hashedRead';
import { openSeipd2, type Opened, type SessionKeyOf } from '../activities/lib/seipd2';
import { tempDir } from './helpers';

const SESSION = { data: randomBytes(32), algorithm: 'aes256' as const, aeadAlgorithm: 'gcm' as const };
const PASSWORD = 'seipd2 test passphrase';

async function encrypt(
  plain: Buffer,
  config: Partial<openpgp.Config> = {},
  sessionKey: openpgp.SessionKey | undefined = SESSION,
): Promise<Buffer> {
  const message = await openpgp.createMessage({ binary: plain });
  const out = await openpgp.encrypt({
    message,
    passwords: [PASSWORD],
    sessionKey,
    format: 'binary',
    config: {
      aeadProtect: true,
      preferredAEADAlgorithm: openpgp.enums.aead.gcm,
      s2kIterationCountByte: 0,
      ...config,
    },
  });
  return Buffer.from(out);
}

/** The ciphertext in pieces of the given sizes, in turn. */
function pieces(bytes: Buffer, sizes: number[]): Readable {
  const out: Buffer[] = [];
  for (let at = 0, i = 0; at < bytes.length; i += 1) {
    const n = sizes[i % sizes.length];
    out.push(bytes.subarray(at, at + n));
    at += n;
  }
  return Readable.from(out);
}

/** The test knows the session key: no S2K to run for each of hundreds of damaged copies. */
const knownKey = async () => SESSION.data;

async function collect(stream: AsyncIterable<Buffer>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const part of stream) parts.push(Buffer.from(part));
  return Buffer.concat(parts);
}

async function open(cipher: Readable, keyOf: SessionKeyOf = knownKey): Promise<Opened> {
  return openSeipd2(cipher[Symbol.asyncIterator](), keyOf);
}

/** Where the data packet (tag 18) starts: after the key packets. */
function dataPacketAt(cipher: Buffer): number {
  let at = 0;
  while ((cipher[at] & 0x3f) !== 18) at += 2 + cipher[at + 1]; // short SKESKs: a one-octet length
  return at;
}

test('the same bytes as openpgp.js, for every chunk size and however the ciphertext is cut', async () => {
  for (const chunkSizeByte of [0, 2, 12]) {
    for (const size of [0, 1, 63, 64, 65, 1000, 4096, 70_000]) {
      const plain = randomBytes(size);
      const cipher = await encrypt(plain, { aeadChunkSizeByte: chunkSizeByte });
      for (const cut of size > 4096 ? [[cipher.length], [7, 1, 250]] : [[cipher.length], [1], [7, 1, 250]]) {
        const opened = await open(pieces(cipher, cut));
        if (!('plain' in opened)) throw new Error(`handed back: chunk byte ${chunkSizeByte}, ${size} bytes`);
        expect((await collect(opened.plain)).equals(plain)).toBe(true);
      }
    }
  }
});

test("Lifeboat's own writer and a passphrase: read here, and decryptStream gives the bytes", async () => {
  process.env.LIFEBOAT_SEIPD2_TEST = PASSWORD;
  const plain = randomBytes(600_000);
  const cipher = await collect(
    await encryptStream(Readable.from([plain]), { passphraseEnv: 'LIFEBOAT_SEIPD2_TEST' }),
  );
  const opened = await open(pieces(cipher, [256 * 1024]), async (packets) => {
    const message = await openpgp.readMessage({ binaryMessage: packets });
    return (await openpgp.decryptSessionKeys({ message, passwords: [PASSWORD] }))[0].data;
  });
  expect('plain' in opened).toBe(true);
  const read = await collect(
    await decryptStream(pieces(cipher, [1000]), { passphraseEnv: 'LIFEBOAT_SEIPD2_TEST' }),
  );
  expect(read.equals(plain)).toBe(true);
  delete process.env.LIFEBOAT_SEIPD2_TEST;
});

test('every flipped byte of the data packet, and every truncation, is refused', async () => {
  const plain = randomBytes(700);
  const cipher = await encrypt(plain, { aeadChunkSizeByte: 2 }); // 256-byte chunks: three and a short one
  const start = dataPacketAt(cipher);
  const outcome = async (bytes: Buffer): Promise<string> => {
    try {
      const opened = await open(pieces(bytes, [100]));
      if ('fallback' in opened) return 'handed back';
      const read = await collect(opened.plain);
      return read.equals(plain) ? 'read' : 'OTHER PLAINTEXT';
    } catch (err) {
      return (err as Error).message.startsWith('the encrypted data ') ? 'refused' : `${err}`;
    }
  };
  expect(await outcome(cipher)).toBe('read');
  const flips = new Map<string, number[]>();
  for (let at = start; at < cipher.length; at += 1) {
    const bad = Buffer.from(cipher);
    bad[at] ^= 0x10;
    const o = await outcome(bad);
    flips.set(o, [...(flips.get(o) ?? []), at - start]);
  }
  // A flip of the packet's tag, or of its version, cipher, mode or chunk size octet (the first four
  // of its body, after a two-octet header) sends it to openpgp.js.
  expect(new Set(flips.keys())).toEqual(new Set(['refused', 'handed back']));
  expect(flips.get('handed back')!.every((at) => at <= 5)).toBe(true);
  const cuts = new Set<string>();
  for (let length = start; length < cipher.length; length += 1)
    cuts.add(await outcome(cipher.subarray(0, length)));
  expect([...cuts].every((o) => o === 'refused' || o === 'handed back')).toBe(true);
  expect(await outcome(Buffer.concat([cipher, Buffer.from([0])]))).toBe('refused');
});

test('another AEAD mode, or compressed data inside, goes to openpgp.js with every byte', async () => {
  process.env.LIFEBOAT_SEIPD2_TEST = PASSWORD;
  const plain = randomBytes(300_000);
  for (const [config, sessionKey] of [
    [{ preferredAEADAlgorithm: openpgp.enums.aead.ocb }, { ...SESSION, aeadAlgorithm: 'ocb' as const }],
    [{ preferredCompressionAlgorithm: openpgp.enums.compression.zlib }, SESSION],
  ] as const) {
    const cipher = await encrypt(plain, config, sessionKey);
    const opened = await open(pieces(cipher, [5000]));
    expect('fallback' in opened).toBe(true);
    if ('fallback' in opened) expect((await collect(opened.fallback)).equals(cipher)).toBe(true);
    const read = await collect(
      await decryptStream(pieces(cipher, [5000]), { passphraseEnv: 'LIFEBOAT_SEIPD2_TEST' }),
    );
    expect(read.equals(plain)).toBe(true);
  }
  delete process.env.LIFEBOAT_SEIPD2_TEST;
});

test('damage in a chunk the reader meets before the magic header is damage, not "not a Lifeboat archive"', async () => {
  process.env.LIFEBOAT_SEIPD2_TEST = PASSWORD;
  try {
    const settings = { passphraseEnv: 'LIFEBOAT_SEIPD2_TEST' };
    const body = randomBytes(3 * 256 * 1024);
    const plain = Buffer.concat([
      MAGIC,
      frameHeader({ path: 'a', kind: 'file', mode: 0o644, mtimeMs: 0, size: body.length, codec: 'store' }),
      frameChunk(body.subarray(0, 256 * 1024)),
      frameChunk(body.subarray(256 * 1024)),
      frameTrailer(createHash('sha256').update(body).digest('hex'), body.length),
    ]);
    const cipher = await collect(await encryptStream(Readable.from([plain]), settings));
    // A byte of the second 256 KiB chunk flipped. The message arrives in pieces: the first two hold
    // the first chunk and part of the second (the stream opens with the first chunk's plaintext), the
    // last the damage, which the stream, reading ahead, meets before the reader has taken the magic
    // header from that plaintext.
    const damaged = Buffer.from(cipher);
    damaged[450 * 1024] ^= 0x01;
    const cuts = [0, 300 * 1024, 400 * 1024, damaged.length];
    const arriving = Readable.from(cuts.slice(1).map((end, i) => damaged.subarray(cuts[i], end)));
    const read = readArchive(await decryptStream(arriving, settings), async () => undefined);
    await expect(read).rejects.toThrow(/does not authenticate at chunk 1/);
  } finally {
    delete process.env.LIFEBOAT_SEIPD2_TEST;
  }
});

test("the reader's magic header: a stream's error is that error, only a short stream is not an archive", async () => {
  // eslint-disable-next-line require-yield
  async function* broken(): AsyncGenerator<Buffer> {
    throw new Error('the stream broke before its first byte');
  }
  await expect(readArchive(broken(), async () => undefined)).rejects.toThrow(
    'the stream broke before its first byte',
  );
  await expect(readArchive(Readable.from([Buffer.from('LIFE')]), async () => undefined)).rejects.toThrow(
    'not a Lifeboat archive (wrong magic header)',
  );
});

describe('hashedRead', () => {
  const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

  test('the bytes in order and their SHA-256; a digest before the end reads the rest', async () => {
    const dir = tempDir('hashed-read');
    const file = path.join(dir, 'f');
    const bytes = randomBytes(3 * 1024 * 1024 + 17);
    fs.writeFileSync(file, bytes);
    const all = hashedRead(file);
    expect((await collect(all.stream)).equals(bytes)).toBe(true);
    expect(await all.digest()).toEqual({ sha256: sha(bytes), size: bytes.length });

    const part = hashedRead(file);
    const first = (await part.stream[Symbol.asyncIterator]().next()).value as Buffer;
    expect(first.equals(bytes.subarray(0, first.length))).toBe(true);
    expect(await part.digest()).toEqual({ sha256: sha(bytes), size: bytes.length });
    part.stream.destroy();

    fs.writeFileSync(path.join(dir, 'empty'), '');
    const empty = hashedRead(path.join(dir, 'empty'));
    expect((await collect(empty.stream)).length).toBe(0);
    expect((await empty.digest()).size).toBe(0);
  });

  test('a thread started ahead is taken by the next read, which reads and fails as any other', async () => {
    const dir = tempDir('hashed-read-ahead');
    const file = path.join(dir, 'f');
    const bytes = randomBytes(1024 * 1024 + 5);
    fs.writeFileSync(file, bytes);
    // One spare at a time; the read takes it (another can start after).
    expect([warmHashedRead(), warmHashedRead()]).toEqual([true, false]);
    const read = hashedRead(file);
    expect(warmHashedRead()).toBe(true);
    expect((await collect(read.stream)).equals(bytes)).toBe(true);
    expect(await read.digest()).toEqual({ sha256: sha(bytes), size: bytes.length });
    // The second spare, told of a file that is not there.
    await expect(collect(hashedRead(path.join(dir, 'missing')).stream)).rejects.toThrow(/ENOENT/);
    expect(warmHashedRead()).toBe(true);
    expect(await hashedRead(file).digest()).toEqual({ sha256: sha(bytes), size: bytes.length });
  });

  test('a missing file is a stream error; a read abandoned has no digest', async () => {
    const dir = tempDir('hashed-read-bad');
    await expect(collect(hashedRead(path.join(dir, 'missing')).stream)).rejects.toThrow(/ENOENT/);
    fs.writeFileSync(path.join(dir, 'f'), randomBytes(2 * 1024 * 1024));
    const read = hashedRead(path.join(dir, 'f'));
    await read.stream[Symbol.asyncIterator]().next();
    read.stream.destroy();
    await expect(read.digest()).rejects.toThrow(/abandoned before its SHA-256 was taken/);
  });
});
