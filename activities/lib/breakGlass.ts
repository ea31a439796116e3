/**
 * Break glass: reading an archive with nothing but the key — no Temporal server, no catalog, no
 * config (`lifeboat archive list` and `lifeboat archive extract`). Every entry's SHA-256 and the
 * manifest are checked as the archive is read; hostile entries are refused exactly as a restore
 * refuses them; an incremental is extracted with its chain, the parents found beside it; the sidecar
 * beside an archive is held to it, and its signature checked when trusted keys are given.
 */
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import * as openpgp from 'openpgp';
import { ArchiveError, readArchive, type EntryDigest, type Manifest } from './archive';
import { heldTo, openArchiveStream, type OpenedArchive } from './archiveStream';
import { KeyError, type EncryptionSettings } from './crypto';
import { hashFile } from './files';
import {
  checkSidecarSignature,
  parseSidecar,
  signatureProblem,
  SidecarError,
  type Sidecar,
  type SignatureVerdict,
} from './sidecar';
import type { TrustedKey } from './signing';
import { unpackChain, wantedFiles, type UnpackProgress } from './unpack';

/** A problem with what was asked (exit 2), or with what was found (exit 1). */
export class BreakGlassError extends Error {
  constructor(
    message: string,
    readonly badInput: boolean,
  ) {
    super(message);
    this.name = 'BreakGlassError';
  }
}

export interface BreakGlassKeys {
  encryption: EncryptionSettings;
  /** Keys a sidecar's signature is checked against; none: the signature is not checked. */
  trusted: TrustedKey[];
}

/** What is known of an archive's sidecar, and its signature. */
export interface SidecarCheck {
  /** The archive, and its sidecar file. */
  archive: string;
  file: string;
  present: boolean;
  sidecar?: Sidecar;
  /** Said in the output: checked and good (by whom), or why it was not checked. */
  signature: string;
  /** The signature was checked against a trusted key and is good. */
  verified?: boolean;
}

/**
 * How an archive's outer OpenPGP layer is encrypted, read from its leading session-key packets:
 * PKESK (tag 1, to a key: the key IDs it names) or SKESK (tag 3, a passphrase).
 */
export async function outerLayer(
  file: string,
): Promise<{ mode: 'recipients' | 'passphrase' | 'unknown'; keyIds: string[] }> {
  const handle = await fsp.open(file, 'r');
  const buf = Buffer.alloc(64 * 1024);
  let n: number;
  try {
    ({ bytesRead: n } = await handle.read(buf, 0, buf.length, 0));
  } finally {
    await handle.close();
  }
  const keyIds: string[] = [];
  let passphrase = false;
  let toKey = false;
  for (let at = 0; at + 2 <= n;) {
    const ctb = buf[at];
    if (!(ctb & 0x80)) break;
    let tag: number;
    let length: number;
    let body: number;
    if (ctb & 0x40) {
      tag = ctb & 0x3f;
      const l0 = buf[at + 1];
      if (l0 < 192) [length, body] = [l0, at + 2];
      else if (l0 < 224) [length, body] = [((l0 - 192) << 8) + buf[at + 2] + 192, at + 3];
      else if (l0 === 255 && at + 6 <= n) [length, body] = [buf.readUInt32BE(at + 2), at + 6];
      else break; // a partial length: the encrypted data has begun
    } else {
      tag = (ctb >> 2) & 0x0f;
      const size = [1, 2, 4][ctb & 3];
      if (size === undefined || at + 1 + size > n) break;
      [length, body] = [buf.readUIntBE(at + 1, size), at + 1 + size];
    }
    if ((tag !== 1 && tag !== 3) || body + length > n) break;
    if (tag === 3) passphrase = true;
    else toKey = true;
    if (tag === 1 && buf[body] === 3) keyIds.push(buf.toString('hex', body + 1, body + 9).toUpperCase());
    else if (tag === 1 && buf[body] === 6 && buf[body + 1] > 0) {
      // v6 PKESK: key version and fingerprint; a v4 key's ID is its fingerprint's last 8 bytes, a v6 key's its first.
      const fp = buf.subarray(body + 3, body + 2 + buf[body + 1]);
      keyIds.push((buf[body + 2] === 4 ? fp.subarray(-8) : fp.subarray(0, 8)).toString('hex').toUpperCase());
    }
    at = body + length;
  }
  const mode = toKey ? 'recipients' : passphrase ? 'passphrase' : 'unknown';
  return { mode, keyIds };
}

async function mustExist(file: string): Promise<void> {
  const st = await fsp.stat(file).catch(() => undefined);
  if (!st) throw new BreakGlassError(`no archive ${file}`, true);
  if (!st.isFile()) throw new BreakGlassError(`${file} is not a file`, true);
}

/** Why a verdict fails a break-glass check, in the words of the CLI's flags; undefined when it passes. */
function verdictProblem(
  verdict: SignatureVerdict,
  sidecar: Sidecar,
  keys: BreakGlassKeys,
): string | undefined {
  switch (verdict.status) {
    case 'signed':
      return undefined;
    // A break-glass reader asked for a check: an unsigned sidecar fails it in either mode.
    case 'unsigned':
      return 'its sidecar is not signed';
    case 'untrustedSigner':
      return `its sidecar is signed by key ${verdict.issuer}, which is not a --trusted-key (given: ${keys.trusted.map((k) => `${k.fingerprint} from ${k.file}`).join(', ')})`;
    default:
      return signatureProblem(verdict, sidecar.encryption, keys.trusted);
  }
}

/** The sidecar beside `archive` (`<id>.json`): held to the archive, its signature checked if keys are given. */
export async function checkSidecarOf(archive: string, keys: BreakGlassKeys): Promise<SidecarCheck> {
  await mustExist(archive);
  const file = archive.replace(/\.lbk$/, '') + '.json';
  let bytes: Buffer;
  try {
    bytes = await fsp.readFile(file);
  } catch {
    if (keys.trusted.length)
      throw new BreakGlassError(
        `${path.basename(archive)} has no sidecar beside it (${path.basename(file)}), so its signature cannot be checked`,
        false,
      );
    return { archive, file, present: false, signature: 'not checked (no sidecar beside the archive)' };
  }
  let parsed;
  try {
    parsed = parseSidecar(bytes);
  } catch (err) {
    if (err instanceof SidecarError) throw new BreakGlassError(`the sidecar ${file} ${err.message}`, false);
    throw err;
  }
  if ('legacy' in parsed) {
    if (keys.trusted.length)
      throw new BreakGlassError(
        `${path.basename(archive)} was made before backups carried signed sidecars; its signature cannot be checked (leave out --trusted-key to extract it anyway)`,
        false,
      );
    return { archive, file, present: true, signature: 'not checked (a sidecar from before signed sidecars)' };
  }
  const sidecar = parsed.sidecar;
  const { size, sha256 } = await hashFile(archive);
  if (size !== sidecar.archiveSize || sha256 !== sidecar.archiveSha256)
    throw new BreakGlassError(
      `${path.basename(archive)} does not match its sidecar (${size} bytes, SHA-256 ${sha256.slice(0, 16)}…; the sidecar says ${sidecar.archiveSize} bytes, ${sidecar.archiveSha256.slice(0, 16)}…)`,
      false,
    );
  if (!keys.trusted.length)
    return { archive, file, present: true, sidecar, signature: 'not checked (no --trusted-key given)' };
  const verdict = await checkSidecarSignature(`${file}.asc`, bytes, keys.trusted);
  const problem = verdictProblem(verdict, sidecar, keys);
  if (problem) throw new BreakGlassError(`${path.basename(archive)}: ${problem}`, false);
  return {
    archive,
    file,
    present: true,
    sidecar,
    signature: verdict.status === 'signed' ? `good, by key ${verdict.fingerprint}` : 'not signed',
    verified: verdict.status === 'signed',
  };
}

/** The key IDs (primary and subkeys, upper-case hex) of the private key files given with --key. */
async function keyIdsOf(files: string[]): Promise<string[]> {
  const ids: string[] = [];
  for (const file of files) {
    try {
      const key = await openpgp.readPrivateKey({ armoredKey: await fsp.readFile(file, 'utf8') });
      ids.push(...key.getKeyIDs().map((id) => id.toHex().toUpperCase()));
    } catch {
      // Unreadable: the key error itself says so.
    }
  }
  return ids;
}

/** Says why the keys given do not open `file`, naming the mode and the keys the archive wants. */
async function keyFailure(err: KeyError, file: string, keys: BreakGlassKeys): Promise<BreakGlassError> {
  const name = path.basename(file);
  const outer = await outerLayer(file).catch(() => ({ mode: 'unknown' as const, keyIds: [] }));
  const wanted = outer.keyIds.join(', ');
  if ('passphraseEnv' in keys.encryption) {
    if (outer.mode === 'recipients')
      return new BreakGlassError(
        `${name} is encrypted to key ${wanted}, not with a passphrase: open it with --key <the private key file>`,
        false,
      );
  } else if (outer.mode === 'passphrase') {
    return new BreakGlassError(
      `${name} is encrypted with a passphrase, not to a key: open it with --passphrase-env <VARIABLE>`,
      false,
    );
  } else if (outer.mode === 'recipients') {
    const files = keys.encryption.privateKeys ?? [];
    const held = await keyIdsOf(files);
    if (held.length && !outer.keyIds.some((id) => held.includes(id)))
      return new BreakGlassError(
        `${name} is encrypted to key ${wanted}, which the --key file ${files.join(', ')} does not hold (it holds ${held.join(', ')}); give the private key the archive was encrypted to`,
        false,
      );
  }
  return new BreakGlassError(`${name}: ${err.message}`, false);
}

/** An error met while reading one archive of a chain, described once the reading has stopped. */
class ReadFailure extends Error {
  constructor(
    readonly error: unknown,
    readonly file: string,
  ) {
    super('read failure');
  }
}

async function readFailure(err: unknown, file: string, keys: BreakGlassKeys): Promise<BreakGlassError> {
  if (err instanceof ReadFailure) return readFailure(err.error, err.file, keys);
  if (err instanceof BreakGlassError) return err;
  const name = path.basename(file);
  if (err instanceof KeyError) return keyFailure(err, file, keys);
  if (err instanceof ArchiveError) return new BreakGlassError(`${name}: ${err.message}`, false);
  const message = ((err as Error).message ?? String(err)).split('\n')[0];
  return new BreakGlassError(`${name} is damaged: it does not decrypt cleanly (${message})`, false);
}

/**
 * Opens an archive and remembers the decryptor's own error: the archive reader may report it as a
 * framing problem (a trailer "not JSON") when it breaks a read mid-entry, and the operator needs to
 * hear that the archive does not decrypt cleanly instead.
 */
async function openWatched(
  file: string,
  keys: BreakGlassKeys,
): Promise<OpenedArchive & { decryptError: () => unknown }> {
  const opened = await openArchiveStream(file, keys.encryption);
  let decryptError: unknown;
  opened.plain.once('error', (err) => (decryptError ??= err));
  return { ...opened, decryptError: () => decryptError };
}

/** Reads an archive through (every entry checked) and returns its manifest and entries. */
export async function readWholeArchive(
  file: string,
  keys: BreakGlassKeys,
  progress?: (bytes: number) => void,
): Promise<{ manifest: Manifest; entries: EntryDigest[]; digest: { size: number; sha256: string } }> {
  await mustExist(file);
  let result;
  let digest: { size: number; sha256: string };
  let opened: Awaited<ReturnType<typeof openWatched>> | undefined;
  try {
    opened = await openWatched(file, keys);
    result = await readArchive(
      opened.plain,
      async () => undefined,
      (p) => progress?.(p.bytes),
    );
    digest = await opened.digest();
  } catch (err) {
    throw await readFailure(opened?.decryptError() ?? err, file, keys);
  }
  return { manifest: result.manifest, entries: result.entries, digest };
}

/**
 * Checks `dest` before any work: it may be an empty folder or not exist; anything else is refused
 * (bad input), so that nothing is ever written over.
 */
async function checkDestination(dest: string): Promise<{ exists: boolean }> {
  const st = await fsp.stat(dest).catch(() => undefined);
  if (!st) return { exists: false };
  if (!st.isDirectory()) throw new BreakGlassError(`--into ${dest} is not a folder`, true);
  const inside = await fsp.readdir(dest);
  if (inside.length)
    throw new BreakGlassError(
      `--into ${dest} is not empty (${inside.length} entries); extract into a new or empty folder, nothing is ever written over`,
      true,
    );
  return { exists: true };
}

export interface Extracted {
  /** Files whose setuid/setgid bits were not restored because no signature was checked. */
  setidDropped: string[];
  backupId: string;
  kind: 'full' | 'incremental';
  chain: string[];
  files: number;
  bytes: number;
  sidecars: SidecarCheck[];
}

/**
 * Extracts the tree at the backup in `file` into `dest` (new or empty): the archive is read once for
 * its manifest, then every archive that stores a file of it (the parents beside it, for an
 * incremental) is unpacked. Nothing is written before every check that can be made up front has
 * passed; on a later problem what was written is removed.
 */
export async function extractArchive(
  file: string,
  dest: string,
  keys: BreakGlassKeys,
  progress?: (p: UnpackProgress & { phase: string }) => void,
): Promise<Extracted> {
  await mustExist(file);
  await checkDestination(dest);
  const folder = path.dirname(file);
  const sidecars = [await checkSidecarOf(file, keys)];
  const { manifest, digest } = await readWholeArchive(file, keys, (bytes) =>
    progress?.({ phase: 'read', files: 0, total: 0, bytes, totalBytes: 0 }),
  );
  // The archives that hold the tree's files: the backup itself and, for an incremental, its parents.
  const chain = [...new Set(manifest.files.map((f) => f.storedIn))];
  const archives = new Map<string, string>();
  for (const id of chain) {
    const archive = id === manifest.backupId ? file : path.join(folder, `${id}.lbk`);
    if (id !== manifest.backupId) {
      if (!(await fsp.stat(archive).catch(() => undefined)))
        throw new BreakGlassError(
          `backup ${manifest.backupId} is an incremental that needs its parent ${id}, which is not beside it (${archive}); put ${id}.lbk in the same folder`,
          false,
        );
      sidecars.push(await checkSidecarOf(archive, keys));
    }
    archives.set(id, archive);
  }
  const signed = sidecars.every((c) => c.verified);
  // Checked again: the folder may have changed while the archive was read.
  const { exists } = await checkDestination(dest);
  const absolute = path.resolve(dest);
  // The first folder mkdir made (the top of what is removed on failure), or undefined if none.
  const made = exists ? undefined : await fsp.mkdir(absolute, { recursive: true });
  const decryptErrors = new Map<string, () => unknown>();
  try {
    const unpacked = await unpackChain({
      chain: chain.map((id) => ({
        backupId: id,
        open: async () => {
          const archive = archives.get(id)!;
          const opened = await openWatched(archive, keys);
          decryptErrors.set(id, opened.decryptError);
          // The bytes written are the bytes checked: the sidecar's, or what the first read found.
          const sidecar = sidecars.find((c) => c.archive === archive)?.sidecar;
          const expected = sidecar
            ? { size: sidecar.archiveSize, sha256: sidecar.archiveSha256 }
            : archive === file
              ? digest
              : undefined;
          return { plain: opened.plain, check: heldTo(opened, expected, path.basename(archive)) };
        },
      })),
      wanted: wantedFiles(manifest.files),
      dest: absolute,
      progress: (p) => progress?.({ phase: 'extract', ...p }),
      failure: (err, id) => new ReadFailure(decryptErrors.get(id)?.() ?? err, archives.get(id) ?? file),
      // Who made an archive whose signature was not checked is unknown: no setuid or setgid files from it.
      modeMask: signed ? 0o7777 : 0o1777,
    });
    const dropped = signed ? [] : manifest.files.filter((f) => (f.mode & 0o6000) !== 0).map((f) => f.path);
    return {
      backupId: manifest.backupId,
      kind: manifest.kind,
      chain,
      ...unpacked,
      sidecars,
      setidDropped: dropped,
    };
  } catch (err) {
    // Nothing half-written is left: the folder goes back to how it was (absent, or empty).
    if (made) await fsp.rm(made, { recursive: true, force: true });
    else
      for (const name of await fsp.readdir(absolute))
        await fsp.rm(path.join(absolute, name), { recursive: true, force: true });
    throw await readFailure(err, file, keys);
  }
}
