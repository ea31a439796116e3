/**
 * What exports and imports (procedure 003 §3.3, §3.4, §12: "exports = scoped mini-backups, imports
 * follow restore protocol") share: the scopes (one project under `projects/<id>`, one module under
 * `modules/<id>`), the target's named export destinations (never a path from the input), and reading
 * an export back completely. An export sits in its destination as a backup sits in a repository —
 * `<id>.lbk`, its sidecar `<id>.json` and the sidecar's signature `<id>.json.asc` — so `lifeboat
 * archive list|extract` reads it; its manifest's `export` field says what it holds.
 */
import { ApplicationFailure } from '@temporalio/activity';
import * as fsp from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import type { TargetConfig } from '../config';
import type { BackupTarget } from './backupShared';
import { invalidInput, stopFailure } from './errors';
import { ArchiveError, readArchive, type Manifest } from './lib/archive';
import { heldTo, openArchiveStream } from './lib/archiveStream';
import { heartbeater, throwIfCancelled } from './lib/context';
import { KeyError } from './lib/crypto';
import { exists } from './lib/files';
import { BACKUP_ID, type ExportScope } from './lib/manifest';
import { archiveProblem } from './lib/repository';
import { integritySinks, type DatabaseCheck } from './lib/databaseChecks';
import { sandboxPath } from './lib/sandbox';
import {
  archiveFile,
  checkSidecarSignature,
  parseSidecar,
  sidecarFile,
  signatureFile,
  signatureProblem,
  SidecarError,
  trustedSigners,
  type Sidecar,
} from './lib/sidecar';

export type { ExportScope };

/** The folder under the root that holds each kind of scope. */
export const SCOPE_FOLDERS = { project: 'projects', module: 'modules' } as const;
export type ScopeKind = keyof typeof SCOPE_FOLDERS;

/** A project or module id: one folder name. */
export const SCOPE_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

/** The sidecar of an export: a backup's, plus the scope (signed with the rest). */
export type ExportSidecar = Sidecar & { export: ExportScope };

/**
 * The folder of the export destination `name` in the target's config (`exports`); in a drill, the
 * sandbox's copy of it. An unknown name is bad input naming `field` and what is configured.
 */
export function exportDestination(target: TargetConfig, name: string, field: string): string {
  const dir = target.exports?.[name];
  if (!dir)
    throw invalidInput(
      `${field}: target '${target.name}' has no export destination named '${name}'; configured (exports): ${Object.keys(target.exports ?? {}).join(', ') || 'none'}`,
    );
  return target.sandbox ? sandboxPath(target.sandbox, dir) : dir;
}

/** The scope's folder under the root, or why the manifest's `export` field cannot be used. */
export function scopeProblem(scope: unknown, exportId: string): string | undefined {
  const s = scope as Partial<ExportScope> | undefined;
  if (!s || typeof s !== 'object') return 'has no export scope';
  if (s.scope !== 'project' && s.scope !== 'module') return `names scope ${JSON.stringify(s.scope)}`;
  if (typeof s.id !== 'string' || !SCOPE_ID.test(s.id)) return `names ${s.scope} ${JSON.stringify(s.id)}`;
  if (s.path !== `${SCOPE_FOLDERS[s.scope]}/${s.id}`)
    return `puts ${s.scope} '${s.id}' at ${JSON.stringify(s.path)}, not ${SCOPE_FOLDERS[s.scope]}/${s.id}`;
  return BACKUP_ID.test(exportId) ? undefined : `belongs to ${JSON.stringify(exportId)}`;
}

/** What reading an export back found: its sidecar and manifest, and its databases' integrity. */
export interface ReadExport {
  file: string;
  sidecar: ExportSidecar;
  manifest: Manifest & { export: ExportScope };
  databases: DatabaseCheck[];
}

/** A problem met while an export was read, as the STOP (or bad input) it is. */
export function exportFailure(err: unknown, exportId: string): ApplicationFailure {
  // A cancellation is no finding about the export: it is thrown as it is.
  throwIfCancelled();
  if (err instanceof ApplicationFailure) return err;
  if (err instanceof KeyError) return stopFailure('KeyProblem', `export ${exportId}: ${err.message}`);
  if (err instanceof ArchiveError)
    return stopFailure(
      err.code === 'noManifest' || err.code === 'badManifest' ? 'MissingManifest' : 'ChecksumMismatch',
      `export ${exportId}: ${err.message}`,
    );
  const message = ((err as Error).message ?? String(err)).split('\n')[0];
  return stopFailure(
    'ChecksumMismatch',
    `export ${exportId} is damaged: the archive does not decrypt cleanly (${message})`,
  );
}

/**
 * Opens an export's archive for reading; `check()`, once the plaintext has been read, holds the
 * ciphertext to the size and SHA-256 its sidecar names.
 */
export async function openExport(file: string, target: BackupTarget, sidecar: ExportSidecar) {
  let opened;
  try {
    opened = await openArchiveStream(file, target.encryption);
  } catch (err) {
    throw exportFailure(err, sidecar.backupId);
  }
  const expected = { size: sidecar.archiveSize, sha256: sidecar.archiveSha256 };
  return { plain: opened.plain, check: heldTo(opened, expected, path.basename(file)) };
}

/** Reads and checks an export's sidecar: present, parsed, signed as the target's mode requires. */
async function checkedSidecar(target: BackupTarget, dir: string, exportId: string): Promise<ExportSidecar> {
  const file = sidecarFile(dir, exportId);
  let bytes: Buffer;
  try {
    bytes = await fsp.readFile(file);
  } catch {
    throw stopFailure(
      'MissingManifest',
      `export ${exportId} has no sidecar beside it (${file}): its archive's checksum and signature cannot be checked`,
    );
  }
  let parsed;
  try {
    parsed = parseSidecar(bytes);
  } catch (err) {
    if (err instanceof SidecarError)
      throw stopFailure('MissingManifest', `the sidecar ${file} ${err.message}`);
    throw err;
  }
  if ('legacy' in parsed || parsed.sidecar.backupId !== exportId)
    throw stopFailure('MissingManifest', `the sidecar ${file} does not describe export ${exportId}`);
  let trusted;
  try {
    trusted = await trustedSigners(target.encryption);
  } catch (err) {
    throw exportFailure(err, exportId);
  }
  const verdict = await checkSidecarSignature(signatureFile(dir, exportId), bytes, trusted);
  const refused = signatureProblem(verdict, parsed.sidecar.encryption, trusted);
  if (refused) throw stopFailure('ChecksumMismatch', `export ${exportId} is refused: ${refused}`);
  return parsed.sidecar as ExportSidecar;
}

/**
 * Reads an export back completely, before anything is written from it: the sidecar (and its
 * signature), the archive held to the sidecar's size and SHA-256 before a byte is decrypted, every
 * entry against its checksum and the manifest, the manifest against the sidecar, its scope (every
 * file inside it, every file stored in the export itself) and, unless `integrity` is false, each
 * database's `PRAGMA integrity_check` on a copy beside the root. Any problem is a STOP naming it; a
 * backup where an export was expected is bad input.
 */
export async function readExport(
  target: BackupTarget,
  dir: string,
  exportId: string,
  options: { integrity?: boolean } = {},
): Promise<ReadExport> {
  const file = archiveFile(dir, exportId);
  const sidecar = await checkedSidecar(target, dir, exportId);
  const found = {
    backupId: exportId,
    sidecar,
    sidecarBytes: Buffer.alloc(0),
    sidecarFile: '',
    archive: file,
  };
  const problem = await archiveProblem({ ...found, verdict: { status: 'unsigned' } });
  if (problem) throw stopFailure('ChecksumMismatch', `export ${exportId} is refused: ${problem}`);
  const beat = heartbeater();
  const scratch =
    options.integrity === false
      ? undefined
      : target.root
        ? await fsp
            .mkdir(path.dirname(target.root), { recursive: true })
            .then(() => fsp.mkdtemp(`${target.root}.lifeboat-verify-`))
        : await fsp.mkdtemp(path.join(os.tmpdir(), 'lifeboat-verify-'));
  const sinks = scratch ? integritySinks(scratch) : undefined;
  try {
    const { plain, check } = await openExport(file, target, sidecar);
    const result = await readArchive(plain, sinks?.open ?? (async () => undefined), (p) =>
      beat({ phase: 'read export', exportId, files: p.files, bytes: p.bytes }),
    );
    await check();
    await sinks?.settled();
    const databases = sinks?.results(result.entries) ?? [];
    if (result.manifestSha256 !== sidecar.manifestSha256)
      throw stopFailure(
        'ChecksumMismatch',
        `export ${exportId}: its manifest's SHA-256 differs from the one its sidecar names`,
      );
    const m = result.manifest;
    if (m.export === undefined)
      throw invalidInput(
        `input.exportId: ${exportId} is a backup of target '${m.target}', not an export; restore it with the restore runbook`,
      );
    const scopeIssue = scopeProblem(m.export, m.backupId);
    const outside = m.files.filter(
      (f) => !f.path.startsWith(`${m.export?.path}/`) || f.storedIn !== exportId,
    );
    if (scopeIssue || m.backupId !== exportId || outside.length)
      throw stopFailure(
        'MissingManifest',
        `export ${exportId}: its manifest ${
          scopeIssue ??
          (m.backupId !== exportId
            ? `names ${m.backupId}`
            : `lists files outside its scope ${m.export.path} or stored elsewhere: ${outside
                .slice(0, 5)
                .map((f) => f.path)
                .join(', ')}`)
        }`,
      );
    const bad = databases.filter((d) => d.integrity !== 'ok');
    if (bad.length)
      throw stopFailure(
        'IntegrityFailure',
        `export ${exportId}: database integrity check failed: ${bad.map((d) => `${d.path}: ${d.integrity}`).join('; ')}`,
      );
    return { file, sidecar, manifest: m as ReadExport['manifest'], databases };
  } catch (err) {
    throw exportFailure(err, exportId);
  } finally {
    // A check still running reads a copy in the scratch folder: it ends before the folder goes.
    await sinks?.settled().catch(() => undefined);
    if (scratch) await fsp.rm(scratch, { recursive: true, force: true });
  }
}

/** The exports in a destination folder (their ids), newest name last; for messages. */
export async function exportsIn(dir: string): Promise<string[]> {
  if (!(await exists(dir))) return [];
  return (await fsp.readdir(dir))
    .filter((n) => n.endsWith('.lbk') && !n.startsWith('.'))
    .map((n) => n.slice(0, -4))
    .sort();
}
