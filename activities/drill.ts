/**
 * Activities of drDrill (procedure 004 "Disaster Recovery Drill", 003 §8 and §14, 001 §6): check
 * that a scenario fits the target, make the sandbox (activities/lib/sandbox.ts), simulate the
 * disaster in it, and verify the outcome checklist of the procedure once the recovery runbook has
 * run against the sandbox. Signing the proof and recording the drill are in drillProof.ts.
 *
 * Everything here acts on the sandbox only; production paths are read once, to copy them.
 * The sandbox is never removed: it is the drill's evidence (remove `<drill.directory>/<drillId>`
 * by hand when it is no longer needed).
 */
import { Context } from '@temporalio/activity';
import Database from 'better-sqlite3';
import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import { DRILL_SCENARIOS, type DrillCheck, type DrillProof, type DrillScenario } from '../common/drill';
import type { LifeboatConfig, Objectives, TargetConfig } from '../config';
import { createAuditChainActivities } from './auditChain';
import { configParseProblem, createConfigFileActivities, listDatedFiles } from './configFile';
import { invalidInput, stopFailure } from './errors';
import { Catalog, manifestDigest } from './lib/catalog';
import { entryTime, splitJsonLines } from './lib/chain';
import { heartbeat, withHeartbeats } from './lib/context';
import { acquireLock, breakLock, releaseLock, type LockResult } from './lib/lock';
import { exists, hashFile, writeFileAtomic } from './lib/files';
import {
  DISASTER_RECORD,
  cloneIntoSandbox,
  drillTargetName,
  isDrillId,
  readSandboxRecord,
  sandboxDir,
  writeSandboxRecord,
  type DrillApprovals,
  type SandboxRecord,
} from './lib/sandbox';
import { createPanicActivities } from './panic';
import { createStoreActivities, listBackups } from './store';
import { findTarget } from './targets';
import { isWithin } from '../config/sections';

const SQLITE_HEADER = Buffer.from('SQLite format 3\0');
const SIDECARS = ['-wal', '-shm', '-journal'];
const DAMAGE = Buffer.from('LIFEBOAT DRILL: SIMULATED DAMAGE. ');
/** Scenarios whose recovery is a restore of the target's newest backup. */
const RESTORE_SCENARIOS: DrillScenario[] = ['corruptFiles', 'fullRestore', 'hostLoss'];

export interface DrillPlan {
  scenario: DrillScenario;
  runbook: string;
  /** Every scenario the target (with its drill's commands) can run. */
  fits: DrillScenario[];
  objectives: Objectives;
}

export interface SandboxSummary {
  drillId: string;
  sandbox: string;
  /** The target the recovery runbook is started against: `<target>@drill-<drillId>`. */
  derivedTarget: string;
  createdAt: string;
  approvals: DrillApprovals;
  files: number;
  bytes: number;
  linked: number;
  databases: number;
  paths: { production: string; sandbox: string; kind: string }[];
  /** What was not copied (the first 20; sandbox.json lists all), and how many. */
  skipped: { path: string; reason: string }[];
  skippedTotal: number;
  /** Restore scenarios: the backup the recovery restores (pinned when the sandbox was made). */
  backup?: SandboxRecord['backup'];
}

export interface DisasterReport {
  scenario: DrillScenario;
  /** When the simulated disaster was complete: the start of the RTO clock. */
  disasterAt: string;
  /** What was done, in the operator's words. */
  actions: string[];
  /** corruptFiles: the files damaged, relative to the root. */
  damaged: { path: string; how: 'bytes overwritten' | 'deleted' }[];
}

/** How the recovery runbook (the child workflow) ended. */
export interface RecoveryReport {
  runbook: string;
  workflowId: string;
  state: 'completed' | 'stopped' | 'failed';
  outcome?: string;
  /** The runbook's result, when it completed. */
  result?: unknown;
  /** Why it stopped or failed. */
  error?: string;
}

export interface DrillOutcome {
  checks: DrillCheck[];
  /** When the checks were done: the end of the RTO clock. */
  verifiedAt: string;
  /** The time of the data recovered (the backup's), for the RPO. */
  dataAsOf?: string;
  backup?: DrillProof['backup'];
}

/** What a recovery runbook's `outcome` must be for the disaster to count as recovered. */
const RECOVERED: Record<string, string | undefined> = {
  panicRecovery: 'recovered',
  corruptedStoreRecovery: 'restored',
  corruptedConfigRecovery: 'restoredBackup',
  auditChainRecovery: 'restored',
  restore: undefined,
};

const check = (name: string, ok: boolean, detail: string): DrillCheck => ({ name, ok, detail });

function errorText(err: unknown): string {
  return (err as Error)?.message ?? String(err);
}

function fieldOf<T>(value: unknown, key: string): T | undefined {
  return typeof value === 'object' && value !== null
    ? ((value as Record<string, unknown>)[key] as T | undefined)
    : undefined;
}

function describeRequirement(target: string, section: string): string {
  if (section.startsWith('commands.')) {
    const name = section.slice('commands.'.length);
    return `the command '${name}' in its drill's commands (targets.${target}.drill.commands.${name}; a drill never runs the target's own commands, which act on production)`;
  }
  if (section === 'driverStore') return "a 'driverStore' section (a driver store is never sandboxed)";
  return `a '${section}' section`;
}

async function isSqlite(file: string): Promise<boolean> {
  const handle = await fsp.open(file, 'r').catch(() => undefined);
  if (!handle) return false;
  try {
    const buf = Buffer.alloc(16);
    const { bytesRead } = await handle.read(buf, 0, 16, 0);
    return bytesRead === 16 && buf.equals(SQLITE_HEADER);
  } finally {
    await handle.close();
  }
}

/** Regular files under `dir`, relative with forward slashes, sorted; a missing folder has none. */
async function listTree(dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (d: string): Promise<void> => {
    const entries = await fsp.readdir(d, { withFileTypes: true }).catch(() => []);
    for (const entry of entries) {
      const abs = path.join(d, entry.name);
      if (entry.isDirectory()) await walk(abs);
      else if (entry.isFile()) out.push(path.relative(dir, abs).split(path.sep).join('/'));
    }
  };
  await walk(dir);
  return out.sort();
}

/** `PRAGMA integrity_check` on a scratch copy (with its WAL), so the file itself stays as it is. */
async function integrityOf(file: string, scratchDir: string): Promise<string> {
  await fsp.mkdir(scratchDir, { recursive: true });
  const scratch = await fsp.mkdtemp(path.join(scratchDir, 'check-'));
  try {
    const copy = path.join(scratch, 'check.db');
    await fsp.copyFile(file, copy);
    if (await exists(`${file}-wal`)) await fsp.copyFile(`${file}-wal`, `${copy}-wal`);
    const db = new Database(copy, { fileMustExist: true });
    try {
      const rows = db.pragma('integrity_check') as { integrity_check: string }[];
      return rows.map((r) => r.integrity_check).join('; ');
    } finally {
      db.close();
    }
  } catch (err) {
    return `cannot be opened as a database: ${errorText(err)}`;
  } finally {
    await fsp.rm(scratch, { recursive: true, force: true });
  }
}

/**
 * Overwrites up to `length` bytes at `offset` (default: the middle) with a fixed pattern, so that
 * a retry does the same; bytes that already equal the pattern get its complement.
 */
async function overwriteBytes(file: string, offset?: number, length = 64): Promise<void> {
  // A read-only file (copied with production's mode) is made writable for the damage, then put back.
  const { mode } = await fsp.stat(file);
  if (!(mode & 0o200)) await fsp.chmod(file, (mode & 0o7777) | 0o200);
  const handle = await fsp.open(file, 'r+');
  try {
    const { size } = await handle.stat();
    if (size === 0) {
      await handle.write(DAMAGE, 0, DAMAGE.length, 0);
      return;
    }
    const at = Math.max(0, Math.min(offset ?? Math.floor(size / 2), size - 1));
    const n = Math.min(length, size - at);
    const original = Buffer.alloc(n);
    await handle.read(original, 0, n, at);
    const pattern = Buffer.alloc(n, DAMAGE);
    const replacement = pattern.equals(original) ? pattern.map((b) => ~b & 0xff) : pattern;
    await handle.write(replacement, 0, n, at);
    await handle.sync();
  } finally {
    await handle.close();
    if (!(mode & 0o200)) await fsp.chmod(file, mode & 0o7777);
  }
}

/** Damages a database's b-tree pages (the file still opens; `PRAGMA integrity_check` fails). */
async function damageDatabase(file: string): Promise<void> {
  const head = Buffer.alloc(18);
  const handle = await fsp.open(file, 'r');
  try {
    await handle.read(head, 0, 18, 0);
  } finally {
    await handle.close();
  }
  const raw = head.readUInt16BE(16);
  const pageSize = raw === 1 ? 65536 : raw || 4096;
  const { size } = await fsp.stat(file);
  await overwriteBytes(file, size > pageSize + 300 ? pageSize + 8 : 100, 256);
}

async function removeWithSidecars(file: string): Promise<boolean> {
  const had = await exists(file);
  for (const suffix of ['', ...SIDECARS]) await fsp.rm(`${file}${suffix}`, { force: true });
  return had;
}

function sandboxOf(target: TargetConfig): string {
  if (!target.sandbox) throw invalidInput(`target '${target.name}' is not a drill's sandbox target`);
  return target.sandbox;
}

function drillLockFolder(config: LifeboatConfig, targetName: string): string {
  const drill = findTarget(config, targetName).drill;
  if (!drill) throw invalidInput(`target '${targetName}' has no 'drill' section in the worker's config`);
  return path.join(drill.directory, 'locks', targetName);
}

export function createDrillActivities(config: LifeboatConfig, catalog?: Catalog) {
  let opened: Catalog | undefined;
  const backups = () => catalog ?? (opened ??= new Catalog(config.catalog, { readonly: true }));
  const store = createStoreActivities(config);
  const configFile = createConfigFileActivities(config);
  const chain = createAuditChainActivities(config);
  const panic = createPanicActivities(config);

  /** Sections (and drill commands) a recovery runbook needs that the target lacks in a drill. */
  function missingFor(target: TargetConfig, requires: string[]): string[] {
    return requires.filter((section) => {
      if (section.startsWith('commands.'))
        return target.drill?.commands[section.slice('commands.'.length)] === undefined;
      if (section === 'driverStore') return true;
      return (target as unknown as Record<string, unknown>)[section] === undefined;
    });
  }

  /**
   * The backup a restore drill restores: the newest; for a host-loss drill the newest whose whole
   * chain was copied offsite (the offsite copy is all that drill keeps).
   */
  function newestBackup(target: TargetConfig, scenario?: DrillScenario) {
    const listed = backups().list(target.catalogName ?? target.name);
    if (scenario !== 'hostLoss') return listed[0];
    const offsite = (id: string | null): boolean => {
      if (!id) return true;
      const entry = backups().get(id);
      return !!entry?.offsiteCopy && offsite(entry.parent);
    };
    return listed.find((e) => offsite(e.backupId));
  }

  // ---------- the checklist of each scenario ----------

  /** Host loss: the new host's own catalog was rebuilt from the offsite copy alone. */
  function adoptedCheck(target: TargetConfig, backupId: string | undefined): DrillCheck {
    if (!target.ownCatalog || !fs.existsSync(target.ownCatalog))
      return check('catalogRebuilt', false, 'the recovery left no catalog of its own in the sandbox');
    const own = new Catalog(target.ownCatalog, { readonly: true });
    try {
      const entries = own.list(target.catalogName ?? target.name);
      const restored = entries.find((e) => e.backupId === backupId);
      const fromOffsite = entries.filter((e) => target.offsite && isWithin(e.archive, target.offsite));
      const ok = !!restored && restored.origin === 'adopted' && fromOffsite.length === entries.length;
      return check(
        'catalogRebuilt',
        ok,
        ok
          ? `the empty catalog was rebuilt from the offsite copy alone: ${entries.length} backup(s) adopted (signatures, sizes, SHA-256 and manifests checked), ${backupId} among them`
          : `the sandbox's catalog lists ${entries.length} backup(s)${restored ? `, ${backupId} with origin '${restored.origin}'` : `, not ${backupId}`}; ${fromOffsite.length} of them from the offsite copy`,
      );
    } finally {
      own.close();
    }
  }

  async function restoreChecks(
    target: TargetConfig,
    sandbox: string,
    backupId: string | undefined,
    disaster: DisasterReport,
  ): Promise<{ checks: DrillCheck[]; backup?: DrillProof['backup']; dataAsOf?: string }> {
    const record = readSandboxRecord(sandbox);
    const pinned = record.backup;
    const id = backupId ?? pinned?.id;
    const manifest = id ? backups().manifest(id) : undefined;
    if (!id || !manifest) {
      return {
        checks: [check('filesRestored', false, `backup ${id ?? '(none)'} is not in the catalog`)],
      };
    }
    const root = target.root!;
    const scratch = path.join(sandbox, 'scratch');
    const missing: string[] = [];
    const differ: string[] = [];
    const metadata: string[] = [];
    const damagedDatabases: string[] = [];
    let databases = 0;
    for (const [i, f] of manifest.files.entries()) {
      if (i % 50 === 0) heartbeat({ phase: 'verify', files: i, total: manifest.files.length });
      const abs = path.join(root, ...f.path.split('/'));
      const st = await fsp.stat(abs).catch(() => undefined);
      if (!st) {
        missing.push(f.path);
        continue;
      }
      if ((await hashFile(abs)).sha256 !== f.sha256) differ.push(f.path);
      if ((st.mode & 0o7777) !== f.mode || Math.abs(st.mtimeMs - f.mtimeMs) >= 1) metadata.push(f.path);
      if (f.kind === 'sqlite') {
        databases += 1;
        const integrity = await integrityOf(abs, scratch);
        if (integrity !== 'ok') damagedDatabases.push(`${f.path}: ${integrity}`);
      }
    }
    const listed = new Set(manifest.files.map((f) => f.path));
    const sqlite = new Set(manifest.files.filter((f) => f.kind === 'sqlite').map((f) => f.path));
    const unlisted = (await listTree(root)).filter(
      (p) => !listed.has(p) && !SIDECARS.some((s) => p.endsWith(s) && sqlite.has(p.slice(0, -s.length))),
    );
    const few = (list: string[]) => `${list.slice(0, 5).join(', ')}${list.length > 5 ? ', …' : ''}`;
    const checks = [
      check(
        'filesRestored',
        missing.length === 0 && differ.length === 0,
        missing.length || differ.length
          ? `${missing.length} file(s) missing (${few(missing)}), ${differ.length} differ from backup ${id} (${few(differ)})`
          : `all ${manifest.files.length} files of backup ${id} are in ${root} with the SHA-256 its manifest recorded at backup time`,
      ),
      check(
        'noUnlistedFiles',
        unlisted.length === 0,
        unlisted.length
          ? `${unlisted.length} file(s) in the restored root are not in the backup: ${few(unlisted)}`
          : 'the restored root holds no file the backup does not list',
      ),
      check(
        'databaseIntegrity',
        damagedDatabases.length === 0,
        damagedDatabases.length
          ? `PRAGMA integrity_check failed: ${damagedDatabases.slice(0, 5).join('; ')}`
          : `PRAGMA integrity_check is ok on all ${databases} database(s)`,
      ),
      check(
        'modesAndMtimes',
        metadata.length === 0,
        metadata.length
          ? `${metadata.length} file(s) have another mode or mtime than the manifest: ${few(metadata)}`
          : 'every file has the mode and mtime the manifest recorded',
      ),
    ];
    if (disaster.scenario === 'corruptFiles') {
      const shaOf = new Map(manifest.files.map((f) => [f.path, f.sha256]));
      const unrepaired: string[] = [];
      for (const d of disaster.damaged) {
        const abs = path.join(root, ...d.path.split('/'));
        const want = shaOf.get(d.path);
        const present = await exists(abs);
        const ok = want === undefined ? !present : present && (await hashFile(abs)).sha256 === want;
        if (!ok) unrepaired.push(`${d.path} (${d.how})`);
      }
      checks.push(
        check(
          'damagedFilesRepaired',
          unrepaired.length === 0,
          unrepaired.length
            ? `still damaged: ${unrepaired.join(', ')}`
            : `every damaged file is back as backed up: ${disaster.damaged.map((d) => `${d.path} (${d.how})`).join(', ')}`,
        ),
      );
    }
    const entry = backups().get(id);
    const createdAt = manifest.createdAt ?? entry?.createdAt;
    return {
      checks,
      backup: {
        id,
        createdAt,
        manifestSha256: manifestDigest(entry, manifest),
      },
      dataAsOf: createdAt,
    };
  }

  async function panicChecks(
    target: TargetConfig,
    sandbox: string,
    recovery: RecoveryReport,
    disaster: DisasterReport,
  ): Promise<{ checks: DrillCheck[]; backup?: DrillProof['backup']; dataAsOf?: string }> {
    const settings = target.panic!;
    const result = recovery.result;
    const childChecks = fieldOf<{ name: string; ok: boolean; detail: string }[]>(result, 'checks') ?? [];
    const childCheck = (name: string) => childChecks.find((c) => c.name === name);
    const flagGone = !(await exists(settings.flag));
    const ledgerPresent = await exists(settings.ledger);
    const integrity = ledgerPresent
      ? await integrityOf(settings.ledger, path.join(sandbox, 'scratch'))
      : 'missing';
    const checks = [
      check(
        'panicFlagCleared',
        flagGone,
        flagGone ? `${settings.flag} is gone` : `${settings.flag} is still there`,
      ),
      check(
        'ledgerIntegrity',
        integrity === 'ok',
        integrity === 'ok'
          ? `${settings.ledger} passes PRAGMA integrity_check`
          : `${settings.ledger}: ${integrity === 'missing' ? 'the ledger is missing' : integrity}`,
      ),
    ];
    const ledger = fieldOf<{ action: string; backup?: string; sha256?: string }>(result, 'ledger');
    if (disaster.scenario === 'deleteLedger') {
      checks.push(
        check(
          'ledgerRestored',
          ledger?.action === 'restored',
          ledger?.action === 'restored'
            ? `the deleted ledger was restored from ${ledger.backup}`
            : `the recovery did not restore the deleted ledger (${ledger?.action ?? 'no ledger step'})`,
        ),
      );
    }
    const nonce = childCheck('nonceStoreRebuilt');
    checks.push(
      check(
        'nonceStoreRebuilt',
        nonce?.ok === true,
        nonce?.ok
          ? "the drill's 'rebuildNonceStore' command ran in the sandbox and succeeded"
          : 'the nonce store was not rebuilt',
      ),
    );
    let proofChain: DrillCheck;
    try {
      const verdict = await panic.verifyProofChain(target.name);
      proofChain = check(
        'proofChainContinuous',
        true,
        `${verdict.files} proof file(s), ${verdict.first} to ${verdict.last}, form an unbroken Merkle-root chain`,
      );
    } catch (err) {
      proofChain = check('proofChainContinuous', false, errorText(err));
    }
    checks.push(proofChain);
    let health: DrillCheck;
    try {
      const probe = await panic.probeHealth(target.name);
      health = check('healthy', true, `${probe.url} answered HTTP ${probe.status}`);
    } catch (err) {
      health = check('healthy', false, errorText(err));
    }
    checks.push(health);
    const started = childCheck('servicesStarted');
    checks.push(
      check(
        'servicesStarted',
        started?.ok === true,
        started?.ok ? "the drill's 'start' command succeeded" : 'the services were not started again',
      ),
    );
    const proof = fieldOf<{ path: string; sha256: string }>(result, 'proof');
    const proofOk =
      !!proof && (await exists(proof.path)) && (await hashFile(proof.path)).sha256 === proof.sha256;
    checks.push(
      check(
        'recoveryProofWritten',
        proofOk,
        proofOk ? `${proof!.path} (sha256 ${proof!.sha256.slice(0, 16)}…)` : 'no intact recovery proof',
      ),
    );

    if (ledger?.action === 'restored' && ledger.backup) {
      const file = path.join(settings.ledgerBackups, path.basename(ledger.backup));
      const st = await fsp.stat(file).catch(() => undefined);
      const createdAt = st?.mtime.toISOString();
      return { checks, backup: { id: ledger.backup, createdAt }, dataAsOf: createdAt };
    }
    // The live ledger passed its check and was kept: no data older than the disaster came back.
    return { checks, dataAsOf: ledger?.action === 'kept' ? disaster.disasterAt : undefined };
  }

  async function storeChecks(
    target: TargetConfig,
    recovery: RecoveryReport,
  ): Promise<{ checks: DrillCheck[]; backup?: DrillProof['backup']; dataAsOf?: string }> {
    const settings = target.store!;
    const result = recovery.result;
    const verdict = await store.verifyPrimary(target.name, {});
    const checks = [
      check(
        'primaryVerifies',
        verdict.valid,
        verdict.valid
          ? `${settings.primary} matches the SHA-256 in its .meta`
          : `${settings.primary}: ${verdict.problem}`,
      ),
    ];
    const used = fieldOf<string>(result, 'backupUsed');
    const backup = used ? (await listBackups(settings)).find((b) => b.name === used) : undefined;
    const same = !!backup && verdict.valid && (await hashFile(backup.file)).sha256 === verdict.sha256;
    checks.push(
      check(
        'restoredFromValidBackup',
        same,
        same
          ? `the primary holds the bytes of backup ${used}`
          : `the primary does not hold the bytes of a backup (${used ?? 'none used'})`,
      ),
    );
    const kept = fieldOf<string[]>(result, 'quarantined') ?? [];
    const keptOk = kept.length > 0 && (await Promise.all(kept.map((f) => exists(f)))).every(Boolean);
    checks.push(
      check(
        'corruptFileKept',
        keptOk,
        keptOk ? `kept in quarantine: ${kept.join(', ')}` : 'the corrupt primary was not kept in quarantine',
      ),
    );
    const createdAt = backup ? `${backup.takenAt}Z` : undefined;
    return { checks, backup: used ? { id: used, createdAt } : undefined, dataAsOf: createdAt };
  }

  async function configChecks(
    target: TargetConfig,
    recovery: RecoveryReport,
  ): Promise<{ checks: DrillCheck[]; backup?: DrillProof['backup']; dataAsOf?: string }> {
    const settings = target.configFile!;
    const result = recovery.result;
    const verdict = await configFile.checkConfigFile(target.name, {});
    const checks = [
      check(
        'configParses',
        verdict.valid,
        verdict.valid
          ? `${settings.file} parses as ${settings.format}`
          : `${settings.file}: ${verdict.problem}`,
      ),
    ];
    const source = fieldOf<string>(result, 'source');
    const outcome = fieldOf<string>(result, 'outcome');
    const same =
      outcome === 'restoredBackup' &&
      !!source &&
      (await exists(source)) &&
      (await hashFile(source)).sha256 === verdict.sha256;
    checks.push(
      check(
        'rolledBackToBackup',
        same,
        same
          ? `the config holds the bytes of backup ${path.basename(source!)}`
          : outcome === 'restoredDefault'
            ? 'the config fell back to the compiled-in default: no backup was rolled back to'
            : 'the config does not hold the bytes of a backup',
      ),
    );
    const kept = fieldOf<string>(result, 'quarantined');
    const keptOk = !!kept && (await exists(kept));
    checks.push(
      check(
        'corruptFileKept',
        keptOk,
        keptOk ? `kept in quarantine: ${kept}` : 'the corrupt config was not kept in quarantine',
      ),
    );
    if (outcome !== 'restoredBackup' || !source) return { checks };
    const name = path.basename(source);
    const tried = fieldOf<{ name: string; takenAt?: string }[]>(result, 'tried') ?? [];
    const createdAt = tried.find((t) => t.name === name)?.takenAt;
    return { checks, backup: { id: name, createdAt }, dataAsOf: createdAt };
  }

  async function chainChecks(
    target: TargetConfig,
    recovery: RecoveryReport,
  ): Promise<{ checks: DrillCheck[]; backup?: DrillProof['backup']; dataAsOf?: string }> {
    const settings = target.auditChain!;
    const result = recovery.result;
    const verdict = await chain.verifyAuditChain(target.name, {});
    const checks = [
      check(
        'chainContinuous',
        verdict.valid,
        verdict.valid
          ? `${settings.file}: ${verdict.entries} entries, every hash and prevHash link verifies`
          : `${settings.file} is broken at entry ${verdict.brokenAt?.index}: ${verdict.brokenAt?.reason}`,
      ),
    ];
    const head = fieldOf<string>(result, 'head');
    checks.push(
      check(
        'chainHeadRestored',
        verdict.valid && head !== undefined && verdict.head === head,
        head !== undefined && verdict.head === head
          ? `the chain ends at the restored head ${head.slice(0, 16)}…, where appending resumes`
          : `the chain head ${verdict.head.slice(0, 16)}… is not the restored head ${head?.slice(0, 16) ?? '(none)'}`,
      ),
    );
    const kept = fieldOf<string>(result, 'quarantined');
    const keptOk = !!kept && (await exists(kept));
    checks.push(
      check(
        'brokenChainKept',
        keptOk,
        keptOk ? `kept in quarantine: ${kept}` : 'the broken chain was not kept in quarantine',
      ),
    );
    const gap = fieldOf<{ lost: number; firstIndex?: number; lastIndex?: number }>(result, 'gap');
    checks.push(
      check(
        'gapRecorded',
        gap !== undefined,
        gap
          ? gap.lost === 0
            ? 'no entries were lost'
            : `${gap.lost} entries lost (index ${gap.firstIndex} to ${gap.lastIndex}), recorded in the audit`
          : 'the recovery recorded no gap',
      ),
    );
    const used = fieldOf<string>(result, 'backupUsed');
    if (!used) return { checks };
    // The data recovered is as old as the newest entry of the restored chain.
    const lines = splitJsonLines(await fsp.readFile(settings.file, 'utf8').catch(() => ''));
    const newest = [...lines].reverse().find((l) => l.entry !== undefined && entryTime(l.entry));
    const { files } = await listDatedFiles(settings.backups, ['.json', '.jsonl']);
    const createdAt = files.find((f) => f.name === used)?.takenAt;
    const dataAsOf = newest ? new Date(entryTime(newest.entry)!).toISOString() : createdAt;
    return { checks, backup: { id: used, createdAt }, dataAsOf };
  }

  return {
    /**
     * Takes the target's drill lock (`<drill.directory>/locks/<target>/.lifeboat.lock`): one drill of
     * a target at a time. A lock left by a drill whose process is gone is broken (the old lock file
     * kept beside it); a live holder STOPs (LockHeld), or with onBusy 'skip' is returned to the run.
     */
    async acquireDrillLock(targetName: string, onBusy: 'stop' | 'skip' = 'stop'): Promise<LockResult> {
      const folder = drillLockFolder(config, targetName);
      await fsp.mkdir(folder, { recursive: true });
      const info = Context.current().info.workflowExecution;
      const me = {
        workflowId: info?.workflowId ?? 'unknown',
        runId: info?.runId ?? 'unknown',
        purpose: 'drDrill',
      };
      let result = await acquireLock(folder, me);
      if (!result.acquired && result.stale) {
        await breakLock(folder, result.holder);
        result = await acquireLock(folder, me);
      }
      if (!result.acquired && onBusy === 'stop') throw stopFailure('LockHeld', result.problem);
      return result;
    },

    async releaseDrillLock(targetName: string): Promise<boolean> {
      const info = Context.current().info.workflowExecution;
      return releaseLock(drillLockFolder(config, targetName), info?.workflowId ?? '', info?.runId ?? '');
    },
    /**
     * Checks that `scenario` fits the target: its recovery runbook's sections are configured (and
     * its commands are among the drill's commands), and a restore scenario has a backup to restore.
     * Otherwise InvalidInput naming the scenario, what is missing and the scenarios that fit.
     */
    async checkDrillScenario(
      targetName: string,
      scenario: DrillScenario,
      requires: Record<string, string[]>,
    ): Promise<DrillPlan> {
      const target = findTarget(config, targetName);
      if (!target.drill)
        throw invalidInput(`target '${targetName}' has no 'drill' section in the worker's config`);
      const scenarios = Object.keys(DRILL_SCENARIOS) as DrillScenario[];
      if (!scenarios.includes(scenario))
        throw invalidInput(
          `input.scenario '${scenario}' is not a drill scenario; the scenarios are: ${scenarios.join(', ')}`,
        );
      const missing = (s: DrillScenario) => {
        const lacks = missingFor(target, requires[DRILL_SCENARIOS[s]] ?? []).map((section) =>
          describeRequirement(targetName, section),
        );
        if (s === 'hostLoss' && !target.offsite)
          lacks.push(`an 'offsite' repository (a host-loss drill recovers from the offsite copy alone)`);
        if (RESTORE_SCENARIOS.includes(s) && lacks.length === 0 && !newestBackup(target, s))
          lacks.push(
            s === 'hostLoss'
              ? 'a backup copied offsite, with its chain (run fullBackup with an offsite repository first)'
              : 'a backup in the catalog to restore (run fullBackup first)',
          );
        return lacks;
      };
      const fits = scenarios.filter((s) => missing(s).length === 0);
      const lacks = missing(scenario);
      const runbook = DRILL_SCENARIOS[scenario];
      if (lacks.length > 0) {
        throw invalidInput(
          `scenario '${scenario}' does not fit target '${targetName}': it runs ${runbook} against the sandbox, which needs ${lacks.join(' and ')}; scenarios that fit '${targetName}': ${fits.join(', ') || 'none'}`,
        );
      }
      return { scenario, runbook, fits, objectives: target.objectives };
    },

    /**
     * Makes the sandbox `<drill.directory>/<drillId>/` (see activities/lib/sandbox.ts). A retry finds
     * a finished sandbox and returns it; an unfinished one is made again.
     */
    async prepareSandbox(
      targetName: string,
      options: {
        drillId: string;
        scenario: DrillScenario;
        approvals: DrillApprovals;
        runbook: string;
        gates: string[];
        createdBy: string;
      },
    ): Promise<SandboxSummary> {
      const target = findTarget(config, targetName);
      if (!target.drill)
        throw invalidInput(`target '${targetName}' has no 'drill' section in the worker's config`);
      if (!isDrillId(options.drillId)) throw invalidInput(`'${options.drillId}' is not a drill id`);
      const sandbox = sandboxDir(target.drill, options.drillId);
      const summary = (record: SandboxRecord): SandboxSummary => ({
        drillId: record.drillId,
        sandbox,
        derivedTarget: record.derivedTarget,
        createdAt: record.createdAt,
        approvals: record.approvals,
        files: record.mapping.reduce((n, m) => n + m.files, 0),
        bytes: record.mapping.reduce((n, m) => n + m.bytes, 0),
        linked: record.mapping.reduce((n, m) => n + m.linked, 0),
        databases: record.mapping.reduce((n, m) => n + m.databases, 0),
        paths: record.mapping.map((m) => ({ production: m.production, sandbox: m.sandbox, kind: m.kind })),
        skipped: record.skipped.slice(0, 20),
        skippedTotal: record.skipped.length,
        backup: record.backup,
      });
      if (await exists(path.join(sandbox, 'sandbox.json'))) {
        const record = readSandboxRecord(sandbox);
        if (record.target !== targetName || record.scenario !== options.scenario)
          throw stopFailure(
            'AmbiguousTarget',
            `${sandbox} already holds the sandbox of another drill (target '${record.target}', scenario ${record.scenario}); move it aside and retry`,
          );
        return summary(record);
      }
      let backup: SandboxRecord['backup'];
      if (RESTORE_SCENARIOS.includes(options.scenario)) {
        const newest = newestBackup(target, options.scenario);
        if (!newest)
          throw invalidInput(
            `target '${targetName}' has no backup in the catalog to restore; run fullBackup first`,
          );
        const manifest = backups().manifest(newest.backupId)!;
        const chainIds: string[] = [];
        for (let id: string | null = newest.backupId; id; id = backups().get(id)?.parent ?? null)
          chainIds.unshift(id);
        backup = {
          id: newest.backupId,
          createdAt: newest.createdAt,
          manifestSha256: manifestDigest(newest, manifest),
          chain: chainIds,
        };
      }
      // An unfinished sandbox (a crash while copying) is made again from the start.
      await fsp.rm(path.join(sandbox, 'fs'), { recursive: true, force: true });
      await fsp.mkdir(sandbox, { recursive: true });
      const { mapping, skipped } = await withHeartbeats({ phase: 'sandbox', sandbox }, () =>
        cloneIntoSandbox(target, sandbox),
      );
      const record: SandboxRecord = {
        kind: 'lifeboat.drillSandbox',
        version: 1,
        drillId: options.drillId,
        target: targetName,
        derivedTarget: drillTargetName(targetName, options.drillId),
        scenario: options.scenario,
        runbook: options.runbook,
        gates: options.gates,
        approvals: options.approvals,
        createdAt: new Date().toISOString(),
        createdBy: options.createdBy,
        mapping,
        skipped,
        backup,
      };
      await writeSandboxRecord(sandbox, record);
      return summary(record);
    },

    /**
     * Simulates the scenario's disaster in the sandbox of `derivedTarget` and writes down what it
     * did (`disaster.json`); a retry after that returns the record and does nothing again.
     */
    async simulateDisaster(derivedTarget: string, scenario: DrillScenario): Promise<DisasterReport> {
      const target = findTarget(config, derivedTarget);
      const sandbox = sandboxOf(target);
      const recordFile = path.join(sandbox, DISASTER_RECORD);
      if (await exists(recordFile))
        return JSON.parse(await fsp.readFile(recordFile, 'utf8')) as DisasterReport;
      const drillId = readSandboxRecord(sandbox).drillId;
      const actions: string[] = [];
      const damaged: DisasterReport['damaged'] = [];
      const raiseFlag = async (why: string) => {
        const flag = target.panic!.flag;
        await fsp.mkdir(path.dirname(flag), { recursive: true });
        await writeFileAtomic(flag, `panic: ${why} (simulated by Lifeboat drill ${drillId})\n`);
        actions.push(`raised the panic flag ${flag}`);
      };
      switch (scenario) {
        case 'deleteLedger': {
          const ledger = target.panic!.ledger;
          const had = await removeWithSidecars(ledger);
          actions.push(had ? `deleted the ledger ${ledger}` : `the ledger ${ledger} was missing already`);
          await raiseFlag('federation ledger deleted');
          break;
        }
        case 'panicFlag':
          await raiseFlag('panic mode triggered');
          break;
        case 'corruptFiles': {
          const root = target.root!;
          const files = (await listTree(root)).filter((p) => !SIDECARS.some((s) => p.endsWith(s)));
          const databases: string[] = [];
          const others: string[] = [];
          for (const p of files) ((await isSqlite(path.join(root, p))) ? databases : others).push(p);
          const abs = (p: string) => path.join(root, ...p.split('/'));
          if (others[0]) {
            await fsp.rm(abs(others[0]), { force: true });
            damaged.push({ path: others[0], how: 'deleted' });
          }
          if (others[1]) {
            await overwriteBytes(abs(others[1]));
            damaged.push({ path: others[1], how: 'bytes overwritten' });
          }
          if (databases[0]) {
            await damageDatabase(abs(databases[0]));
            damaged.push({ path: databases[0], how: 'bytes overwritten' });
          }
          if (damaged.length === 0)
            throw stopFailure(
              'AmbiguousTarget',
              `the sandbox root ${root} holds no files to damage; a corruptFiles drill needs a root with files (fullRestore drills an empty or lost root)`,
            );
          actions.push(
            `damaged ${damaged.length} file(s) of the root ${root}: ${damaged.map((d) => `${d.path} (${d.how})`).join(', ')}`,
          );
          break;
        }
        case 'fullRestore': {
          const root = target.root!;
          await fsp.rm(root, { recursive: true, force: true });
          actions.push(`lost the whole root ${root} (deleted)`);
          break;
        }
        case 'hostLoss': {
          // The host is gone: its root and its repository with it; a new host starts with an empty
          // catalog of its own. Only the offsite copy is left.
          for (const lost of [target.root!, target.repository!]) {
            await fsp.rm(lost, { recursive: true, force: true });
            actions.push(`lost ${lost} with the host (deleted)`);
          }
          actions.push(
            `the recovery starts with an empty catalog of its own (${target.ownCatalog}); only the offsite copy ${target.offsite} is left`,
          );
          break;
        }
        case 'corruptStore': {
          const primary = target.store!.primary;
          if (await exists(primary)) {
            await overwriteBytes(primary);
            actions.push(
              `overwrote bytes in the middle of the primary ${primary} (its .meta checksum no longer matches)`,
            );
          } else actions.push(`the primary ${primary} was missing already`);
          break;
        }
        case 'corruptConfig': {
          const { file, format } = target.configFile!;
          const bytes = await fsp.readFile(file).catch(() => undefined);
          if (!bytes) {
            actions.push(`the config ${file} was missing already`);
            break;
          }
          // A write torn halfway: the first half, then a line cut short.
          let torn = Buffer.concat([
            bytes.subarray(0, Math.floor(bytes.length / 2)),
            Buffer.from(format === 'toml' ? '\n[lifeboat-drill\nkey = "torn' : '\n{"torn'),
          ]);
          if (!configParseProblem(torn, format)) torn = Buffer.from('\u0000');
          await writeFileAtomic(file, torn);
          actions.push(`tore the config ${file}: a write cut off halfway (it no longer parses as ${format})`);
          break;
        }
        case 'brokenAuditChain': {
          const file = target.auditChain!.file;
          const text = await fsp.readFile(file, 'utf8').catch(() => undefined);
          const lines = text?.split('\n') ?? [];
          const entries = lines
            .map((line, index) => ({ line, index }))
            .filter(({ line }) => {
              try {
                const parsed: unknown = JSON.parse(line);
                return typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed);
              } catch {
                return false;
              }
            });
          if (entries.length === 0) {
            await fsp.rm(file, { force: true });
            actions.push(`the chain ${file} held no entry to tamper with; removed it`);
            break;
          }
          const victim = entries[Math.floor(entries.length / 2)];
          const edited = { ...(JSON.parse(victim.line) as Record<string, unknown>), lifeboatDrill: drillId };
          lines[victim.index] = JSON.stringify(edited);
          await writeFileAtomic(file, lines.join('\n'));
          actions.push(
            `tampered with entry ${entries.indexOf(victim)} of the chain ${file} (a field added after it was written; its hash no longer matches)`,
          );
          break;
        }
      }
      const report: DisasterReport = { scenario, disasterAt: new Date().toISOString(), actions, damaged };
      await writeFileAtomic(recordFile, `${JSON.stringify(report, null, 2)}\n`);
      return report;
    },

    /**
     * The procedure's outcome checklist for the scenario, checked on the sandbox after the
     * recovery: files restored as backed up, chain continuous, integrity checks, flag cleared,
     * nonce store rebuilt, config parses, primary verifies, health (where the target has one).
     * Also what the RPO is measured from: the time of the data recovered, and the backup used.
     */
    async verifyDrillOutcome(
      derivedTarget: string,
      input: { disaster: DisasterReport; recovery: RecoveryReport; backupId?: string },
    ): Promise<DrillOutcome> {
      const target = findTarget(config, derivedTarget);
      const sandbox = sandboxOf(target);
      const { disaster, recovery } = input;
      const expected = RECOVERED[recovery.runbook];
      const completed = recovery.state === 'completed';
      const recovered = completed && (expected === undefined || recovery.outcome === expected);
      const first = check(
        'recoveryCompleted',
        recovered,
        !completed
          ? `${recovery.runbook} (${recovery.workflowId}) ended ${recovery.state}: ${recovery.error ?? 'no reason given'}`
          : recovered
            ? `${recovery.runbook} (${recovery.workflowId}) completed${recovery.outcome ? ` with outcome '${recovery.outcome}'` : ''}`
            : `${recovery.runbook} (${recovery.workflowId}) completed with outcome '${recovery.outcome}', not '${expected}': the simulated disaster was not recovered from`,
      );
      const found = await withHeartbeats({ phase: 'verify', scenario: disaster.scenario }, async () => {
        switch (disaster.scenario) {
          case 'corruptFiles':
          case 'fullRestore':
            return restoreChecks(target, sandbox, input.backupId, disaster);
          case 'hostLoss': {
            const restored = await restoreChecks(target, sandbox, input.backupId, disaster);
            return { ...restored, checks: [adoptedCheck(target, input.backupId), ...restored.checks] };
          }
          case 'deleteLedger':
          case 'panicFlag':
            return panicChecks(target, sandbox, recovery, disaster);
          case 'corruptStore':
            return storeChecks(target, recovery);
          case 'corruptConfig':
            return configChecks(target, recovery);
          case 'brokenAuditChain':
            return chainChecks(target, recovery);
        }
      });
      // Integrity checks ran on copies in <sandbox>/scratch; the empty folder is not evidence.
      await fsp.rmdir(path.join(sandbox, 'scratch')).catch(() => undefined);
      return {
        checks: [first, ...found.checks],
        verifiedAt: new Date().toISOString(),
        dataAsOf: found.dataAsOf,
        backup: found.backup,
      };
    },
  };
}
