/**
 * The simulated disaster of each drill scenario, done in the sandbox only: a ledger deleted, a panic
 * flag raised, files damaged or the whole root lost, the host lost with its repository, a store's
 * primary overwritten, a config torn, an audit chain tampered with, a project exported then lost
 * (drillImport.ts), a driver store damaged (drillDriverStore.ts), the services stopped and the root
 * lost (drillSystemRestore.ts). What was done is written down in
 * `<sandbox>/disaster.json`; the recovery's checks read it back (which files were damaged, when the
 * RTO clock started).
 *
 * Damage is deterministic (a fixed pattern at fixed places), so a retry does the same.
 */
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import type { DrillScenario } from '../common/drill';
import type { TargetConfig } from '../config';
import { damageDriverStore } from './drillDriverStore';
import { exportAndLoseProject, type ProjectExport, type WriteExport } from './drillImport';
import { stopServicesAndLoseRoot } from './drillSystemRestore';
import { stopFailure } from './errors';
import { configParseProblem } from './lib/configParse';
import { exists, writeFileAtomic } from './lib/files';
import { DISASTER_RECORD, readSandboxRecord } from './lib/sandbox';
import { listTree } from './lib/sandboxChecks';
import { SQLITE_SIDECARS, isSqlite } from './lib/sqlite';

const DAMAGE = Buffer.from('LIFEBOAT DRILL: SIMULATED DAMAGE. ');

export interface DisasterReport {
  scenario: DrillScenario;
  /** When the simulated disaster was complete: the start of the RTO clock. */
  disasterAt: string;
  /** What was done, in the operator's words. */
  actions: string[];
  /** corruptFiles: the files damaged, relative to the root. */
  damaged: { path: string; how: 'bytes overwritten' | 'deleted' }[];
  /** projectImport: the export of the project lost, which the recovery imports. */
  export?: ProjectExport;
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
  for (const suffix of ['', ...SQLITE_SIDECARS]) await fsp.rm(`${file}${suffix}`, { force: true });
  return had;
}

/**
 * Simulates the scenario's disaster in `sandbox` (the sandbox of `target`, a derived target) and
 * writes down what it did; a retry after that returns the record and does nothing again.
 */
export async function simulateInSandbox(
  target: TargetConfig,
  sandbox: string,
  scenario: DrillScenario,
  writeExport?: WriteExport,
): Promise<DisasterReport> {
  const recordFile = path.join(sandbox, DISASTER_RECORD);
  if (await exists(recordFile)) return JSON.parse(await fsp.readFile(recordFile, 'utf8')) as DisasterReport;
  const drillId = readSandboxRecord(sandbox).drillId;
  const actions: string[] = [];
  const damaged: DisasterReport['damaged'] = [];
  let exported: ProjectExport | undefined;
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
      const files = (await listTree(root)).filter((p) => !SQLITE_SIDECARS.some((s) => p.endsWith(s)));
      const databases: string[] = [];
      const others: string[] = [];
      for (const p of files)
        ((await isSqlite(path.join(root, p)).catch(() => false)) ? databases : others).push(p);
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
    case 'projectImport': {
      if (!writeExport) throw new Error('a projectImport drill needs the export activity');
      const done = await exportAndLoseProject(target, sandbox, drillId, writeExport);
      actions.push(...done.actions);
      exported = done.exported;
      break;
    }
    case 'corruptedDriverStore':
      actions.push(...(await damageDriverStore(target, sandbox)));
      break;
    case 'fullSystemRestore':
      actions.push(...(await stopServicesAndLoseRoot(target)));
      break;
  }
  const report: DisasterReport = {
    scenario,
    disasterAt: new Date().toISOString(),
    actions,
    damaged,
    ...(exported ? { export: exported } : {}),
  };
  await writeFileAtomic(recordFile, `${JSON.stringify(report, null, 2)}\n`);
  return report;
}
