/**
 * Imports (procedure 003 §12: "imports follow restore protocol", §7): an export from one of the
 * target's named destinations is verified completely (sidecar and signature, every checksum, every
 * database's integrity, the manifest and its scope), its engine version and module set compared with
 * the target's, and the plan of what it adds and replaces shown before anything is written. It is
 * then unpacked into the restore's staging folder beside the root and swapped in with the restore's
 * subset swap (`swapInSubset` / `undoSubsetSwap` in restore.ts): the scope's folder as a whole, the
 * one it replaces kept beside the root. Nothing outside the scope's folder is touched.
 */
import { createHash } from 'node:crypto';
import * as fsp from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { humanBytes } from '../common/bytes';
import type { GatePlan } from '../common/types';
import type { LifeboatConfig } from '../config';
import { invalidInput, stopFailure } from './errors';
import {
  exportDestination,
  exportFailure,
  exportsIn,
  openExport,
  readExport,
  type ExportScope,
} from './exportShared';
import { heartbeater } from './lib/context';
import { exists, fsyncDir, hashFile } from './lib/files';
import { BACKUP_ID } from './lib/manifest';
import { integrityOf, scanRoot, type ScannedFile } from './lib/rootFiles';
import { archiveFile } from './lib/sidecar';
import { unpackChain, wantedFiles } from './lib/unpack';
import { restorableTarget } from './restore';
import { sameAsBackup } from './restorePlan';

export interface InspectedExport extends ExportScope {
  exportId: string;
  /** The target the export was taken from. */
  from: string;
  createdAt: string;
  files: number;
  bytes: number;
  databases: number;
  /** The SHA-256 of the archive that was verified: later steps use that archive only. */
  archiveSha256: string;
  plan: GatePlan;
}

/** One digest of a tree: every path with its SHA-256, in path order. */
function treeDigest(files: { path: string; sha256: string }[]): string {
  const lines = [...files].sort((a, b) => (a.path < b.path ? -1 : 1)).map((f) => `${f.sha256}  ${f.path}\n`);
  return createHash('sha256').update(lines.join('')).digest('hex');
}

/** The live files in the scope's folder (none when it does not exist), paths relative to the root. */
async function liveScope(root: string, scopePath: string): Promise<ScannedFile[]> {
  const dir = path.join(root, ...scopePath.split('/'));
  if (!(await exists(dir))) return [];
  return (await scanRoot(dir)).map((f) => ({ ...f, path: `${scopePath}/${f.path}` }));
}

export function createImportActivities(config: LifeboatConfig) {
  /** The export's destination folder and file; an unknown name or id is bad input naming what exists. */
  async function locate(targetName: string, from: string, exportId: string) {
    const target = restorableTarget(config, targetName);
    const dir = exportDestination(target, from, 'input.from');
    if (!BACKUP_ID.test(exportId) || !(await exists(archiveFile(dir, exportId)))) {
      const there = await exportsIn(dir);
      throw invalidInput(
        `input.exportId: no export '${exportId}' in destination '${from}' (${dir}); there: ${there.slice(-10).join(', ') || 'none'}`,
      );
    }
    return { target, dir };
  }

  return {
    /**
     * Steps 1–5 of the restore protocol for an export, then its plan: the export read back
     * completely (see `readExport`), engine version and module set compared with the target's
     * (a mismatch STOPs with expected vs found), and the scope's folder in the live root compared
     * with it — files replaced, added, removed, databases that differ. Writes nothing.
     */
    async inspectExport(targetName: string, from: string, exportId: string): Promise<InspectedExport> {
      const { target, dir } = await locate(targetName, from, exportId);
      const { manifest, sidecar, databases } = await readExport(target, dir, exportId);
      const expectVersion = target.engineVersion ?? 'unversioned';
      if (manifest.engineVersion !== expectVersion)
        throw stopFailure(
          'VersionMismatch',
          `engine version mismatch: the target runs ${expectVersion}, export ${exportId} was made by ${manifest.engineVersion}`,
        );
      const want = (target.modules ?? []).join(', ') || '(none)';
      const found = [...manifest.modules].sort().join(', ') || '(none)';
      if (want !== found)
        throw stopFailure(
          'ModuleSetMismatch',
          `module set mismatch: the target has ${want}, export ${exportId} has ${found}`,
        );
      const scope = manifest.export;
      const saved = wantedFiles(manifest.files);
      const live = await liveScope(target.root, scope.path);
      const beat = heartbeater();
      const scratch = await fsp.mkdtemp(path.join(os.tmpdir(), 'lifeboat-import-'));
      const replaced: ScannedFile[] = [];
      const removed: ScannedFile[] = [];
      const differ: string[] = [];
      let unchanged = 0;
      try {
        for (const [i, file] of live.entries()) {
          beat({ step: 'planImport', files: i, total: live.length });
          const exported = saved.get(file.path);
          if (!exported) removed.push(file);
          else if (await sameAsBackup(file, exported, scratch)) unchanged += 1;
          else {
            replaced.push(file);
            if (file.sqlite || exported.kind === 'sqlite') differ.push(file.path);
          }
        }
      } finally {
        await fsp.rm(scratch, { recursive: true, force: true });
      }
      const livePaths = new Set(live.map((f) => f.path));
      const added = [...saved.keys()].filter((p) => !livePaths.has(p));
      const lost = [...replaced, ...removed].filter((f) => f.mtimeMs > Date.parse(manifest.createdAt));
      const bytesOf = (files: { size: number }[]) => humanBytes(files.reduce((n, f) => n + f.size, 0));
      const what = `${scope.scope} '${scope.id}' (export ${exportId} of target '${manifest.target}', taken ${manifest.createdAt})`;
      const plan: GatePlan = {
        summary: live.length
          ? `replaces ${scope.path} in the live root with ${what}: ${replaced.length} files replaced, ${added.length} added, ${removed.length} removed, ${unchanged} unchanged; nothing outside ${scope.path} is touched`
          : `adds ${scope.path} to the live root (it has no such ${scope.scope}) from ${what}: ${added.length} files (${bytesOf([...saved.values()])}); nothing else is touched`,
        effects: [
          `${replaced.length} files replaced (${bytesOf(replaced)}), ${added.length} added (${bytesOf(added.map((p) => saved.get(p)!))}), ${removed.length} removed (${bytesOf(removed)}), ${unchanged} unchanged`,
          ...replaced.slice(0, 10).map((f) => `replaced: ${f.path}`),
          ...added.slice(0, 10).map((p) => `added: ${p}`),
          ...removed.slice(0, 10).map((f) => `removed from the live root: ${f.path}`),
          differ.length
            ? `databases whose content differs from the export: ${differ.join(', ')}`
            : 'no database differs from the export',
          lost.length
            ? `${lost.length} files (${bytesOf(lost)}) of ${scope.path} changed after the export was taken: their newer content leaves the live root`
            : `nothing in ${scope.path} changed after the export was taken`,
          live.length
            ? `the way back: the current ${scope.path} is kept beside the root (<root>.lifeboat-previous-<run>/${scope.path}), and a stop puts it back`
            : `the way back: a stop removes ${scope.path} again`,
        ],
      };
      return {
        ...scope,
        exportId,
        from: manifest.target,
        createdAt: manifest.createdAt,
        files: manifest.files.length,
        bytes: manifest.files.reduce((n, f) => n + f.size, 0),
        databases: databases.length,
        archiveSha256: sidecar.archiveSha256,
        plan,
      };
    },

    /**
     * Unpacks the export into the restore's staging folder beside the root (`<root>.lifeboat-staging-
     * <tag>`, removed by `removeStaging`), from the archive that was inspected only (`archiveSha256`):
     * its manifest read first, then every entry checked against it before and after its bytes are
     * written. Returns the digest of the tree the live scope must hold once swapped in.
     */
    async stageImport(
      targetName: string,
      from: string,
      exportId: string,
      tag: string,
      archiveSha256: string,
    ): Promise<{ staging: string; path: string; files: number; bytes: number; treeSha256: string }> {
      const { target, dir } = await locate(targetName, from, exportId);
      const { manifest, sidecar, file } = await readExport(target, dir, exportId, { integrity: false });
      if (sidecar.archiveSha256 !== archiveSha256)
        throw stopFailure(
          'AmbiguousTarget',
          `export ${exportId} changed after it was inspected and approved (SHA-256 ${sidecar.archiveSha256.slice(0, 16)}…, approved ${archiveSha256.slice(0, 16)}…); stop and start the import again`,
        );
      const staging = `${target.root}.lifeboat-staging-${tag}`;
      await fsp.rm(staging, { recursive: true, force: true });
      await fsp.mkdir(staging, { recursive: true });
      const beat = heartbeater();
      try {
        const unpacked = await unpackChain({
          chain: [{ backupId: exportId, open: () => openExport(file, target, sidecar) }],
          wanted: wantedFiles(manifest.files),
          dest: staging,
          progress: (p) => beat({ phase: 'stage import', ...p }),
          failure: exportFailure,
        });
        await fsyncDir(path.dirname(staging));
        return { staging, path: manifest.export.path, ...unpacked, treeSha256: treeDigest(manifest.files) };
      } catch (err) {
        await fsp.rm(staging, { recursive: true, force: true });
        throw exportFailure(err, exportId);
      }
    },

    /**
     * Checks the live scope once swapped in: exactly the export's files with their SHA-256 (the
     * digest stageImport returned), every database intact.
     */
    async verifyImport(
      targetName: string,
      scopePath: string,
      expected: { files: number; treeSha256: string },
    ): Promise<{ files: number; databases: number }> {
      const target = restorableTarget(config, targetName);
      const live = await liveScope(target.root, scopePath);
      const beat = heartbeater();
      const hashed: { path: string; sha256: string }[] = [];
      const problems: string[] = [];
      for (const [i, f] of live.entries()) {
        beat({ phase: 'verify import', files: i, total: live.length });
        hashed.push({ path: f.path, sha256: (await hashFile(f.abs)).sha256 });
        if (f.sqlite) {
          const integrity = integrityOf(f.abs);
          if (integrity !== 'ok') problems.push(`${f.path}: integrity check: ${integrity}`);
        }
      }
      if (live.length !== expected.files || treeDigest(hashed) !== expected.treeSha256)
        problems.unshift(
          `${scopePath} holds ${live.length} files whose paths and SHA-256 differ from the export's ${expected.files}`,
        );
      if (problems.length)
        throw stopFailure(
          'IntegrityFailure',
          `the imported ${scopePath} does not match the export: ${problems.slice(0, 10).join('; ')}`,
        );
      return { files: live.length, databases: live.filter((f) => f.sqlite).length };
    },
  };
}
