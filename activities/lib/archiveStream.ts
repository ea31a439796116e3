/**
 * Opening an archive file for reading: decrypted as a stream, while the ciphertext's own SHA-256 and
 * size are taken on the way (one pass), so a reader can hold the archive to its sidecar or catalog
 * entry once it has read the plaintext.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import { Readable, Transform } from 'node:stream';
import { ArchiveError } from './archive';
import { decryptStream, type EncryptionSettings } from './crypto';

export interface OpenedArchive {
  plain: Readable;
  /**
   * The ciphertext's SHA-256 and size. Call once the plaintext has been read: whatever the decryptor
   * did not read (trailing bytes) is hashed from the file here.
   */
  digest: () => Promise<{ sha256: string; size: number }>;
}

export async function openArchiveStream(file: string, settings: EncryptionSettings): Promise<OpenedArchive> {
  const hash = createHash('sha256');
  let hashed = 0;
  let closed = false;
  // 256 KiB reads: a round trip to the thread pool per 64 KiB left the decryptor waiting; 1 MiB
  // reads were no faster and held 25 MB more.
  const raw = fs.createReadStream(file, { highWaterMark: 256 * 1024 });
  const counter = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      if (closed) return cb();
      hash.update(chunk);
      hashed += chunk.length;
      cb(null, chunk);
    },
  });
  raw.once('error', (err) => counter.destroy(err));
  raw.pipe(counter);
  let plain: Readable;
  try {
    plain = await decryptStream(counter, settings);
  } catch (err) {
    raw.destroy();
    counter.destroy();
    throw err;
  }
  return {
    plain,
    digest: async () => {
      closed = true;
      raw.unpipe(counter);
      raw.destroy();
      counter.destroy();
      // Everything the transform passed on is hashed; the rest of the file is hashed from here.
      for await (const chunk of fs.createReadStream(file, { start: hashed }) as AsyncIterable<Buffer>) {
        hash.update(chunk);
        hashed += chunk.length;
      }
      return { sha256: hash.digest('hex'), size: hashed };
    },
  };
}

/**
 * The check to run once an opened archive has been read: its ciphertext is the one `expected` names
 * (a sidecar's, or what an earlier read of the same file found), so that what was written comes from
 * the bytes that were checked and not from a file swapped in between.
 */
export function heldTo(
  opened: OpenedArchive,
  expected: { size: number; sha256: string } | undefined,
  name: string,
): () => Promise<void> {
  return async () => {
    const found = await opened.digest();
    if (expected && (found.size !== expected.size || found.sha256 !== expected.sha256))
      throw new ArchiveError(
        `${name} changed while it was read: ${found.size} bytes, SHA-256 ${found.sha256.slice(0, 16)}…, where ${expected.size} bytes, ${expected.sha256.slice(0, 16)}… were checked`,
        'damaged',
      );
  };
}
