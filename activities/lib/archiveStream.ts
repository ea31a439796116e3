/**
 * Opening an archive file for reading: decrypted as a stream, while the ciphertext's own SHA-256 and
 * size are taken on the way (one pass, in a thread: hashedRead.ts), so a reader can hold the archive to its sidecar or catalog
 * entry once it has read the plaintext.
 */
import type { Readable } from 'node:stream';
import { ArchiveError } from './archive';
import { THREADS_AFTER } from './archiveFormat';
import { decryptStream, type EncryptionSettings } from './crypto';
import { warmEntryThread } from './entryThreads';
import { hashedRead, warmHashedRead } from './hashedRead';

export interface OpenedArchive {
  plain: Readable;
  /**
   * The ciphertext's SHA-256 and size. Call once the plaintext has been read: whatever the decryptor
   * did not read (trailing bytes) is hashed from the file here.
   */
  digest: () => Promise<{ sha256: string; size: number }>;
}

/**
 * Starts the threads that will read an archive of `size` bytes (its ciphertext) before the caller
 * prepares for it (reads the manifest it holds the entries to, say), so that their boot, 60-80 ms
 * each, overlaps that instead of being waited for: the file thread (hashedRead.ts) always, an entry
 * thread (entryThreads.ts) when the archive is large enough to be read with them. A thread nobody
 * takes ends by itself.
 */
export function warmArchiveRead(size: number): void {
  warmHashedRead();
  if (size >= THREADS_AFTER) warmEntryThread();
}

export async function openArchiveStream(file: string, settings: EncryptionSettings): Promise<OpenedArchive> {
  // A thread reads and hashes the ciphertext (hashedRead.ts); this thread decrypts.
  const read = hashedRead(file);
  let plain: Readable;
  try {
    plain = await decryptStream(read.stream, settings);
  } catch (err) {
    read.stream.destroy();
    throw err;
  }
  return {
    plain,
    digest: async () => {
      // What the decryptor did not read (trailing bytes) is hashed too.
      const found = await read.digest();
      read.stream.destroy();
      return found;
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
