/**
 * Detached, armored OpenPGP signatures over a file's exact bytes (drill proofs): reading the signing
 * key (unlocked with a passphrase read from a named environment variable at the moment of use) and
 * the public keys a verifier trusts, signing, and verifying against exactly those keys.
 *
 * No key material or passphrase ever appears in a message this module produces; problems with a key
 * are `KeyError`s naming the file and what is wrong with it.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as openpgp from 'openpgp';
import { canonicalJson } from './chain';
import { KeyError } from './crypto';

export { KeyError };

/** A signature file that is not an OpenPGP signature at all (bad input, not a failed check). */
export class SignatureFormatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SignatureFormatError';
  }
}

/** SHA-256 (hex) of a value's canonical JSON: keys sorted at every level, no spaces. */
export function canonicalSha256(value: unknown): string {
  return createHash('sha256').update(canonicalJson(value)).digest('hex');
}

/** A key's fingerprint as `gpg` prints it (upper-case hex). */
export function fingerprintOf(key: openpgp.Key): string {
  return key.getFingerprint().toUpperCase();
}

function readArmored(file: string, what: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : (code ?? 'unreadable');
    throw new KeyError(`cannot read the ${what} ${file}: ${why}`);
  }
}

/**
 * Reads an armored private key and unlocks it. `passphraseEnv` names the environment variable that
 * holds its passphrase; `setting` names the config field for messages (e.g. `targets.x.drill`).
 */
export async function readSigningKey(
  file: string,
  passphraseEnv: string | undefined,
  setting: string,
): Promise<openpgp.PrivateKey> {
  const armored = readArmored(file, `signing key (${setting}.signingKey)`);
  let key: openpgp.PrivateKey;
  try {
    key = await openpgp.readPrivateKey({ armoredKey: armored });
  } catch {
    let isPublic = false;
    try {
      isPublic = !(await openpgp.readKey({ armoredKey: armored })).isPrivate();
    } catch {
      // Not a key at all: said below.
    }
    throw new KeyError(
      isPublic
        ? `${setting}.signingKey (${file}) is a public key; it must name the armored OpenPGP private key that signs`
        : `${setting}.signingKey (${file}) is not an armored OpenPGP private key`,
    );
  }
  if (key.isDecrypted()) return key;
  if (!passphraseEnv) {
    throw new KeyError(
      `the signing key ${file} is protected by a passphrase and ${setting}.signingKeyPassphraseEnv is not set; name the environment variable that holds it`,
    );
  }
  const passphrase = process.env[passphraseEnv];
  if (!passphrase) {
    throw new KeyError(
      `the environment variable ${passphraseEnv} (the passphrase of the signing key ${file}) is not set on the worker`,
    );
  }
  try {
    return await openpgp.decryptKey({ privateKey: key, passphrase });
  } catch {
    throw new KeyError(`the passphrase in ${passphraseEnv} does not unlock the signing key ${file}`);
  }
}

/** Reads an armored public key; a file holding a private key is refused (it must not be shared). */
export async function readPublicKey(file: string, what: string): Promise<openpgp.PublicKey> {
  const armored = readArmored(file, what);
  let key: openpgp.Key;
  try {
    key = await openpgp.readKey({ armoredKey: armored });
  } catch {
    throw new KeyError(`the ${what} ${file} is not an armored OpenPGP public key`);
  }
  if (key.isPrivate()) {
    throw new KeyError(
      `the ${what} ${file} holds a private key; it must hold only the public key (gpg --armor --export)`,
    );
  }
  return key as openpgp.PublicKey;
}

/** A detached, armored signature over exactly `data`. */
export async function signDetached(data: Uint8Array, key: openpgp.PrivateKey): Promise<string> {
  const message = await openpgp.createMessage({ binary: data });
  try {
    return await openpgp.sign({ message, signingKeys: key, detached: true, format: 'armored' });
  } catch (err) {
    // openpgp names the key by id and the reason (expired, revoked, cannot sign); never its material.
    throw new KeyError(`the signing key ${fingerprintOf(key)} cannot sign: ${(err as Error).message}`);
  }
}

export interface TrustedKey {
  key: openpgp.PublicKey;
  /** Primary key fingerprint, upper-case hex. */
  fingerprint: string;
  /** Where the key was read from. */
  file: string;
}

export type SignatureCheck =
  /** The signature verifies over the bytes with this trusted key. */
  | { verdict: 'good'; key: TrustedKey; signedAt?: string }
  /** Made by a trusted key's id, but it does not verify over these bytes. */
  | { verdict: 'bad'; key: TrustedKey }
  /** Made by a key that is not trusted: its fingerprint (or key id where the signature names none). */
  | { verdict: 'unknownKey'; issuer: string };

function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('hex').toUpperCase();
}

/**
 * Checks a detached armored signature over `data` against exactly the `trusted` keys. Throws a
 * SignatureFormatError when `armoredSignature` is not an OpenPGP signature.
 */
export async function verifyDetached(
  data: Uint8Array,
  armoredSignature: string,
  trusted: TrustedKey[],
): Promise<SignatureCheck> {
  let signature: openpgp.Signature;
  try {
    signature = await openpgp.readSignature({ armoredSignature });
  } catch (err) {
    throw new SignatureFormatError(`is not an armored OpenPGP signature (${(err as Error).message})`);
  }
  const packets = [...signature.packets];
  if (packets.length === 0) throw new SignatureFormatError('holds no signature');
  let bad: TrustedKey | undefined;
  for (const packet of packets) {
    const key = trusted.find((t) => t.key.getKeys(packet.issuerKeyID).length > 0);
    if (!key) continue;
    const message = await openpgp.createMessage({ binary: data });
    // At the time it was signed: a proof stays valid after its key expires.
    const { signatures } = await openpgp.verify({
      message,
      signature,
      verificationKeys: [key.key],
      format: 'binary',
      date: packet.created ?? undefined,
    });
    const result = signatures.find((s) => s.keyID.equals(packet.issuerKeyID));
    try {
      if (!result) throw new Error('no result for the signature');
      await result.verified;
      return { verdict: 'good', key, signedAt: packet.created?.toISOString() };
    } catch {
      bad ??= key;
    }
  }
  if (bad) return { verdict: 'bad', key: bad };
  const first = packets[0];
  return {
    verdict: 'unknownKey',
    issuer: first.issuerFingerprint ? hex(first.issuerFingerprint) : first.issuerKeyID.toHex().toUpperCase(),
  };
}
