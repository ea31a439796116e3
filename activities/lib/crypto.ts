/**
 * OpenPGP encryption of backup archives, as streams: to the recipients' public keys, or with a
 * passphrase read from a named environment variable at the moment of use. With a passphrase the
 * message is AEAD (SEIPDv2, AES-GCM chunks): a reader learns of tampering chunk by chunk. To
 * ordinary v4 recipient keys it is SEIPDv1 (what GnuPG 2.2 reads), whose integrity tag comes at the
 * end; readers check every entry's SHA-256 and the manifest as they go and act on nothing until the
 * end (see docs/archive-format.md). No key or passphrase ever appears in a message of this module.
 */
import * as fs from 'node:fs';
import { Readable } from 'node:stream';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import * as openpgp from 'openpgp';

import type { EncryptionSettings } from '../../config/backup';
import { DecryptError, openSeipd2 } from './seipd2';
import { seipd2Keys, seipd2Message } from './seipd2Writer';
import { streamed } from './youngGc';

export type { EncryptionSettings, SigningSettings } from '../../config/backup';

export class KeyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'KeyError';
  }
}

// AES-GCM runs in Node's native crypto, several times faster than OCB in JavaScript; readers take
// the mode from each message, so archives made with another mode still open.
const CONFIG = {
  aeadProtect: true,
  preferredAEADAlgorithm: openpgp.enums.aead.gcm,
  preferredCompressionAlgorithm: openpgp.enums.compression.uncompressed,
};

function passphraseFrom(env: string): string {
  const value = process.env[env];
  if (!value)
    throw new KeyError(`the environment variable ${env} (the backup passphrase) is not set on the worker`);
  return value;
}

function readKeyFile(file: string, what: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new KeyError(`cannot read the ${what} ${file}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`);
  }
}

async function encryptionOptions(settings: EncryptionSettings) {
  if ('passphraseEnv' in settings) return { passwords: [passphraseFrom(settings.passphraseEnv)] };
  const encryptionKeys = [];
  for (const file of settings.recipients) {
    try {
      encryptionKeys.push(await openpgp.readKey({ armoredKey: readKeyFile(file, 'recipient key') }));
    } catch (err) {
      if (err instanceof KeyError) throw err;
      throw new KeyError(`the recipient key ${file} is not an OpenPGP public key`);
    }
  }
  return { encryptionKeys };
}

async function decryptionOptions(settings: EncryptionSettings) {
  if ('passphraseEnv' in settings) return { passwords: [passphraseFrom(settings.passphraseEnv)] };
  if (!settings.privateKeys?.length)
    throw new KeyError('no private key is configured (encryption.privateKeys) to decrypt backups');
  const decryptionKeys = [];
  for (const file of settings.privateKeys) {
    let key: openpgp.PrivateKey;
    try {
      key = await openpgp.readPrivateKey({ armoredKey: readKeyFile(file, 'private key') });
    } catch (err) {
      if (err instanceof KeyError) throw err;
      throw new KeyError(`the private key ${file} is not an OpenPGP private key`);
    }
    if (!key.isDecrypted()) {
      if (!settings.privateKeyPassphraseEnv)
        throw new KeyError(`the private key ${file} is locked and no privateKeyPassphraseEnv is configured`);
      try {
        key = await openpgp.decryptKey({
          privateKey: key,
          passphrase: passphraseFrom(settings.privateKeyPassphraseEnv),
        });
      } catch {
        throw new KeyError(
          `the passphrase in ${settings.privateKeyPassphraseEnv} does not unlock the private key ${file}`,
        );
      }
    }
    decryptionKeys.push(key);
  }
  return { decryptionKeys };
}

/** Checks, without encrypting anything, that the settings can be used (files readable, env set). */
export async function checkEncryption(settings: EncryptionSettings, forDecryption: boolean): Promise<void> {
  await encryptionOptions(settings);
  if (forDecryption) await decryptionOptions(settings);
}

/**
 * A web stream that pulls chunks from `source` (two at a time, to keep memory flat: chunks are
 * 1 MiB) and ends the source when cancelled.
 * Why not Readable.toWeb: on Node 20 its stream throws an uncaught ERR_INVALID_STATE when it is
 * cancelled while a read is pending (nodejs/node#64529), which ends the worker: a backup cancelled
 * early in its write did. Here a chunk that arrives after the cancellation is dropped.
 */
function pullStream(source: AsyncIterable<Uint8Array>): ReadableStream<Uint8Array> {
  const chunks = source[Symbol.asyncIterator]();
  let cancelled = false;
  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        const next = await chunks.next();
        if (cancelled) return;
        if (next.done) controller.close();
        else {
          streamed(next.value.length);
          controller.enqueue(next.value);
        }
      },
      async cancel(reason) {
        cancelled = true;
        await chunks.return?.(reason);
      },
    },
    { highWaterMark: 2 },
  );
}

/**
 * `plain`, already asked for its first piece, so that what makes it starts now: a backup's reading
 * threads boot and compress while the keys are derived (the passphrase's S2K, openpgp.js's key
 * packets) instead of after (a 1%-changed incremental of the 1 GiB set waited about 0.1 s for that).
 * The piece is kept for the first reader; `abandon` ends `plain` when there will be none.
 */
function startedEarly<T>(plain: AsyncIterable<T>): { started: AsyncIterable<T>; abandon: () => void } {
  const source = plain[Symbol.asyncIterator]();
  const first = source.next();
  // Its failure reaches the reader (at `await first`), or nobody once abandoned.
  first.catch(() => undefined);
  const end = () => source.return?.().catch(() => undefined);
  return {
    started: (async function* () {
      try {
        const head = await first;
        if (head.done) return;
        yield head.value;
        yield* { [Symbol.asyncIterator]: () => source };
      } finally {
        // Also when the reader stops between the first piece and the delegation.
        await end();
      }
    })(),
    abandon: () => void end(),
  };
}

/** Encrypts a stream of plaintext chunks; returns the ciphertext as a Node stream. */
export async function encryptStream(
  source: AsyncIterable<Buffer>,
  settings: EncryptionSettings,
): Promise<Readable> {
  const { started: plain, abandon } = startedEarly(source);
  let cipher: Readable;
  try {
    cipher = await encrypted(plain, settings);
  } catch (err) {
    abandon();
    throw err;
  }
  // Destroyed before it read (its pipeline failed to start), it would never end `plain` itself.
  cipher.once('close', abandon);
  return cipher;
}

async function encrypted(plain: AsyncIterable<Buffer>, settings: EncryptionSettings): Promise<Readable> {
  const options = await encryptionOptions(settings);
  // SEIPDv2 with AES-256-GCM (a passphrase, recipients that announce it): written by seipd2Writer.ts.
  const own = await seipd2Keys(options, CONFIG);
  if (own) return Readable.from(seipd2Message(plain, own), { objectMode: false, highWaterMark: 512 * 1024 });
  const message = await openpgp.createMessage({
    binary: pullStream(plain),
  });
  const encrypted = await openpgp.encrypt({ message, ...options, format: 'binary', config: CONFIG });
  return Readable.fromWeb(encrypted as unknown as WebReadableStream<Uint8Array>, {
    highWaterMark: 512 * 1024,
  });
}

/** What openpgp.js's failure to decrypt means: the configured key or passphrase, or damage. */
function decryptFailure(err: unknown, options: { passwords: string[] } | object): Error {
  const reason = (err as Error).message;
  if (/session key|decryption key|passphrase|no (?:key|matching)/i.test(reason)) {
    const what = 'passwords' in options ? 'passphrase' : 'key(s)';
    return new KeyError(
      `the archive cannot be decrypted with the configured ${what} (or its key packet is damaged): ${reason}`,
    );
  }
  return new Error(`the archive is damaged: ${reason}`);
}

/**
 * Decrypts a ciphertext stream; returns the plaintext stream. A wrong key or passphrase, or a
 * message that is not OpenPGP, is a KeyError; corruption found while reading surfaces as a
 * stream error (backupShared.ts words it: archiveFailure). SEIPDv2 messages with AES-256-GCM (passphrase mode)
 * are read by seipd2.ts, openpgp.js giving the session key; anything else by openpgp.js.
 */
export async function decryptStream(cipher: Readable, settings: EncryptionSettings): Promise<Readable> {
  const options = await decryptionOptions(settings);
  let opened;
  try {
    opened = await openSeipd2(cipher[Symbol.asyncIterator](), async (packets) => {
      let keyMessage;
      try {
        keyMessage = await openpgp.readMessage({ binaryMessage: packets });
      } catch {
        return undefined; // openpgp.decrypt reads it again and says what is wrong
      }
      try {
        const keys = await openpgp.decryptSessionKeys({ message: keyMessage, ...options });
        return keys.length === 1 ? keys[0].data : undefined;
      } catch (err) {
        throw decryptFailure(err, options);
      }
    });
  } catch (err) {
    // Damage found in the first chunk: worded as damage found later, in the stream, is.
    if (err instanceof DecryptError) throw new Error(`the archive does not decrypt cleanly (${err.message})`);
    throw err;
  }
  if ('plain' in opened) return opened.plain;
  let message;
  try {
    message = await openpgp.readMessage({
      binaryMessage: pullStream(opened.fallback),
    });
  } catch (err) {
    throw new KeyError(`the archive is not an OpenPGP message (${(err as Error).message})`);
  }
  try {
    // Why: an archive encrypted to keys is SEIPDv1 (what GnuPG 2.2 reads), whose integrity tag comes
    // at the end; without this openpgp.js holds the whole plaintext in memory until it has seen it
    // (a 400 MiB archive took 1.4 GB). Streamed instead, a tampered archive still fails before
    // anything is used: every entry is checked against its SHA-256 and the manifest, the ciphertext
    // against its sidecar or catalog entry, and a restore swaps in only after the whole archive read
    // clean (the tag's failure arrives as a stream error at the end). AEAD archives are unaffected.
    const { data } = await openpgp.decrypt({
      message,
      ...options,
      format: 'binary',
      config: { ...CONFIG, allowUnauthenticatedStream: true },
    });
    return Readable.fromWeb(data as unknown as WebReadableStream<Uint8Array>, { highWaterMark: 512 * 1024 });
  } catch (err) {
    throw decryptFailure(err, options);
  }
}
