/**
 * What a drill's outcome checks (activities/drillChecks.ts, drillRestoreChecks.ts) are made of: a
 * named check with its verdict, the files under a sandbox folder (also what a simulated disaster
 * picks from), and a database's `PRAGMA integrity_check` run on a scratch copy, so the sandbox's
 * evidence stays as the recovery left it.
 */
import Database from 'better-sqlite3';
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import type { DrillCheck, DrillProof } from '../../common/drill';
import { errorText } from '../errors';
import { exists } from './files';

/** A scenario's checks, and the backup the recovery used and the time of its data (for the RPO). */
export interface ScenarioChecks {
  checks: DrillCheck[];
  backup?: DrillProof['backup'];
  dataAsOf?: string;
}

export const check = (name: string, ok: boolean, detail: string): DrillCheck => ({ name, ok, detail });

/** `value[key]` when `value` is an object (a child workflow's result, read without trusting it). */
export function fieldOf<T>(value: unknown, key: string): T | undefined {
  return typeof value === 'object' && value !== null
    ? ((value as Record<string, unknown>)[key] as T | undefined)
    : undefined;
}

/** Regular files under `dir`, relative with forward slashes, sorted; a missing folder has none. */
export async function listTree(dir: string): Promise<string[]> {
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
export async function integrityOf(file: string, scratchDir: string): Promise<string> {
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
