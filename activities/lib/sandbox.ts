/**
 * Drill sandboxes (drDrill): a copy of a target's production paths in which a disaster is simulated
 * and recovered from, and the derived target that names it.
 *
 * A sandbox is `<drill.directory>/<drillId>/`. Every production path of the target is copied to
 * `<sandbox>/fs/<absolute path>` (a mirror: `/srv/app/data` becomes `<sandbox>/fs/srv/app/data`),
 * with file modes and mtimes kept. SQLite databases are copied with their WAL or journal while the
 * files stay quiet (else through the Online Backup API), so each copy is consistent. Backup archives
 * (`*.lbk`, immutable and only ever replaced by rename) are hard-linked. `sandbox.json`, written
 * last and atomically, records the base target, the mapping, the approvals and when it was made; a
 * sandbox without it is unfinished and is made again.
 *
 * Production is only read: nothing here writes, renames, chmods or touches a production path.
 *
 * The derived target `<target>@drill-<drillId>` (target names cannot hold '@') is the base target
 * with every path rebased into the sandbox, the drill's own commands instead of the target's, and
 * the gates the drill's approvals call for (see `deriveTarget`).
 */
import Database from 'better-sqlite3';
import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import type { DrillScenario } from '../../common/drill';
import type { GatePolicy } from '../../common/types';
import { productionPaths, type DrillSettings, type TargetConfig } from '../../config';
import { heartbeater } from './context';
import { writeFileAtomic } from './files';
import { isSqlite } from './sqlite';
import { isWithin } from '../../config/sections';

export const SANDBOX_RECORD = 'sandbox.json';
/** Where a drill writes down the disaster it simulated (see activities/drillDisaster.ts). */
export const DISASTER_RECORD = 'disaster.json';

/** `<target>@drill-<drillId>`; the drill id has no dots, so it cannot climb out of the drill directory. */
const DRILL_TARGET = /^([A-Za-z0-9][A-Za-z0-9._-]{0,63})@drill-([A-Za-z0-9][A-Za-z0-9_-]{0,63})$/;
const DRILL_ID = /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/;

/** Copied with their database; `-shm` is not copied (SQLite rebuilds it from the WAL). */
const DATABASE_SIDECARS = ['-wal', '-journal'];
const SHARED_MEMORY = '-shm';

export type DrillApprovals = 'automatic' | 'people';

export interface SandboxMapping {
  production: string;
  sandbox: string;
  kind: 'directory' | 'file' | 'missing';
  files: number;
  bytes: number;
  /** Backup archives hard-linked rather than copied. */
  linked: number;
  databases: number;
}

export interface SandboxRecord {
  kind: 'lifeboat.drillSandbox';
  version: 1;
  drillId: string;
  /** The base target, and the derived target's name. */
  target: string;
  derivedTarget: string;
  scenario: DrillScenario;
  /** The recovery runbook the drill runs against the sandbox, and its gates. */
  runbook: string;
  gates: string[];
  approvals: DrillApprovals;
  createdAt: string;
  createdBy: string;
  mapping: SandboxMapping[];
  /** What was not copied, and why (links, special files, another run's lock or scratch files). */
  skipped: { path: string; reason: string }[];
  /** Restore scenarios: the newest backup at the time the sandbox was made (its archives are in it). */
  backup?: { id: string; createdAt: string; manifestSha256: string; chain: string[] };
}

export function isDrillId(id: string): boolean {
  return DRILL_ID.test(id);
}

export function drillTargetName(base: string, drillId: string): string {
  return `${base}@drill-${drillId}`;
}

/** The base target and drill id of a derived target's name, or undefined for any other name. */
export function parseDrillTargetName(name: string): { base: string; drillId: string } | undefined {
  const m = DRILL_TARGET.exec(name);
  return m ? { base: m[1], drillId: m[2] } : undefined;
}

export function sandboxDir(drill: DrillSettings, drillId: string): string {
  if (!isDrillId(drillId)) throw new Error(`'${drillId}' is not a drill id`);
  return path.join(drill.directory, drillId);
}

/** Where a production path lives in the sandbox: `<sandbox>/fs/<absolute path>`. */
export function sandboxPath(sandbox: string, production: string): string {
  const parts = path
    .resolve(production)
    .replace(/^([A-Za-z]):/, '$1')
    .split(/[\\/]+/)
    .filter(Boolean);
  return path.join(sandbox, 'fs', ...parts);
}

/** Reads `<sandbox>/sandbox.json` (synchronously: target lookups are synchronous). */
export function readSandboxRecord(sandbox: string): SandboxRecord {
  const file = path.join(sandbox, SANDBOX_RECORD);
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new Error(
      code === 'ENOENT'
        ? `${file} does not exist (the sandbox was never finished, or was removed)`
        : `cannot read ${file}: ${(err as Error).message}`,
    );
  }
  const record = JSON.parse(text) as SandboxRecord;
  if (record.kind !== 'lifeboat.drillSandbox' || record.version !== 1)
    throw new Error(`${file} is not a Lifeboat drill sandbox record`);
  return record;
}

/**
 * The derived target of a drill: the base target with every path rebased into the sandbox, the
 * drill's commands (`{sandbox}` replaced) instead of the target's, a `directory` driver store rebased
 * (a pnputil one is the machine's own: none), no `drill` section, gates by the drill's approvals:
 * `automatic` opens every gate of the recovery runbook at once, `people` keeps the target's
 * policies. The encryption keys, the health URL and driver restoreSets are the target's (only read).
 */
export function deriveTarget(base: TargetConfig, record: SandboxRecord, sandbox: string): TargetConfig {
  const drill = base.drill!;
  const at = (p: string) => sandboxPath(sandbox, p);
  const maybe = (p: string | undefined) => (p === undefined ? undefined : at(p));
  const commands = Object.fromEntries(
    Object.entries(drill.commands).map(([name, command]) => [
      name,
      { ...command, argv: command.argv.map((arg) => arg.split('{sandbox}').join(sandbox)) },
    ]),
  );
  const drivers = base.driverStore?.adapter === 'directory' ? base.driverStore : undefined;
  const automatic: Partial<GatePolicy> = { automatic: true };
  const gates =
    record.approvals === 'people'
      ? base.gates
      : Object.fromEntries(
          [...new Set([...record.gates, ...Object.keys(base.gates)])].map((g) => [g, automatic]),
        );
  return {
    ...base,
    name: drillTargetName(base.name, record.drillId),
    description: `drill ${record.drillId} of target '${base.name}' (${record.scenario}), sandbox ${sandbox}`,
    root: maybe(base.root),
    repository: maybe(base.repository),
    offsite: maybe(base.offsite),
    restoreInto: Object.fromEntries(Object.entries(base.restoreInto).map(([name, dir]) => [name, at(dir)])),
    store: base.store && {
      primary: at(base.store.primary),
      backups: at(base.store.backups),
      quarantine: at(base.store.quarantine),
    },
    configFile: base.configFile && {
      ...base.configFile,
      file: at(base.configFile.file),
      backups: at(base.configFile.backups),
      default: maybe(base.configFile.default),
      quarantine: at(base.configFile.quarantine),
    },
    auditChain: base.auditChain && {
      file: at(base.auditChain.file),
      backups: at(base.auditChain.backups),
      quarantine: at(base.auditChain.quarantine),
    },
    panic: base.panic && {
      flag: at(base.panic.flag),
      ledger: at(base.panic.ledger),
      ledgerBackups: at(base.panic.ledgerBackups),
      proofs: at(base.panic.proofs),
      recoveryProofs: at(base.panic.recoveryProofs),
    },
    driverStore: drivers && {
      ...drivers,
      store: maybe(drivers.store),
      devices: maybe(drivers.devices),
      backups: at(drivers.backups),
      updates: at(drivers.updates),
    },
    commands,
    gates,
    drill: undefined,
    catalogName: base.catalogName ?? base.name,
    sandbox,
    // A new host after a host loss has a catalog of its own, empty until it adopts the offsite copy.
    ownCatalog: record.scenario === 'hostLoss' ? path.join(sandbox, 'catalog.sqlite') : undefined,
  };
}

/**
 * The production paths a sandbox copies: every production path of the target but the driver store
 * (never sandboxed) and the restoreInto folders (earlier inspection restores, not state; they are
 * created empty), plus a compiled-in default config that lies elsewhere. A path inside another is
 * copied with it.
 */
export function sandboxSources(target: TargetConfig): { copy: string[]; empty: string[] } {
  const excluded = new Set(
    [target.driverStore?.store, target.driverStore?.backups, ...Object.values(target.restoreInto)].filter(
      (p): p is string => p !== undefined,
    ),
  );
  const wanted = productionPaths(target).filter((p) => !excluded.has(p));
  if (target.configFile?.default) wanted.push(target.configFile.default);
  const copy: string[] = [];
  for (const p of [...new Set(wanted)].sort((a, b) => a.length - b.length)) {
    if (!copy.some((q) => isWithin(p, q))) copy.push(p);
  }
  const empty = Object.values(target.restoreInto).filter((p) => !copy.some((q) => isWithin(p, q)));
  return { copy: copy.sort(), empty };
}

interface CloneContext {
  mapping: SandboxMapping;
  skipped: { path: string; reason: string }[];
  /** Backup repositories: their archives are linked, their lock and scratch files skipped. */
  repositories: Set<string>;
  beat: (details: Record<string, unknown>) => void;
}

/** Another run's lock or unfinished work in a repository: not part of the state a drill recovers. */
function repositoryScratch(name: string): boolean {
  return name === '.lifeboat.lock' || name.startsWith('.lifeboat-') || name.endsWith('.partial');
}

async function keepMetadata(to: string, st: fs.Stats): Promise<void> {
  await fsp.chmod(to, st.mode & 0o7777);
  // Seconds as a number keep the sub-millisecond part (a Date would drop it).
  await fsp.utimes(to, st.atimeMs / 1000, st.mtimeMs / 1000);
}

/** Copies a file's bytes (a copy-on-write clone where the file system can), its mode and its mtime. */
async function copyRegular(from: string, to: string): Promise<fs.Stats> {
  const st = await fsp.stat(from);
  await fsp.rm(to, { force: true });
  await fsp.copyFile(from, to, fs.constants.COPYFILE_FICLONE);
  await keepMetadata(to, st);
  return st;
}

type Stamp = { size: number; mtimeMs: number; ino: number } | undefined;

async function stampsOf(file: string): Promise<Stamp[]> {
  return Promise.all(
    ['', ...DATABASE_SIDECARS].map(async (suffix) => {
      const st = await fsp.stat(`${file}${suffix}`).catch(() => undefined);
      return st && { size: st.size, mtimeMs: st.mtimeMs, ino: st.ino };
    }),
  );
}

const sameStamps = (a: Stamp[], b: Stamp[]) => JSON.stringify(a) === JSON.stringify(b);

/**
 * A consistent copy of a SQLite database: the file with its WAL or journal, read while none of them
 * changes (a quiet file: SQLite itself makes the copy consistent when it is opened). A database
 * still written to after a few tries is copied through the Online Backup API instead.
 */
async function copyDatabase(from: string, to: string): Promise<{ bytes: number; method: string }> {
  for (let attempt = 1; attempt <= 5; attempt += 1) {
    const before = await stampsOf(from);
    let bytes = 0;
    for (const [i, suffix] of ['', ...DATABASE_SIDECARS].entries()) {
      if (before[i]) bytes += (await copyRegular(`${from}${suffix}`, `${to}${suffix}`)).size;
      else await fsp.rm(`${to}${suffix}`, { force: true });
    }
    if (sameStamps(before, await stampsOf(from))) return { bytes, method: 'quiet copy' };
    await new Promise((r) => setTimeout(r, 100 * attempt));
  }
  for (const suffix of ['', ...DATABASE_SIDECARS, SHARED_MEMORY])
    await fsp.rm(`${to}${suffix}`, { force: true });
  const st = await fsp.stat(from);
  const db = new Database(from, { readonly: true, fileMustExist: true });
  try {
    await db.backup(to);
  } finally {
    db.close();
  }
  await keepMetadata(to, st);
  return { bytes: (await fsp.stat(to)).size, method: 'online backup' };
}

/** Hard-links an archive (immutable: replaced only by rename); a copy where links cannot be made. */
async function linkArchive(from: string, to: string): Promise<boolean> {
  await fsp.rm(to, { force: true });
  try {
    await fsp.link(from, to);
    return true;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'EXDEV' && code !== 'EPERM' && code !== 'EMLINK' && code !== 'ENOTSUP') throw err;
    await copyRegular(from, to);
    return false;
  }
}

async function cloneFile(from: string, to: string, ctx: CloneContext, database: boolean): Promise<void> {
  const { mapping } = ctx;
  if (database) {
    const copied = await copyDatabase(from, to);
    mapping.databases += 1;
    mapping.bytes += copied.bytes;
  } else if (ctx.repositories.has(path.dirname(from)) && from.endsWith('.lbk')) {
    if (await linkArchive(from, to)) mapping.linked += 1;
    mapping.bytes += (await fsp.stat(to)).size;
  } else {
    mapping.bytes += (await copyRegular(from, to)).size;
  }
  mapping.files += 1;
  ctx.beat({ phase: 'sandbox', files: mapping.files, bytes: mapping.bytes, current: from });
}

async function cloneDirectory(from: string, to: string, ctx: CloneContext): Promise<void> {
  const st = await fsp.stat(from);
  await fsp.mkdir(to, { recursive: true });
  const entries = await fsp.readdir(from, { withFileTypes: true });
  const databases = new Set<string>();
  for (const entry of entries) {
    if (entry.isFile() && (await isSqlite(path.join(from, entry.name)))) databases.add(entry.name);
  }
  const inRepository = ctx.repositories.has(from);
  for (const entry of entries) {
    const source = path.join(from, entry.name);
    const dest = path.join(to, entry.name);
    if (entry.isDirectory()) {
      await cloneDirectory(source, dest, ctx);
      continue;
    }
    if (!entry.isFile()) {
      ctx.skipped.push({
        path: source,
        reason: entry.isSymbolicLink()
          ? 'a symbolic link (a sandbox never points back into production)'
          : 'not a regular file',
      });
      continue;
    }
    const sidecar = [...DATABASE_SIDECARS, SHARED_MEMORY].find(
      (s) => entry.name.endsWith(s) && databases.has(entry.name.slice(0, -s.length)),
    );
    if (sidecar) continue; // copied with its database (or, -shm, rebuilt by SQLite)
    if (inRepository && repositoryScratch(entry.name)) {
      ctx.skipped.push({ path: source, reason: "another run's lock or unfinished work in the repository" });
      continue;
    }
    await cloneFile(source, dest, ctx, databases.has(entry.name));
  }
  // Last: writing its entries changed the folder's mtime.
  await keepMetadata(to, st);
}

/**
 * Copies every source path of `target` into `<sandbox>/fs/...` (see the module comment) and
 * returns the mapping and what was skipped. `sandbox` must be new or empty of finished work.
 */
export async function cloneIntoSandbox(
  target: TargetConfig,
  sandbox: string,
): Promise<{ mapping: SandboxMapping[]; skipped: { path: string; reason: string }[] }> {
  const { copy, empty } = sandboxSources(target);
  const repositories = new Set([target.repository, target.offsite].filter((p): p is string => !!p));
  const skipped: { path: string; reason: string }[] = [];
  const beat = heartbeater();
  const mapping: SandboxMapping[] = [];
  for (const production of copy) {
    const dest = sandboxPath(sandbox, production);
    const entry: SandboxMapping = {
      production,
      sandbox: dest,
      kind: 'missing',
      files: 0,
      bytes: 0,
      linked: 0,
      databases: 0,
    };
    mapping.push(entry);
    const st = await fsp.lstat(production).catch(() => undefined);
    const ctx: CloneContext = { mapping: entry, skipped, repositories, beat };
    if (!st) continue;
    if (st.isDirectory()) {
      entry.kind = 'directory';
      await cloneDirectory(production, dest, ctx);
    } else if (st.isFile()) {
      entry.kind = 'file';
      await fsp.mkdir(path.dirname(dest), { recursive: true });
      await cloneFile(production, dest, ctx, await isSqlite(production));
    } else {
      skipped.push({ path: production, reason: 'not a regular file or folder' });
    }
  }
  for (const production of empty) {
    const dest = sandboxPath(sandbox, production);
    await fsp.mkdir(dest, { recursive: true });
    mapping.push({
      production,
      sandbox: dest,
      kind: 'directory',
      files: 0,
      bytes: 0,
      linked: 0,
      databases: 0,
    });
  }
  return { mapping, skipped };
}

/** Writes the sandbox's record last: from then on the derived target resolves. */
export async function writeSandboxRecord(sandbox: string, record: SandboxRecord): Promise<void> {
  await writeFileAtomic(path.join(sandbox, SANDBOX_RECORD), `${JSON.stringify(record, null, 2)}\n`);
}
