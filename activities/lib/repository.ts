/**
 * Reading a backup repository with nothing but the keys: its sidecars (which backups it holds, of
 * which target, signed by whom), each backup's archive held to its sidecar (size, SHA-256, manifest),
 * and the incremental chains. Adoption (adopt.ts), `lifeboat archive` and `lifeboat self restore`
 * build on it. Nothing here writes anything.
 */
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import { ArchiveError, readArchive, type Manifest } from './archive';
import { openArchiveStream } from './archiveStream';
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

/** The folder cannot be read at all (missing, not a folder, no permission). */
export class RepositoryError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RepositoryError';
  }
}

export interface FoundBackup {
  backupId: string;
  sidecar: Sidecar;
  /** The sidecar's exact bytes (two copies of a backup agree when these do). */
  sidecarBytes: Buffer;
  sidecarFile: string;
  archive: string;
  verdict: SignatureVerdict;
}

export interface Refusal {
  backupId?: string;
  file: string;
  reason: string;
  /**
   * Refusals that say nothing about tampering: a backup from before signed sidecars (`legacy`), an
   * incremental whose chain is incomplete (`chain`). Unset: a signature, integrity or sidecar problem.
   */
  kind?: 'legacy' | 'chain';
}

export interface RepositoryListing {
  folder: string;
  /** Backups of the target whose sidecar parsed and whose signature passes the mode's rule. */
  found: FoundBackup[];
  refused: Refusal[];
  /** Sidecars of other targets sharing the folder, counted by target. */
  otherTargets: Record<string, number>;
  /** Archives no sidecar names. */
  orphans: string[];
}

async function readFolder(folder: string): Promise<string[]> {
  try {
    return await fsp.readdir(folder);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new RepositoryError(`the repository ${folder} does not exist`);
    if (code === 'ENOTDIR') throw new RepositoryError(`the repository ${folder} is not a folder`);
    throw new RepositoryError(`cannot read the repository ${folder}: ${code ?? (err as Error).message}`);
  }
}

/**
 * Lists the backups of `target` in `folder`: every sidecar is parsed and its signature checked
 * against `trusted` under the rule of `mode` (signatureProblem). `target` undefined lists every
 * target's (for `lifeboat archive`).
 */
export async function listRepository(
  folder: string,
  target: string | undefined,
  rule: { mode: Sidecar['encryption']; trusted: TrustedKey[] },
): Promise<RepositoryListing> {
  const names = (await readFolder(folder)).filter((n) => !n.startsWith('.')).sort();
  const listing: RepositoryListing = { folder, found: [], refused: [], otherTargets: {}, orphans: [] };
  const claims = new Map<string, FoundBackup[]>();
  const named = new Set<string>();
  for (const name of names.filter((n) => n.endsWith('.json'))) {
    const file = path.join(folder, name);
    let bytes: Buffer;
    try {
      bytes = await fsp.readFile(file);
    } catch (err) {
      listing.refused.push({ file, reason: `cannot read ${name}: ${(err as NodeJS.ErrnoException).code}` });
      continue;
    }
    let parsed;
    try {
      parsed = parseSidecar(bytes);
    } catch (err) {
      if (!(err instanceof SidecarError)) throw err;
      listing.refused.push({ file, reason: `the sidecar ${name} ${err.message}` });
      continue;
    }
    if ('legacy' in parsed) {
      const id = parsed.legacy.backupId;
      if (id) named.add(`${id}.lbk`);
      if (target !== undefined && parsed.legacy.target !== undefined && parsed.legacy.target !== target) {
        listing.otherTargets[parsed.legacy.target] = (listing.otherTargets[parsed.legacy.target] ?? 0) + 1;
        continue;
      }
      listing.refused.push({
        backupId: id,
        file,
        kind: 'legacy',
        reason:
          'it was made before backups carried signed sidecars, so nothing proves who made it; it stays restorable on the host whose catalog lists it (or by hand: lifeboat archive extract)',
      });
      continue;
    }
    const sidecar = parsed.sidecar;
    named.add(sidecar.archive);
    if (target !== undefined && sidecar.target !== target) {
      listing.otherTargets[sidecar.target] = (listing.otherTargets[sidecar.target] ?? 0) + 1;
      continue;
    }
    const found: FoundBackup = {
      backupId: sidecar.backupId,
      sidecar,
      sidecarBytes: bytes,
      sidecarFile: file,
      archive: path.join(folder, sidecar.archive),
      verdict: { status: 'unsigned' },
    };
    claims.set(sidecar.backupId, [...(claims.get(sidecar.backupId) ?? []), found]);
  }
  for (const [backupId, all] of claims) {
    const distinct = all.filter((f, i) => all.findIndex((g) => g.sidecarBytes.equals(f.sidecarBytes)) === i);
    if (distinct.length > 1) {
      for (const f of distinct)
        listing.refused.push({
          backupId,
          file: f.sidecarFile,
          reason: `${distinct.length} sidecars claim backup ${backupId} with different content (${distinct.map((d) => path.basename(d.sidecarFile)).join(', ')}); nothing tells which is right`,
        });
      continue;
    }
    const found = all.find((f) => path.basename(f.sidecarFile) === `${backupId}.json`) ?? all[0];
    found.verdict = await checkSidecarSignature(`${found.sidecarFile}.asc`, found.sidecarBytes, rule.trusted);
    const problem = signatureProblem(found.verdict, rule.mode, rule.trusted);
    if (problem) listing.refused.push({ backupId, file: found.sidecarFile, reason: problem });
    else listing.found.push(found);
  }
  listing.orphans = names.filter((n) => n.endsWith('.lbk') && !named.has(n)).map((n) => path.join(folder, n));
  listing.found.sort((a, b) => (a.sidecar.createdAt < b.sidecar.createdAt ? -1 : 1));
  return listing;
}

/**
 * Why the archive's bytes are not the ones its sidecar names (missing, another size, another
 * SHA-256), or undefined when they are. Nothing is decrypted: two copies with the same sidecar whose
 * archives both pass hold the same bytes.
 */
export async function archiveProblem(
  found: FoundBackup,
  progress?: (p: { phase: string; bytes: number }) => void,
): Promise<string | undefined> {
  const s = found.sidecar;
  const name = path.basename(found.archive);
  const st = await fsp.stat(found.archive).catch(() => undefined);
  if (!st?.isFile()) return `its archive ${name} is missing`;
  if (st.size !== s.archiveSize)
    return `its archive ${name} is ${st.size} bytes, its sidecar says ${s.archiveSize}`;
  progress?.({ phase: 'hash', bytes: 0 });
  const { sha256 } = await hashFile(found.archive);
  if (sha256 !== s.archiveSha256)
    return `its archive ${name} has SHA-256 ${sha256.slice(0, 16)}…, its sidecar says ${s.archiveSha256.slice(0, 16)}… (changed or damaged)`;
  return undefined;
}

export interface CheckedBackup {
  manifest: Manifest;
  files: number;
  bytes: number;
}

/**
 * Holds a backup's archive to its sidecar: size, SHA-256 (before a byte is decrypted), then the
 * whole archive read and checked (every entry against its checksum, the manifest against the
 * archive), the manifest's SHA-256 and its fields against the sidecar. Returns the manifest, or the
 * reason it is refused. A key that cannot decrypt is thrown (KeyError): it is the host's problem,
 * not the backup's.
 */
export async function checkBackup(
  found: FoundBackup,
  encryption: EncryptionSettings,
  progress?: (p: { phase: string; bytes: number }) => void,
): Promise<CheckedBackup | { refused: string }> {
  const s = found.sidecar;
  const name = path.basename(found.archive);
  const problem = await archiveProblem(found, progress);
  if (problem) return { refused: problem };
  let result;
  try {
    const opened = await openArchiveStream(found.archive, encryption);
    result = await readArchive(
      opened.plain,
      async () => undefined,
      (p) => progress?.({ phase: 'read', bytes: p.bytes }),
    );
    await opened.digest();
  } catch (err) {
    if (err instanceof KeyError) throw err;
    if (err instanceof ArchiveError) return { refused: `its archive ${name}: ${err.message}` };
    return {
      refused: `its archive ${name} does not decrypt cleanly (${((err as Error).message ?? String(err)).split('\n')[0]})`,
    };
  }
  const m = result.manifest;
  if (result.manifestSha256 !== s.manifestSha256)
    return { refused: `its manifest's SHA-256 differs from the one its sidecar names` };
  const differs: string[] = [];
  if (m.backupId !== s.backupId) differs.push(`backup id ${m.backupId}`);
  if (m.target !== s.target) differs.push(`target ${m.target}`);
  if (m.kind !== s.kind) differs.push(`kind ${m.kind}`);
  if ((m.parent ?? null) !== s.parent) differs.push(`parent ${m.parent ?? 'none'}`);
  if (m.createdAt !== s.createdAt) differs.push(`created at ${m.createdAt}`);
  if (m.engineVersion !== s.engineVersion) differs.push(`engine version ${m.engineVersion}`);
  if ([...m.modules].sort().join(',') !== [...s.modules].sort().join(',')) differs.push('module set');
  if (differs.length) return { refused: `its manifest disagrees with its sidecar (${differs.join(', ')})` };
  return { manifest: m, files: m.files.length, bytes: m.files.reduce((n, f) => n + f.size, 0) };
}

/**
 * Which of `ids` have a complete chain: every parent up to a full backup is in `available`. Returns
 * the reason for each that does not (naming the parent it lacks).
 */
export function chainGaps(
  ids: string[],
  parentOf: (id: string) => string | null | undefined,
  /** Undefined when the backup is there and sound, else why not (e.g. "is not in the repository"). */
  missing: (id: string) => string | undefined,
): Map<string, string> {
  const gaps = new Map<string, string>();
  for (const id of ids) {
    const seen = new Set<string>();
    for (let at: string | null | undefined = parentOf(id); at; at = parentOf(at)) {
      if (seen.has(at)) {
        gaps.set(id, `its chain loops at ${at}`);
        break;
      }
      seen.add(at);
      const why =
        missing(at) ?? (gaps.has(at) ? `lacks a backup of its own chain (${gaps.get(at)})` : undefined);
      if (why) {
        gaps.set(id, `its parent ${at} ${why}`);
        break;
      }
    }
  }
  return gaps;
}
