/**
 * seipd2Writer.ts writes SEIPDv2 AES-GCM messages with Node's crypto instead of openpgp.js: openpgp.js
 * (the independent reader) decrypts them to the same bytes, whatever the plaintext's size and however
 * it arrives in pieces, on every chunk and partial-length boundary; seipd2.ts reads them too; a flipped
 * byte is refused. encryptStream writes them for a passphrase and for recipients that announce
 * SEIPDv2, and leaves a recipient key that does not to openpgp.js (SEIPDv1); it asks for the
 * plaintext while it derives the keys, and ends it when they fail.
 */
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import * as openpgp from 'openpgp';
import { decryptStream, encryptStream } from '../activities/lib/crypto';
import { openSeipd2 } from '../activities/lib/seipd2';
import { seipd2Keys, seipd2Message, type Seipd2Keys } from '../activities/lib/seipd2Writer';
import { tempDir } from './helpers';
import * as fs from 'node:fs';
import * as path from 'node:path';

const CONFIG = {
  aeadProtect: true,
  preferredAEADAlgorithm: openpgp.enums.aead.gcm,
  s2kIterationCountByte: 0,
};
const PASSWORD = 'seipd2 writer test passphrase';
const PASSPHRASE_ENV = 'LIFEBOAT_SEIPD2_WRITER_TEST';

let keys: Seipd2Keys;

beforeAll(async () => {
  keys = (await seipd2Keys({ passwords: [PASSWORD] }, CONFIG))!;
});

/** `bytes` in pieces of the given sizes, in turn (a size of 0 yields an empty piece). */
async function* pieces(bytes: Buffer, sizes: number[]): AsyncGenerator<Buffer> {
  for (let at = 0, i = 0; at < bytes.length || i === 0; i += 1) {
    const n = sizes[i % sizes.length];
    yield bytes.subarray(at, at + n);
    at += n;
  }
}

async function collect(stream: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const part of stream) parts.push(Buffer.from(part));
  return Buffer.concat(parts);
}

async function openpgpDecrypt(
  cipher: Buffer,
  options: { passwords?: string[]; decryptionKeys?: openpgp.PrivateKey },
) {
  const message = await openpgp.readMessage({ binaryMessage: cipher });
  const { data } = await openpgp.decrypt({ message, ...options, format: 'binary', config: CONFIG });
  return Buffer.from(data as Uint8Array);
}

test('openpgp.js decrypts it to the same bytes on every chunk and part boundary, however the plaintext arrives', async () => {
  // 64-byte chunks and 512-byte parts: boundaries everywhere in a few KiB.
  for (const size of [0, 1, 63, 64, 65, 505, 506, 507, 511, 512, 513, 1024, 4096, 10_000]) {
    const plain = randomBytes(size);
    for (const cut of [[size || 1], [1], [7, 0, 250], [64], [511, 2]]) {
      if (size > 1024 && cut[0] === 1) continue;
      const cipher = await collect(
        seipd2Message(pieces(plain, cut), keys, { chunkSizeByte: 0, partBits: 9 }),
      );
      const back = await openpgpDecrypt(cipher, { passwords: [PASSWORD] });
      if (!back.equals(plain)) throw new Error(`${size} bytes cut ${cut.join(',')}: other bytes back`);
    }
  }
});

test('the default sizes (256 KiB chunks and parts), several MB in uneven pieces: openpgp.js and seipd2.ts agree', async () => {
  const plain = randomBytes(3 * 256 * 1024 + 12_345);
  const cipher = await collect(seipd2Message(pieces(plain, [1 << 20, 7, 100_000, 262_144]), keys));
  expect((await openpgpDecrypt(cipher, { passwords: [PASSWORD] })).equals(plain)).toBe(true);
  const opened = await openSeipd2(
    Readable.from([cipher])[Symbol.asyncIterator](),
    async () => keys.sessionKey,
  );
  if (!('plain' in opened)) throw new Error('seipd2.ts handed the message back');
  expect((await collect(opened.plain)).equals(plain)).toBe(true);
});

test('a flipped byte anywhere in the data packet is refused by openpgp.js', async () => {
  const plain = randomBytes(3000);
  const cipher = await collect(seipd2Message(pieces(plain, [500]), keys, { chunkSizeByte: 4, partBits: 9 }));
  // The data packet starts right after the key packets.
  for (let at = keys.keyPackets.length; at < cipher.length; at += 37) {
    const bad = Buffer.from(cipher);
    bad[at] ^= 0x01;
    await expect(openpgpDecrypt(bad, { passwords: [PASSWORD] })).rejects.toThrow();
  }
});

test('encryptStream: a passphrase and SEIPDv2 recipients get this writer, others openpgp.js; decryptStream reads all', async () => {
  const dir = tempDir('seipd2-writer');
  const plain = randomBytes(700_000);
  const modern = await openpgp.generateKey({
    userIDs: [{ name: 'modern' }],
    format: 'object',
    config: { aeadProtect: true },
  });
  const classic = await openpgp.generateKey({ userIDs: [{ name: 'classic' }], format: 'object' });
  const files = (name: string, k: { publicKey: openpgp.PublicKey; privateKey: openpgp.PrivateKey }) => {
    const pub = path.join(dir, `${name}.pub.asc`);
    const sec = path.join(dir, `${name}.sec.asc`);
    fs.writeFileSync(pub, k.publicKey.armor());
    fs.writeFileSync(sec, k.privateKey.armor());
    return { recipients: [pub], privateKeys: [sec] };
  };
  process.env[PASSPHRASE_ENV] = PASSWORD;
  try {
    for (const [settings, version] of [
      [{ passphraseEnv: PASSPHRASE_ENV }, 2],
      [files('modern', modern), 2],
      [files('classic', classic), 1],
    ] as const) {
      const cipher = await collect(
        await encryptStream(Readable.from([plain.subarray(0, 1000), plain.subarray(1000)]), settings),
      );
      // The data packet's version: the octet after its tag and length.
      const message = await openpgp.readMessage({ binaryMessage: cipher });
      const data = message.packets.filterByTag(
        openpgp.enums.packet.symEncryptedIntegrityProtectedData,
      )[0] as unknown as { version: number };
      expect(data.version).toBe(version);
      expect((await collect(await decryptStream(Readable.from([cipher]), settings))).equals(plain)).toBe(
        true,
      );
    }
  } finally {
    delete process.env[PASSPHRASE_ENV];
  }
});

test('encryptStream asks for the plaintext before the keys are derived, and ends it when they fail or the reader stops', async () => {
  // Larger than what the ciphertext stream reads ahead (512 KiB), so that a reader can stop early.
  const plain = randomBytes(4_000_000);
  const log: string[] = [];
  async function* source(): AsyncGenerator<Buffer> {
    try {
      log.push('started');
      yield* pieces(plain, [100_000]);
      log.push('ran out');
    } finally {
      log.push('ended');
    }
  }
  const ended = async () => {
    for (let i = 0; i < 100 && !log.includes('ended'); i += 1) await new Promise((r) => setTimeout(r, 10));
  };
  process.env[PASSPHRASE_ENV] = PASSWORD;
  try {
    // Started by the time the keys are ready; the first piece kept for the reader: all of it arrives.
    const cipher = await encryptStream(source(), { passphraseEnv: PASSPHRASE_ENV });
    expect(log).toEqual(['started']);
    const settings = { passphraseEnv: PASSPHRASE_ENV };
    expect(
      (await collect(await decryptStream(Readable.from([await collect(cipher)]), settings))).equals(plain),
    ).toBe(true);
    expect(log).toEqual(['started', 'ran out', 'ended']);

    // A reader that stops after its first piece ends the plaintext too.
    log.length = 0;
    const stopped = await encryptStream(source(), { passphraseEnv: PASSPHRASE_ENV });
    for await (const piece of stopped) {
      expect(piece.length).toBeGreaterThan(0);
      break;
    }
    await ended();
    expect(log).toEqual(['started', 'ended']);

    // A ciphertext stream destroyed before it was read (its pipeline failed to start) ends it too.
    log.length = 0;
    (await encryptStream(source(), { passphraseEnv: PASSPHRASE_ENV })).destroy();
    await ended();
    expect(log).toEqual(['started', 'ended']);
  } finally {
    delete process.env[PASSPHRASE_ENV];
  }
  // Keys that cannot be had (the passphrase's variable unset): the error, and the plaintext ended.
  log.length = 0;
  await expect(encryptStream(source(), { passphraseEnv: PASSPHRASE_ENV })).rejects.toThrow(PASSPHRASE_ENV);
  await ended();
  expect(log).toEqual(['started', 'ended']);
});
