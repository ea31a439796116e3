/**
 * Writing an OpenPGP message whose data is SEIPD version 2 with AES-256-GCM with Node's crypto: the
 * counterpart of seipd2.ts (docs/archive-format.md §2). openpgp.js still chooses the session key and
 * its algorithms for the recipients or passphrase (`generateSessionKey`, as `openpgp.encrypt` does)
 * and writes the key packets (`encryptSessionKey`); when it chooses AES-256 with GCM, this file
 * writes the data packet, and `seipd2Keys` says undefined otherwise (crypto.ts then encrypts with
 * openpgp.js as before). The bytes are what openpgp.encrypt writes for a binary message: a literal
 * data packet (format 'b', no file name, the date) inside the SEIPDv2 packet, both with partial body
 * lengths.
 *
 * Why hand-written: openpgp.js assembles every 256 KiB chunk of plaintext in one buffer, encrypts it
 * into another and appends the tag in a third, through web streams whose promises keep them alive
 * long enough to die in V8's old generation: in a backup of 100,000 files, glibc's heap grew by over
 * 100 MB with them. Here each piece of plaintext is encrypted as it arrives (GCM is a stream mode;
 * the chunk ends at the boundary with its tag), the pieces are framed by reference and joined once,
 * into the buffers passed on, and the cryptography stays Node's (OpenSSL's).
 */
import { createCipheriv, randomBytes, type CipherGCM } from 'node:crypto';
import * as openpgp from 'openpgp';
import { AES256, GCM, TAG_BYTES, TAG_LITERAL, TAG_SEIPD, messageKeys } from './seipd2';
import { streamed } from './youngGc';

/** Chunks of 2^(12+6) = 256 KiB, openpgp.js's default. */
const CHUNK_SIZE_BYTE = 12;
/** Partial body lengths of 2^18 = 256 KiB (each part a power of two, RFC 9580 §4.2.1.4). */
const PART_BITS = 18;

/**
 * Output is passed on joined into one buffer of at least this much: the pieces (a frame's header of a
 * few octets, its data, a tag, a length octet) one by one made four times the writes, and a backup of
 * the 1 GiB bench set 10% slower than openpgp.js.
 */
const BATCH = 64 * 1024;

/** The session key openpgp.js chose and the key packets it wrote for it. */
export interface Seipd2Keys {
  keyPackets: Uint8Array;
  sessionKey: Uint8Array;
}

/**
 * The key packets and session key for a SEIPDv2 AES-256-GCM message to these recipients or with
 * this passphrase, or undefined when openpgp.js would write something else (a recipient key that
 * does not announce SEIPDv2, another cipher).
 */
export async function seipd2Keys(
  options: { encryptionKeys?: openpgp.PublicKey[]; passwords?: string[] },
  config: openpgp.PartialConfig,
): Promise<Seipd2Keys | undefined> {
  const session = await openpgp.generateSessionKey({ encryptionKeys: options.encryptionKeys ?? [], config });
  if (session.algorithm !== 'aes256' || session.aeadAlgorithm !== 'gcm') return undefined;
  const keyPackets = await openpgp.encryptSessionKey({ ...session, ...options, format: 'binary', config });
  return { keyPackets, sessionKey: session.data };
}

/** A new-format body length that ends a packet (RFC 9580 §4.2.1). */
function finalLength(n: number): Buffer {
  if (n < 192) return Buffer.from([n]);
  if (n < 8384) return Buffer.from([((n - 192) >> 8) + 192, (n - 192) & 0xff]);
  const b = Buffer.alloc(5);
  b[0] = 0xff;
  b.writeUInt32BE(n, 1);
  return b;
}

/**
 * One packet's body in parts of exactly 2^bits bytes, each after its partial length octet, the rest
 * after a final length: pieces are passed on by reference (subarrays where a part ends inside one).
 */
class Framer {
  private readonly pending: Buffer[] = [];
  private pendingBytes = 0;
  private readonly part: number;

  constructor(
    tag: number,
    private readonly bits: number,
    private readonly out: (b: Buffer) => void,
  ) {
    this.part = 2 ** bits;
    out(Buffer.from([0xc0 | tag]));
  }

  push(piece: Buffer): void {
    this.pending.push(piece);
    this.pendingBytes += piece.length;
    // The last part is written by end() with a final length: a whole part is passed on only once
    // more follows it.
    while (this.pendingBytes > this.part) {
      this.out(Buffer.from([0xe0 | this.bits]));
      for (let left = this.part; left > 0;) {
        const head = this.pending[0];
        if (head.length <= left) {
          this.out(head);
          this.pending.shift();
          left -= head.length;
        } else {
          this.out(head.subarray(0, left));
          this.pending[0] = head.subarray(left);
          left = 0;
        }
      }
      this.pendingBytes -= this.part;
    }
  }

  end(): void {
    this.out(finalLength(this.pendingBytes));
    for (const b of this.pending) this.out(b);
    this.pending.length = 0;
    this.pendingBytes = 0;
  }
}

/**
 * The message: the key packets, then the SEIPDv2 packet holding a literal data packet of `plain`.
 * `chunkSizeByte` and `partBits` are the format's parameters (tests use small ones).
 */
export async function* seipd2Message(
  plain: AsyncIterable<Buffer>,
  keys: Seipd2Keys,
  { chunkSizeByte = CHUNK_SIZE_BYTE, partBits = PART_BITS, date = new Date() } = {},
): AsyncGenerator<Buffer> {
  // RFC 9580: chunk size octets up to 16; a first partial part of at least 512 octets, at most 2^30.
  if (!(chunkSizeByte >= 0 && chunkSizeByte <= 16 && partBits >= 9 && partBits <= 30))
    throw new RangeError(`SEIPDv2 chunk size octet ${chunkSizeByte} or part bits ${partBits} out of range`);
  let ready: Buffer[] = [Buffer.from(keys.keyPackets)];
  let readyBytes = keys.keyPackets.length;
  const outer = new Framer(TAG_SEIPD, partBits, (b) => {
    ready.push(b);
    readyBytes += b.length;
  });
  const flush = (): Buffer => {
    const out = ready.length === 1 ? ready[0] : Buffer.concat(ready, readyBytes);
    ready = [];
    readyBytes = 0;
    return out;
  };

  // RFC 9580 §5.13.2, as seipd2.ts reads it.
  const info = Buffer.from([0xc0 | TAG_SEIPD, 2, AES256, GCM, chunkSizeByte]);
  const salt = randomBytes(32);
  outer.push(Buffer.concat([info.subarray(1), salt]));
  const { key, nonce } = messageKeys(keys.sessionKey, salt, info);
  const chunkSize = 2 ** (chunkSizeByte + 6);
  let index = 0;
  let total = 0;
  let chunkLeft = chunkSize;
  const cipherAt = (aad: Buffer): CipherGCM =>
    createCipheriv('aes-256-gcm', key, nonce(index), { authTagLength: TAG_BYTES }).setAAD(aad);
  let cipher = cipherAt(info);
  const endChunk = () => {
    const last = cipher.final();
    if (last.length) outer.push(last);
    outer.push(cipher.getAuthTag());
    index += 1;
    chunkLeft = chunkSize;
    cipher = cipherAt(info);
  };
  /** Plaintext (the literal packet's bytes): encrypted piece by piece, each chunk ended at its boundary. */
  const encrypt = (b: Buffer) => {
    total += b.length;
    for (let piece = b; piece.length;) {
      const n = Math.min(piece.length, chunkLeft);
      const out = cipher.update(n === piece.length ? piece : piece.subarray(0, n));
      if (out.length) outer.push(out);
      piece = piece.subarray(n);
      chunkLeft -= n;
      if (chunkLeft === 0) endChunk();
    }
  };

  const literal = new Framer(TAG_LITERAL, partBits, encrypt);
  // Format 'b' (binary), a file name of no octets, the date in seconds.
  const header = Buffer.from([0x62, 0, 0, 0, 0, 0]);
  header.writeUInt32BE(Math.floor(date.getTime() / 1000), 2);
  literal.push(header);
  for await (const piece of plain) {
    if (!piece.length) continue;
    streamed(piece.length);
    literal.push(piece);
    if (readyBytes >= BATCH) yield flush();
  }
  literal.end();
  // The last chunk, when one was begun, and the final tag over the total length.
  if (chunkLeft < chunkSize) endChunk();
  const aad = Buffer.alloc(info.length + 8);
  info.copy(aad);
  aad.writeUInt32BE(Math.floor(total / 2 ** 32), info.length);
  aad.writeUInt32BE(total >>> 0, info.length + 4);
  cipher = cipherAt(aad);
  cipher.final();
  outer.push(cipher.getAuthTag());
  outer.end();
  yield flush();
}
