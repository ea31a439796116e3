/**
 * The restore protocol of procedure 003 §7 (DESIGN §5), as activities: verify the backup's chain
 * and compare versions, unpack into a staging folder beside the root (or an inspection folder), swap
 * it in by rename keeping the previous root (or path by path, journaled), verify the restored root;
 * and the compensations that put everything back. Lifeboat's own stores (`lifeboat-self`) are not
 * restored here: `lifeboat self restore` does that before the control plane starts.
 */
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import type { LifeboatConfig } from '../config';
import {
  archiveFailure,
  archiveOf,
  backupTarget,
  catalogNameOf,
  chainOf,
  openArchive,
  resolveBackupId,
  type Catalogs,
} from './backupShared';
import { createCopyVerifier } from './verification';
import { invalidInput, stopFailure } from './errors';
import { heartbeater } from './lib/context';
import { exists, fsyncDir, hashFile, hashFileSync, writeFileAtomic } from './lib/files';
import { Bounded } from './lib/bounded';
import { checkedBefore } from './lib/databaseChecks';
import { integrityCheck } from './lib/integrityThread';
import { unlistedFiles } from './lib/rootFiles';
import { SQLITE_SIDECARS } from './lib/sqlite';
import { unpackChain, wantedFiles } from './lib/unpack';
import { warmArchiveRead } from './lib/archiveStream';

/** Moves a database's `-wal`, `-shm` and `-journal` from beside `from` to beside `to`, where there are any. */
async function moveSidecars(from: string, to: string): Promise<void> {
  for (const side of SQLITE_SIDECARS)
    if ((await exists(`${from}${side}`)) && !(await exists(`${to}${side}`)))
      await fsp.rename(`${from}${side}`, `${to}${side}`);
}

/** A target whose root a restore may write: not one of named files like Lifeboat's own stores. */
export function restorableTarget(config: LifeboatConfig, name: string) {
  const target = backupTarget(config, name, ['root', 'repository', 'encryption']);
  if (target.sources)
    throw invalidInput(
      `target '${name}' holds Lifeboat's own stores, which are not restored by a runbook under a running control plane; stop the control plane and run 'lifeboat self restore --from <folder>'`,
    );
  return target;
}

export function createRestoreActivities(config: LifeboatConfig, catalogs: Catalogs) {
  const verifyOrCopy = createCopyVerifier(catalogs);
  return {
    /**
     * Step 1–5 of the restore protocol: verify every archive of the backup's chain (manifest,
     * checksums, databases), then compare engine version and module set with the target's.
     */
    async inspectRestore(
      targetName: string,
      which: string,
    ): Promise<{
      backupId: string;
      chain: string[];
      files: number;
      bytes: number;
      createdAt: string;
      /** Backups of the chain read from the offsite copy, and why (the repository's is missing or damaged). */
      fromCopies?: string[];
    }> {
      const target = restorableTarget(config, targetName);
      const catalog = catalogs.of(target);
      const backupId = resolveBackupId(catalog, catalogNameOf(target), which);
      const chain = chainOf(catalog, backupId);
      const fromCopies: string[] = [];
      for (const id of chain) {
        const { report, fromCopy } = await verifyOrCopy(target, id);
        if (!report.ok)
          throw stopFailure(
            report.errorType ?? 'ChecksumMismatch',
            report.problem ?? `backup ${id} failed verification`,
          );
        if (fromCopy) fromCopies.push(`${id} from the copy ${fromCopy.copy} (${fromCopy.problem})`);
      }
      // Five fields of the manifest, its files counted, not kept (manifestSummary).
      const manifest = catalog.manifestSummary(backupId)!;
      const expectVersion = target.engineVersion ?? 'unversioned';
      if (manifest.engineVersion !== expectVersion) {
        throw stopFailure(
          'VersionMismatch',
          `engine version mismatch: the target runs ${expectVersion}, the backup was made by ${manifest.engineVersion}`,
        );
      }
      const want = (target.modules ?? []).join(', ') || '(none)';
      const found = [...manifest.modules].sort().join(', ') || '(none)';
      if (want !== found)
        throw stopFailure(
          'ModuleSetMismatch',
          `module set mismatch: the target has ${want}, the backup has ${found}`,
        );
      return {
        backupId,
        chain,
        files: manifest.fileCount,
        bytes: manifest.fileBytes,
        createdAt: manifest.createdAt,
        ...(fromCopies.length ? { fromCopies } : {}),
      };
    },

    /**
     * Unpacks the backup (replaying its chain) into a staging folder beside the root, or into a
     * named inspection folder. Each entry is checked against the manifest before its bytes are
     * written; modes and mtimes are restored.
     */
    async stageRestore(
      targetName: string,
      backupId: string,
      tag: string,
      options: { paths?: string[]; into?: string } = {},
    ): Promise<{ staging: string; files: number; bytes: number }> {
      const target = restorableTarget(config, targetName);
      const catalog = catalogs.of(target);
      // The threads of the chain's first archive (its full) boot while the manifest is read.
      let first = catalog.get(backupId);
      for (let n = 0; first?.parent && n < 1000; n += 1) first = catalog.get(first.parent);
      if (first) warmArchiveRead(first.archiveSize);
      const manifest = catalog.manifest(backupId);
      if (!manifest) throw stopFailure('MissingManifest', `backup ${backupId} is not in the catalog`);
      const wanted = wantedFiles(manifest.files, options.paths);
      if (options.paths && wanted.size === 0)
        throw invalidInput(`none of ${options.paths.join(', ')} is in backup ${backupId}`);
      let staging: string;
      if (options.into) {
        const dir = target.restoreInto[options.into];
        if (!dir)
          throw invalidInput(
            `target '${targetName}' has no restoreInto folder named '${options.into}'; configured: ${Object.keys(target.restoreInto).join(', ') || 'none'}`,
          );
        staging = path.join(dir, backupId);
      } else staging = `${target.root}.lifeboat-staging-${tag}`;
      await fsp.rm(staging, { recursive: true, force: true });
      await fsp.mkdir(staging, { recursive: true });
      const beat = heartbeater();
      try {
        const unpacked = await unpackChain({
          chain: chainOf(catalog, backupId).map((id) => {
            const entry = catalog.get(id)!;
            return {
              backupId: id,
              // The archive compared with its recorded SHA-256, its manifest with the recorded one.
              open: () => openArchive(archiveOf(target, entry), target.encryption, id, entry),
              recordedManifest: entry.manifestSha256,
            };
          }),
          wanted,
          dest: staging,
          progress: (p) => beat({ phase: 'restore', ...p }),
          failure: archiveFailure,
        });
        await fsyncDir(path.dirname(staging));
        return { staging, ...unpacked };
      } catch (err) {
        await fsp.rm(staging, { recursive: true, force: true });
        throw archiveFailure(err, backupId);
      }
    },

    /** Compensation for stageRestore: removes the staging folder. */
    async removeStaging(targetName: string, tag: string): Promise<boolean> {
      const target = backupTarget(config, targetName, ['root']);
      const staging = `${target.root}.lifeboat-staging-${tag}`;
      const had = await exists(staging);
      await fsp.rm(staging, { recursive: true, force: true });
      return had;
    },

    /**
     * Swaps the staged root in by rename, keeping the old root as `<root>.lifeboat-previous-<tag>`.
     * Safe to repeat after a crash at any point: it finishes the swap it finds half done.
     */
    async swapInRestore(targetName: string, tag: string): Promise<{ root: string; previous?: string }> {
      const target = backupTarget(config, targetName, ['root']);
      const root = target.root;
      const staging = `${root}.lifeboat-staging-${tag}`;
      const previous = `${root}.lifeboat-previous-${tag}`;
      const [hasRoot, hasStaging, hasPrevious] = await Promise.all([
        exists(root),
        exists(staging),
        exists(previous),
      ]);
      if (!hasStaging) {
        if (hasRoot && hasPrevious) return { root, previous };
        throw stopFailure(
          'AmbiguousTarget',
          `the staged restore ${staging} is gone and the swap did not happen; retry restages nothing — stop and start the restore again`,
        );
      }
      if (hasRoot) {
        if (hasPrevious)
          throw stopFailure(
            'AmbiguousTarget',
            `both ${root} and ${previous} exist beside the staging folder; move one aside and retry`,
          );
        await fsp.rename(root, previous);
        await fsyncDir(path.dirname(root));
      }
      await fsp.rename(staging, root);
      await fsyncDir(path.dirname(root));
      return { root, previous: hasRoot || hasPrevious ? previous : undefined };
    },

    /** Compensation for swapInRestore: puts the previous root back (the restored copy is discarded). */
    async undoRestoreSwap(targetName: string, tag: string): Promise<{ putBack: boolean }> {
      const target = backupTarget(config, targetName, ['root']);
      const root = target.root;
      const previous = `${root}.lifeboat-previous-${tag}`;
      if (!(await exists(previous))) return { putBack: false };
      if (await exists(root)) {
        const discarded = `${root}.lifeboat-discarded-${tag}`;
        await fsp.rename(root, discarded);
        await fsp.rename(previous, root);
        await fsyncDir(path.dirname(root));
        await fsp.rm(discarded, { recursive: true, force: true });
      } else {
        await fsp.rename(previous, root);
        await fsyncDir(path.dirname(root));
      }
      return { putBack: true };
    },

    /**
     * Puts a staged subset into the live root path by path, moving what each replaces into
     * `<root>.lifeboat-previous-<tag>/`. A journal written first records which paths existed, so
     * a repeat after a crash finishes the swap and `undoSubsetSwap` can put everything back.
     */
    async swapInSubset(
      targetName: string,
      tag: string,
      paths: string[],
    ): Promise<{ root: string; previous: string; replaced: string[]; added: string[] }> {
      const target = backupTarget(config, targetName, ['root']);
      const root = target.root;
      const staging = `${root}.lifeboat-staging-${tag}`;
      const previous = `${root}.lifeboat-previous-${tag}`;
      const journalFile = `${root}.lifeboat-subset-${tag}.json`;
      const at = (base: string, p: string) => path.join(base, ...p.split('/'));
      let journal: Record<string, boolean>;
      if (await exists(journalFile))
        journal = JSON.parse(await fsp.readFile(journalFile, 'utf8')) as Record<string, boolean>;
      else {
        journal = {};
        for (const p of paths) journal[p] = await exists(at(root, p));
        await writeFileAtomic(journalFile, JSON.stringify(journal));
      }
      for (const p of paths) {
        const [live, staged, kept] = [at(root, p), at(staging, p), at(previous, p)];
        if (!(await exists(staged))) continue; // already swapped in
        if (journal[p] && !(await exists(kept))) {
          await fsp.mkdir(path.dirname(kept), { recursive: true });
          await fsp.rename(live, kept);
        }
        // A database's WAL and shared memory belong to the file they came with: they go with it,
        // or the staged database would be opened with another file's log.
        await moveSidecars(live, kept);
        await fsp.mkdir(path.dirname(live), { recursive: true });
        await fsp.rename(staged, live);
        await fsyncDir(path.dirname(live));
      }
      await fsp.rm(staging, { recursive: true, force: true });
      return {
        root,
        previous,
        replaced: paths.filter((p) => journal[p]),
        added: paths.filter((p) => !journal[p]),
      };
    },

    /** Compensation for swapInSubset: every path goes back to what it was before the run. */
    async undoSubsetSwap(targetName: string, tag: string): Promise<{ putBack: string[] }> {
      const target = backupTarget(config, targetName, ['root']);
      const root = target.root;
      const previous = `${root}.lifeboat-previous-${tag}`;
      const journalFile = `${root}.lifeboat-subset-${tag}.json`;
      if (!(await exists(journalFile))) return { putBack: [] };
      const journal = JSON.parse(await fsp.readFile(journalFile, 'utf8')) as Record<string, boolean>;
      const at = (base: string, p: string) => path.join(base, ...p.split('/'));
      const putBack: string[] = [];
      for (const [p, existed] of Object.entries(journal)) {
        const [live, kept] = [at(root, p), at(previous, p)];
        // Whatever sidecars the swapped-in database grew are its own, not the original's.
        for (const side of SQLITE_SIDECARS) await fsp.rm(`${live}${side}`, { force: true });
        if (existed && (await exists(kept))) {
          await fsp.rm(live, { recursive: true, force: true });
          await fsp.rename(kept, live);
          await moveSidecars(kept, live);
          putBack.push(p);
        } else if (!existed) {
          await fsp.rm(live, { recursive: true, force: true });
          putBack.push(p);
        }
      }
      await fsyncDir(root);
      await fsp.rm(previous, { recursive: true, force: true });
      await fsp.rm(journalFile, { force: true });
      return { putBack };
    },

    /** Checks the live root against the manifest: same files, same bytes, databases intact. */
    async verifyRestoredRoot(
      targetName: string,
      backupId: string,
      options: { paths?: string[]; dir?: string } = {},
    ): Promise<{ files: number; databases: number; databasesCheckedBefore: number }> {
      const target = backupTarget(config, targetName, ['root']);
      const manifest = catalogs.of(target).manifest(backupId);
      if (!manifest) throw stopFailure('MissingManifest', `backup ${backupId} is not in the catalog`);
      const dir = options.dir ?? target.root;
      const inScope = (p: string) =>
        !options.paths || options.paths.some((q) => p === q || p.startsWith(`${q}/`));
      const want = manifest.files.filter((f) => inScope(f.path));
      const problems: string[] = [];
      const beat = heartbeater();
      let databases = 0;
      // A database restored in the bytes a verification of its archive found sound keeps that check
      // (databaseChecks.ts), unless a journal or WAL with content beside it changes what SQLite reads
      // (an empty WAL and the shared-memory file, left by an earlier check of a WAL database, do not).
      const catalog = catalogs.of(target);
      const soundBefore = checkedBefore((id) => {
        const e = catalog.get(id);
        return e ? { ok: e.verifyOk === 1, report: e.verifyReport } : undefined;
      });
      let reused = 0;
      let checked = 0;
      /** Records what was found of a file (undefined: nothing). */
      const compare = (f: { path: string; sha256: string }, found: { sha256: string } | undefined) => {
        beat({ phase: 'verify', files: (checked += 1), total: want.length });
        if (!found) problems.push(`${f.path} is missing`);
        else if (found.sha256 !== f.sha256) problems.push(`${f.path} differs from the backup`);
      };
      const missing = (err: NodeJS.ErrnoException) => {
        if (err.code === 'ENOENT') return undefined;
        throw err;
      };
      // Small files synchronously (files.ts hashFileSync), a few hundred per turn of the event loop
      // so that heartbeats go on; larger ones and databases a few at a time through the pool, whose
      // threads read in parallel.
      const small = Buffer.allocUnsafe(SMALL_FILE + 1);
      let inTurn = 0;
      const checking = new Bounded(16);
      for (const f of want) {
        const abs = path.join(dir, ...f.path.split('/'));
        if (f.kind === 'file' && f.size <= SMALL_FILE) {
          let found;
          try {
            found = hashFileSync(abs, small);
          } catch (err) {
            found = missing(err as NodeJS.ErrnoException);
          }
          compare(f, found);
          if (++inTurn % 256 === 0) await new Promise<void>((resolve) => setImmediate(resolve));
          continue;
        }
        await checking.add(async () => {
          const found = await hashFile(abs).catch(missing);
          compare(f, found);
          if (found && f.kind === 'sqlite') {
            databases += 1;
            if (found.sha256 === f.sha256 && soundBefore(f) && !(await journalled(abs)))
              return void (reused += 1);
            const integrity = await integrityCheck(abs);
            if (integrity !== 'ok') problems.push(`${f.path}: integrity check: ${integrity}`);
          }
        });
      }
      await checking.drain();
      problems.sort();
      if (!options.paths) {
        // A folder that is not there holds nothing unlisted (its files are reported missing).
        const unlisted = await unlistedFiles(dir, new Set(want.map((f) => f.path))).catch(
          (err: NodeJS.ErrnoException) => {
            if (err.code === 'ENOENT') return [];
            throw err;
          },
        );
        for (const p of unlisted) problems.push(`${p} is not in the backup`);
      }
      if (problems.length)
        throw stopFailure(
          'IntegrityFailure',
          `the restored root does not match backup ${backupId}: ${problems.slice(0, 10).join('; ')}`,
        );
      return { files: want.length, databases, databasesCheckedBefore: reused };
    },
  };
}

/** verifyRestoredRoot reads files up to this size synchronously (most of 100,000 small files). */
const SMALL_FILE = 64 * 1024;

/** Whether a rollback journal or a WAL with content lies beside the database `file`. */
async function journalled(file: string): Promise<boolean> {
  for (const side of ['-journal', '-wal']) {
    const st = await fsp.stat(`${file}${side}`).catch(() => undefined);
    if (st && st.size > 0) return true;
  }
  return false;
}
