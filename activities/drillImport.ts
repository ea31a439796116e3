/**
 * The projectImport drill (procedure 003 §3.3 project-level export, §12 "imports follow restore
 * protocol"), in the sandbox only: the disaster exports the first project of the sandbox's root to
 * the first export destination (the sandbox's copy of it), writes down the project's state before
 * the disaster (every file's SHA-256, mode and mtime, every database's schema and rows), then loses
 * the project's folder; importScope brings it back from the export; the outcome checks compare the
 * project's folder with the state written down.
 */
import Database from 'better-sqlite3';
import { createHash } from 'node:crypto';
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import type { TargetConfig } from '../config';
import type { RecoveryReport } from './drillChecks';
import { stopFailure } from './errors';
import { SCOPE_FOLDERS, SCOPE_ID } from './exportShared';
import type { ExportRequest, ExportSummary } from './exports';
import { exists, hashFile, writeFileAtomic } from './lib/files';
import { check, fieldOf, integrityOf, listTree, type ScenarioChecks } from './lib/sandboxChecks';
import { SQLITE_SIDECARS, isSqlite } from './lib/sqlite';

/** Where the project's state before the disaster is written down, in the sandbox. */
export const PROJECT_BEFORE = 'project-before.json';

/** What the projectImport disaster exported: the child's input (`from`, `exportId`) and the project. */
export interface ProjectExport {
  from: string;
  exportId: string;
  project: string;
}

/** writeExport (activities/exports.ts) bound to the worker's config. */
export type WriteExport = (
  targetName: string,
  options: ExportRequest & { exportId: string; createdBy: string },
) => Promise<ExportSummary>;

interface FileState {
  sha256: string;
  mode: number;
  mtimeMs: number;
  /** Databases: the SHA-256 of their schema and rows (their bytes may differ once snapshotted). */
  content?: string;
}

interface ProjectBefore extends ProjectExport {
  /** When the state was taken, just before the export: the data recovered is at least this new. */
  takenAt: string;
  /** Every file of `projects/<id>` (but SQLite's sidecars), relative to the root. */
  files: Record<string, FileState>;
}

/** A database's schema and rows, hashed, read from a scratch copy (with its WAL). */
async function contentOf(file: string, scratchDir: string): Promise<string> {
  await fsp.mkdir(scratchDir, { recursive: true });
  const scratch = await fsp.mkdtemp(path.join(scratchDir, 'content-'));
  try {
    const copy = path.join(scratch, 'content.db');
    await fsp.copyFile(file, copy);
    if (await exists(`${file}-wal`)) await fsp.copyFile(`${file}-wal`, `${copy}-wal`);
    const db = new Database(copy, { fileMustExist: true });
    try {
      const hash = createHash('sha256');
      const tables = db
        .prepare(
          "SELECT name, sql FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name",
        )
        .all() as { name: string; sql: string }[];
      for (const t of tables) {
        hash.update(`${t.sql}\n`);
        const rows = db
          .prepare(`SELECT * FROM "${t.name.replace(/"/g, '""')}"`)
          .raw()
          .all()
          .map((r) => JSON.stringify(r, (_k, v: unknown) => (Buffer.isBuffer(v) ? v.toString('base64') : v)))
          .sort();
        for (const r of rows) hash.update(`${r}\n`);
      }
      return hash.digest('hex');
    } finally {
      db.close();
    }
  } catch (err) {
    return `unreadable: ${(err as Error).message}`;
  } finally {
    await fsp.rm(scratch, { recursive: true, force: true });
  }
}

/** The state of the project's folder: its files (relative to the root) but SQLite's sidecars. */
async function projectState(
  root: string,
  project: string,
  scratch: string,
): Promise<Record<string, FileState>> {
  const scopePath = `${SCOPE_FOLDERS.project}/${project}`;
  const dir = path.join(root, SCOPE_FOLDERS.project, project);
  const out: Record<string, FileState> = {};
  for (const rel of await listTree(dir)) {
    if (SQLITE_SIDECARS.some((s) => rel.endsWith(s))) continue;
    const abs = path.join(dir, ...rel.split('/'));
    const st = await fsp.stat(abs);
    const database = await isSqlite(abs).catch(() => false);
    out[`${scopePath}/${rel}`] = {
      sha256: (await hashFile(abs)).sha256,
      mode: st.mode & 0o7777,
      mtimeMs: st.mtimeMs,
      ...(database ? { content: await contentOf(abs, scratch) } : {}),
    };
  }
  return out;
}

/**
 * The disaster: the first project of the sandbox's root exported to the first export destination,
 * its state written down, then its folder lost. Each part is repeated safely after a crash: the
 * state (and the project chosen) is read back, the export is found written.
 */
export async function exportAndLoseProject(
  target: TargetConfig,
  sandbox: string,
  drillId: string,
  writeExport: WriteExport,
): Promise<{ actions: string[]; exported: ProjectExport }> {
  const root = target.root!;
  const beforeFile = path.join(sandbox, PROJECT_BEFORE);
  let before: ProjectBefore;
  if (await exists(beforeFile)) before = JSON.parse(await fsp.readFile(beforeFile, 'utf8')) as ProjectBefore;
  else {
    const from = Object.keys(target.exports ?? {})[0];
    const folder = path.join(root, SCOPE_FOLDERS.project);
    const projects = (await fsp.readdir(folder, { withFileTypes: true }).catch(() => []))
      .filter((e) => e.isDirectory() && SCOPE_ID.test(e.name))
      .map((e) => e.name)
      .sort();
    if (!from || projects.length === 0)
      throw stopFailure(
        'AmbiguousTarget',
        from
          ? `the sandbox root ${root} holds no project (${SCOPE_FOLDERS.project}/<id>) to export; a projectImport drill needs a root with a project`
          : `the target has no export destination ('exports'); a projectImport drill exports a project there first`,
      );
    const project = projects[0];
    const exportId = `drill-${drillId}-project-${project}`.replace(/[^A-Za-z0-9._-]/g, '_').slice(0, 128);
    before = {
      from,
      exportId,
      project,
      takenAt: new Date().toISOString(),
      files: await projectState(root, project, path.join(sandbox, 'scratch')),
    };
    await writeFileAtomic(beforeFile, `${JSON.stringify(before, null, 2)}\n`);
  }
  const { from, exportId, project } = before;
  const dir = path.join(root, SCOPE_FOLDERS.project, project);
  const actions: string[] = [];
  if (await exists(dir)) {
    const summary = await writeExport(target.name, {
      project,
      to: from,
      exportId,
      createdBy: `drill ${drillId}`,
    });
    actions.push(
      `exported project '${project}' (${summary.files} files) to the sandbox's export destination '${from}': ${summary.archive}`,
    );
    await fsp.rm(dir, { recursive: true, force: true });
  } else
    actions.push(`project '${project}' was exported as ${exportId} to the destination '${from}' already`);
  actions.push(`lost the project's folder ${dir} (deleted)`);
  return { actions, exported: { from, exportId, project } };
}

/**
 * The project's folder after the import, against its state before the disaster: the same files with
 * the same SHA-256 (databases: the same schema and rows, and `PRAGMA integrity_check` ok), modes and
 * mtimes, no file it did not have; and the import was of the drill's export.
 */
export async function projectImportChecks(
  target: TargetConfig,
  sandbox: string,
  recovery: RecoveryReport,
): Promise<ScenarioChecks> {
  const beforeFile = path.join(sandbox, PROJECT_BEFORE);
  if (!(await exists(beforeFile)))
    return {
      checks: [check('projectRestored', false, `${beforeFile} is missing: no state to compare with`)],
    };
  const before = JSON.parse(await fsp.readFile(beforeFile, 'utf8')) as ProjectBefore;
  const scratch = path.join(sandbox, 'scratch');
  const now = await projectState(target.root!, before.project, scratch);
  const few = (list: string[]) => `${list.slice(0, 5).join(', ')}${list.length > 5 ? ', …' : ''}`;
  const missing: string[] = [];
  const differ: string[] = [];
  const metadata: string[] = [];
  const contents: string[] = [];
  const damaged: string[] = [];
  let databases = 0;
  for (const [p, was] of Object.entries(before.files)) {
    const is = now[p];
    if (!is) {
      missing.push(p);
      continue;
    }
    if (was.content !== undefined) {
      databases += 1;
      if (is.content !== was.content) contents.push(p);
      const integrity = await integrityOf(path.join(target.root!, ...p.split('/')), scratch);
      if (integrity !== 'ok') damaged.push(`${p}: ${integrity}`);
    } else if (is.sha256 !== was.sha256) differ.push(p);
    if (is.mode !== was.mode || Math.abs(is.mtimeMs - was.mtimeMs) >= 1) metadata.push(p);
  }
  const added = Object.keys(now).filter((p) => !(p in before.files));
  const scopePath = `${SCOPE_FOLDERS.project}/${before.project}`;
  const total = Object.keys(before.files).length;
  const importedId = fieldOf<string>(recovery.result, 'exportId');
  const importedPath = fieldOf<string>(recovery.result, 'path');
  const ofDrill = importedId === before.exportId && importedPath === scopePath;
  const checks = [
    check(
      'importedFromExport',
      ofDrill,
      ofDrill
        ? `importScope imported ${scopePath} from export ${before.exportId} in the sandbox's destination '${before.from}'`
        : `importScope imported ${importedPath ?? '(nothing)'} from ${importedId ?? '(no export)'}, not ${scopePath} from ${before.exportId}`,
    ),
    check(
      'projectFilesRestored',
      missing.length === 0 && differ.length === 0 && added.length === 0,
      missing.length || differ.length || added.length
        ? `${missing.length} file(s) missing (${few(missing)}), ${differ.length} differ (${few(differ)}), ${added.length} not there before (${few(added)})`
        : `all ${total} files of ${scopePath} are back with the SHA-256 they had before the disaster (databases by content), and no other`,
    ),
    check(
      'projectDatabasesRestored',
      contents.length === 0 && damaged.length === 0,
      contents.length || damaged.length
        ? `${contents.length} database(s) hold other rows than before (${few(contents)}); ${damaged.length} fail PRAGMA integrity_check (${few(damaged)})`
        : `all ${databases} database(s) of ${scopePath} hold the schema and rows they held before the disaster, and pass PRAGMA integrity_check`,
    ),
    check(
      'projectModesAndMtimes',
      metadata.length === 0,
      metadata.length
        ? `${metadata.length} file(s) have another mode or mtime than before: ${few(metadata)}`
        : 'every file has the mode and mtime it had before the disaster',
    ),
  ];
  const dataAsOf = fieldOf<string>(recovery.result, 'createdAt') ?? before.takenAt;
  return { checks, backup: { id: before.exportId, createdAt: dataAsOf }, dataAsOf };
}
