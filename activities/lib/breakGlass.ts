/**
 * Break glass: reading an archive with nothing but the key — no Temporal server, no catalog, no
 * config (`lifeboat archive list` and `lifeboat archive extract`). Every entry's SHA-256 and the
 * manifest are checked as the archive is read; hostile entries are refused exactly as a restore
 * refuses them; an incremental is extracted with its chain, the parents found beside it; the sidecar
 * beside an archive is held to it, and its signature checked when trusted keys are given.
 */
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import { ArchiveError, readArchive, type EntryDigest, type Manifest } from './archive';
import { openArchiveStream } from './archiveStream';
import { KeyError, type EncryptionSettings } from './crypto';
import { hashFile } from './files';
import { checkSidecarSignature, parseSidecar, signatureProblem, SidecarError, type Sidecar } from './sidecar';
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
  file: string;
  present: boolean;
  sidecar?: Sidecar;
  /** Said in the output: checked and good (by whom), or why it was not checked. */
  signature: string;
}

/** How an archive's outer OpenPGP layer is encrypted, from its first packet's tag. */
export async function outerEncryption(file: string): Promise<'recipients' | 'passphrase' | 'unknown'> {
  const handle = await fsp.open(file, 'r');
  try {
    const buf = Buffer.alloc(1);
    await handle.read(buf, 0, 1, 0);
    const ctb = buf[0];
    if (!(ctb & 0x80)) return 'unknown';
    const tag = ctb & 0x40 ? ctb & 0x3f : (ctb >> 2) & 0x0f;
    return tag === 1 ? 'recipients' : tag === 3 ? 'passphrase' : 'unknown';
  } finally {
    await handle.close();
  }
}

async function mustExist(file: string): Promise<void> {
  const st = await fsp.stat(file).catch(() => undefined);
  if (!st) throw new BreakGlassError(`no archive ${file}`, true);
  if (!st.isFile()) throw new BreakGlassError(`${file} is not a file`, true);
}

/** The sidecar beside `archive` (`<id>.json`): held to the archive, its signature checked if keys are given. */
export async function checkSidecarOf(archive: string, keys: BreakGlassKeys): Promise<SidecarCheck> {
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
    return { file, present: false, signature: 'not checked (no sidecar beside the archive)' };
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
    return { file, present: true, signature: 'not checked (a sidecar from before signed sidecars)' };
  }
  const sidecar = parsed.sidecar;
  const { size, sha256 } = await hashFile(archive);
  if (size !== sidecar.archiveSize || sha256 !== sidecar.archiveSha256)
    throw new BreakGlassError(
      `${path.basename(archive)} does not match its sidecar (${size} bytes, SHA-256 ${sha256.slice(0, 16)}…; the sidecar says ${sidecar.archiveSize} bytes, ${sidecar.archiveSha256.slice(0, 16)}…)`,
      false,
    );
  if (!keys.trusted.length)
    return { file, present: true, sidecar, signature: 'not checked (no --trusted-key given)' };
  const verdict = await checkSidecarSignature(`${file}.asc`, bytes, keys.trusted);
  // A break-glass reader asked for a check: an unsigned sidecar fails it in either mode.
  const problem =
    verdict.status === 'unsigned'
      ? 'its sidecar is not signed'
      : signatureProblem(verdict, sidecar.encryption, keys.trusted);
  if (problem) throw new BreakGlassError(`${path.basename(archive)}: ${problem}`, false);
  return {
    file,
    present: true,
    sidecar,
    signature: verdict.status === 'signed' ? `good, by key ${verdict.fingerprint}` : 'not signed',
  };
}

function readFailure(err: unknown, file: string, keys: BreakGlassKeys): BreakGlassError {
  if (err instanceof BreakGlassError) return err;
  const name = path.basename(file);
  if (err instanceof KeyError) {
    const hint =
      'passphraseEnv' in keys.encryption
        ? ' (an archive encrypted to a key opens with --key <private key file>)'
        : ' (a passphrase-mode archive opens with --passphrase-env <VARIABLE>)';
    return new BreakGlassError(`${name}: ${err.message}${hint}`, false);
  }
  if (err instanceof ArchiveError) return new BreakGlassError(`${name}: ${err.message}`, false);
  const message = ((err as Error).message ?? String(err)).split('\n')[0];
  return new BreakGlassError(`${name} is damaged: it does not decrypt cleanly (${message})`, false);
}

/** Reads an archive through (every entry checked) and returns its manifest and entries. */
export async function readWholeArchive(
  file: string,
  keys: BreakGlassKeys,
  progress?: (bytes: number) => void,
): Promise<{ manifest: Manifest; entries: EntryDigest[] }> {
  await mustExist(file);
  try {
    const opened = await openArchiveStream(file, keys.encryption);
    const result = await readArchive(
      opened.plain,
      async () => undefined,
      (p) => progress?.(p.bytes),
    );
    await opened.digest();
    return { manifest: result.manifest, entries: result.entries };
  } catch (err) {
    throw readFailure(err, file, keys);
  }
}

/** `dest` exists and is empty (it is used), or does not exist (it is created); anything else is refused. */
async function emptyFolder(dest: string): Promise<{ created: boolean }> {
  const st = await fsp.stat(dest).catch(() => undefined);
  if (!st) {
    await fsp.mkdir(dest, { recursive: true });
    return { created: true };
  }
  if (!st.isDirectory()) throw new BreakGlassError(`--into ${dest} is not a folder`, true);
  const inside = await fsp.readdir(dest);
  if (inside.length)
    throw new BreakGlassError(
      `--into ${dest} is not empty (${inside.length} entries); extract into a new or empty folder, nothing is ever written over`,
      true,
    );
  return { created: false };
}

export interface Extracted {
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
 * incremental) is unpacked. On any problem what was written is removed.
 */
export async function extractArchive(
  file: string,
  dest: string,
  keys: BreakGlassKeys,
  progress?: (p: UnpackProgress & { phase: string }) => void,
): Promise<Extracted> {
  await mustExist(file);
  const folder = path.dirname(file);
  const sidecars = [await checkSidecarOf(file, keys)];
  const { manifest } = await readWholeArchive(file, keys, (bytes) =>
    progress?.({ phase: 'read', files: 0, total: 0, bytes, totalBytes: 0 }),
  );
  // The archives that hold the tree's files: the backup itself and, for an incremental, its parents.
  const chain = [...new Set(manifest.files.map((f) => f.storedIn))];
  const unsafe = chain.find((id) => typeof id !== 'string' || !/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/.test(id));
  if (unsafe !== undefined)
    throw new BreakGlassError(
      `the manifest names a backup ${JSON.stringify(unsafe)} that is not a backup id`,
      false,
    );
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
  const { created } = await emptyFolder(dest);
  const absolute = path.resolve(dest);
  try {
    const unpacked = await unpackChain({
      chain: chain.map((id) => ({
        backupId: id,
        open: async () => {
          const opened = await openArchiveStream(archives.get(id)!, keys.encryption);
          return { plain: opened.plain, check: async () => void (await opened.digest()) };
        },
      })),
      wanted: wantedFiles(manifest.files),
      dest: absolute,
      progress: (p) => progress?.({ phase: 'extract', ...p }),
      failure: (err, id) => readFailure(err, archives.get(id) ?? file, keys),
    });
    return { backupId: manifest.backupId, kind: manifest.kind, chain, ...unpacked, sidecars };
  } catch (err) {
    // Nothing half-written is left: the folder goes back to how it was (absent, or empty).
    if (created) await fsp.rm(absolute, { recursive: true, force: true });
    else
      for (const name of await fsp.readdir(absolute))
        await fsp.rm(path.join(absolute, name), { recursive: true, force: true });
    throw readFailure(err, file, keys);
  }
}
