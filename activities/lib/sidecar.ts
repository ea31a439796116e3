/**
 * A backup's sidecar: `<backupId>.json` beside `<backupId>.lbk` in a repository, saying what a new
 * host needs to adopt the backup without any other state (id, target, kind, parent, when, the
 * archive's size and SHA-256, the manifest's SHA-256, versions, module set), and
 * `<backupId>.json.asc`, a detached armored OpenPGP signature over the sidecar's exact bytes made
 * with the target's backup signing key (docs/archive-format.md).
 *
 * Why signed: anyone who holds a recipient's *public* key can write an archive that decrypts
 * cleanly, so in recipient-key mode a backup is only as good as the signature over its sidecar. In
 * passphrase mode the passphrase already authenticates the archive; a signature is checked there when
 * present.
 */
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import * as openpgp from 'openpgp';
import type { EncryptionSettings, SigningSettings } from './crypto';
import { KeyError } from './crypto';
import type { NewCatalogEntry } from './catalog';
import { writeFileAtomic } from './files';
import type { Manifest } from './manifest';
import { BACKUP_ID } from './manifest';
import {
  fingerprintOf,
  readPublicKey,
  readSigningKey,
  signDetached,
  SignatureFormatError,
  verifyDetached,
  type TrustedKey,
} from './signing';

export const SIDECAR_FORMAT = 'lifeboat.backupSidecar';
export const SIDECAR_VERSION = 1;

export interface Sidecar {
  format: typeof SIDECAR_FORMAT;
  version: typeof SIDECAR_VERSION;
  backupId: string;
  target: string;
  kind: 'full' | 'incremental';
  parent: string | null;
  createdAt: string;
  createdBy: string;
  /** The archive's file name, in the same folder. */
  archive: string;
  archiveSize: number;
  archiveSha256: string;
  /** SHA-256 of the manifest entry's bytes inside the archive. */
  manifestSha256: string;
  engineVersion: string;
  storageSpecVersion: string;
  modules: string[];
  /** How the archive is encrypted: to public keys, or with a passphrase. */
  encryption: 'recipients' | 'passphrase';
  files: number;
  bytes: number;
}

export class SidecarError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SidecarError';
  }
}

const SHA256 = /^[0-9a-f]{64}$/;

export function archiveFile(repository: string, backupId: string): string {
  return path.join(repository, `${backupId}.lbk`);
}
export function sidecarFile(repository: string, backupId: string): string {
  return path.join(repository, `${backupId}.json`);
}
export function signatureFile(repository: string, backupId: string): string {
  return `${sidecarFile(repository, backupId)}.asc`;
}

export function encryptionMode(settings: EncryptionSettings): Sidecar['encryption'] {
  return 'passphraseEnv' in settings ? 'passphrase' : 'recipients';
}

/** The sidecar of a backup just written: its manifest, and the archive's size and SHA-256. */
export function sidecarOf(
  m: Manifest,
  archive: { file: string; size: number; sha256: string },
  manifestSha256: string,
  encryption: EncryptionSettings,
): Sidecar {
  return {
    format: SIDECAR_FORMAT,
    version: SIDECAR_VERSION,
    backupId: m.backupId,
    target: m.target,
    kind: m.kind,
    parent: m.parent ?? null,
    createdAt: m.createdAt,
    createdBy: m.createdBy,
    archive: path.basename(archive.file),
    archiveSize: archive.size,
    archiveSha256: archive.sha256,
    manifestSha256,
    engineVersion: m.engineVersion,
    storageSpecVersion: m.storageSpecVersion ?? '1.0.0',
    modules: m.modules,
    encryption: encryptionMode(encryption),
    files: m.files.length,
    bytes: m.files.reduce((n, f) => n + f.size, 0),
  };
}

/** The catalog entry of a backup its sidecar describes, read from `archive`. */
export function catalogEntryOf(
  sidecar: Sidecar,
  archive: string,
  origin: 'made' | 'adopted',
  signedBy: string | undefined,
  catalogName = sidecar.target,
): NewCatalogEntry {
  return {
    backupId: sidecar.backupId,
    target: catalogName,
    kind: sidecar.kind,
    parent: sidecar.parent,
    createdAt: sidecar.createdAt,
    archive,
    archiveSize: sidecar.archiveSize,
    archiveSha256: sidecar.archiveSha256,
    files: sidecar.files,
    bytes: sidecar.bytes,
    origin,
    signedBy: signedBy ?? null,
    manifestSha256: sidecar.manifestSha256,
  };
}

/** The sidecar's bytes as written (and signed): two-space JSON with a final newline. */
export function sidecarBytes(sidecar: Sidecar): Buffer {
  return Buffer.from(`${JSON.stringify(sidecar, null, 2)}\n`);
}

/**
 * Parses a sidecar's bytes. A sidecar of Lifeboat before signed sidecars (no `format`) is `legacy`;
 * a format version this reader does not know, or a field that is missing or malformed, is a
 * SidecarError naming it.
 */
export function parseSidecar(
  bytes: Buffer,
): { sidecar: Sidecar } | { legacy: { backupId?: string; target?: string } } {
  let raw: unknown;
  try {
    raw = JSON.parse(bytes.toString('utf8'));
  } catch {
    throw new SidecarError('is not JSON');
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw))
    throw new SidecarError('is not a JSON object');
  const r = raw as Record<string, unknown>;
  if (r.format === undefined && typeof r.backupId === 'string' && typeof r.archiveSha256 === 'string')
    return { legacy: { backupId: r.backupId, target: typeof r.target === 'string' ? r.target : undefined } };
  if (r.format !== SIDECAR_FORMAT)
    throw new SidecarError(`is not a Lifeboat backup sidecar (format ${JSON.stringify(r.format)})`);
  if (r.version !== SIDECAR_VERSION)
    throw new SidecarError(
      `has format version ${JSON.stringify(r.version)}; this Lifeboat reads version ${SIDECAR_VERSION} only (a newer Lifeboat wrote it)`,
    );
  const problems: string[] = [];
  const str = (k: string, re?: RegExp) => {
    if (typeof r[k] !== 'string' || (re && !re.test(r[k] as string))) problems.push(k);
  };
  const int = (k: string) => {
    if (typeof r[k] !== 'number' || !Number.isSafeInteger(r[k]) || (r[k] as number) < 0) problems.push(k);
  };
  str('backupId', BACKUP_ID);
  str('target');
  if (r.kind !== 'full' && r.kind !== 'incremental') problems.push('kind');
  if (
    r.kind === 'incremental' ? !(typeof r.parent === 'string' && BACKUP_ID.test(r.parent)) : r.parent !== null
  )
    problems.push('parent');
  str('createdAt');
  if (typeof r.createdAt === 'string' && Number.isNaN(Date.parse(r.createdAt))) problems.push('createdAt');
  str('createdBy');
  str('archive');
  if (typeof r.backupId === 'string' && r.archive !== `${r.backupId}.lbk`) problems.push('archive');
  int('archiveSize');
  str('archiveSha256', SHA256);
  str('manifestSha256', SHA256);
  str('engineVersion');
  str('storageSpecVersion');
  if (!Array.isArray(r.modules) || r.modules.some((m) => typeof m !== 'string')) problems.push('modules');
  if (r.encryption !== 'recipients' && r.encryption !== 'passphrase') problems.push('encryption');
  int('files');
  int('bytes');
  if (problems.length) throw new SidecarError(`has no valid ${problems.join(', ')}`);
  return { sidecar: r as unknown as Sidecar };
}

/** The public keys a target trusts for its sidecars: its signing key's own, and `trustedSigners`. */
export async function trustedSigners(settings: SigningSettings): Promise<TrustedKey[]> {
  const keys: TrustedKey[] = [];
  if (settings.signingKey) {
    let armored: string;
    try {
      armored = await fsp.readFile(settings.signingKey, 'utf8');
    } catch (err) {
      throw new KeyError(
        `cannot read the backup signing key (encryption.signingKey) ${settings.signingKey}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`,
      );
    }
    try {
      // Its public part needs no passphrase.
      const key = (await openpgp.readPrivateKey({ armoredKey: armored })).toPublic();
      keys.push({ key, fingerprint: fingerprintOf(key), file: settings.signingKey });
    } catch {
      throw new KeyError(
        `the backup signing key (encryption.signingKey) ${settings.signingKey} is not an armored OpenPGP private key`,
      );
    }
  }
  keys.push(
    ...(await readTrustedKeys(settings.trustedSigners ?? [], 'trusted signer (encryption.trustedSigners)')),
  );
  return keys;
}

/** Armored public keys a signature may be checked against, with their fingerprints. */
export async function readTrustedKeys(files: string[], what: string): Promise<TrustedKey[]> {
  const keys: TrustedKey[] = [];
  for (const file of files) {
    const key = await readPublicKey(file, what);
    keys.push({ key, fingerprint: fingerprintOf(key), file });
  }
  return keys;
}

/** Writes the sidecar and, when a signing key is configured, its signature; each atomically. */
export async function writeSidecar(
  repository: string,
  sidecar: Sidecar,
  settings: SigningSettings,
): Promise<{ signedBy?: string }> {
  const bytes = sidecarBytes(sidecar);
  let signedBy: string | undefined;
  const signature = signatureFile(repository, sidecar.backupId);
  if (settings.signingKey) {
    const key = await readSigningKey(settings.signingKey, settings.signingKeyPassphraseEnv, 'encryption');
    // The signature first: a sidecar is never seen without the signature that goes with it.
    await writeFileAtomic(signature, await signDetached(bytes, key));
    signedBy = fingerprintOf(key);
  } else await fsp.rm(signature, { force: true });
  await writeFileAtomic(sidecarFile(repository, sidecar.backupId), bytes);
  return { signedBy };
}

export type SignatureVerdict =
  | { status: 'signed'; fingerprint: string; keyFile: string }
  | { status: 'unsigned' }
  | { status: 'badSignature'; fingerprint: string }
  | { status: 'untrustedSigner'; issuer: string }
  | { status: 'malformedSignature'; problem: string };

/** Checks a sidecar's signature file (if any) over exactly `bytes` against `trusted`. */
export async function checkSidecarSignature(
  signaturePath: string,
  bytes: Buffer,
  trusted: TrustedKey[],
): Promise<SignatureVerdict> {
  let armored: string;
  try {
    armored = await fsp.readFile(signaturePath, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { status: 'unsigned' };
    throw err;
  }
  try {
    const check = await verifyDetached(bytes, armored, trusted);
    if (check.verdict === 'good')
      return { status: 'signed', fingerprint: check.key.fingerprint, keyFile: check.key.file };
    if (check.verdict === 'bad') return { status: 'badSignature', fingerprint: check.key.fingerprint };
    return { status: 'untrustedSigner', issuer: check.issuer };
  } catch (err) {
    if (err instanceof SignatureFormatError) return { status: 'malformedSignature', problem: err.message };
    throw err;
  }
}

/**
 * Why a backup with this verdict may not be adopted or restored under `mode`, or undefined when it
 * may: in recipient-key mode only a good signature by a trusted key will do; in passphrase mode an
 * unsigned sidecar is fine, but a signature that is present must be good and trusted.
 */
export function signatureProblem(
  verdict: SignatureVerdict,
  mode: Sidecar['encryption'],
  trusted: TrustedKey[],
): string | undefined {
  const trustedList = trusted.map((k) => k.fingerprint).join(', ') || 'none configured';
  switch (verdict.status) {
    case 'signed':
      return undefined;
    case 'unsigned':
      return mode === 'passphrase'
        ? undefined
        : 'its sidecar is not signed, and an archive encrypted to a public key can be written by anyone who holds that key';
    case 'badSignature':
      return `its sidecar's signature by key ${verdict.fingerprint} does not verify: the sidecar was changed after it was signed, or the signature belongs to another sidecar`;
    case 'untrustedSigner':
      return `its sidecar is signed by key ${verdict.issuer}, which is not a trusted signer (encryption.signingKey and encryption.trustedSigners: ${trustedList})`;
    case 'malformedSignature':
      return `its signature file ${verdict.problem}`;
  }
}
