/**
 * Activities for a "configFile" target (procedure 001 §3.1, §4.1): an application config file
 * (TOML or JSON) with backups `<config_dir>/backups/<timestamp>.toml` (`.json` for a JSON config)
 * and, optionally, the compiled-in default config as a file.
 *
 * Also the helpers the audit-chain activities share: timestamped backup listings
 * ({@link listDatedFiles}) and a replace that can be undone even when there was no file before
 * ({@link replaceKeepingOriginal}, {@link undoReplace}).
 */
import { Context } from '@temporalio/activity';
import { createHash } from 'node:crypto';
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import { parse as parseToml, TomlError } from 'smol-toml';
import { runIdTail } from '../common/tags';
import type { ConfigFileSettings, LifeboatConfig } from '../config';
import { invalidInput, stopFailure } from './errors';
import { jsonSyntaxError } from './lib/chain';
import { exists, fsyncDir, hashFile, preserveCopy, stageCopy, writeFileAtomic } from './lib/files';
import { putBack, quarantineAndReplace } from './lib/replace';
import { sectionOf } from './targets';

// ---------------------------------------------------------------------------------------------
// Timestamped backups

/** A backup file and the time it was taken. */
export interface DatedFile {
  name: string;
  file: string;
  /** ISO time. */
  takenAt: string;
  /** `name`: the name is a timestamp (the backup naming); `mtime`: it is not, so the file's mtime. */
  datedBy: 'name' | 'mtime';
}

const STAMP =
  /^(\d{4})-?(\d{2})-?(\d{2})(?:[T_ -]?(\d{2})[:-]?(\d{2})(?:[:-]?(\d{2})(?:[.,](\d{1,9}))?)?)?(Z|[+-]\d{2}(?::?\d{2})?)?$/i;

/**
 * The time in a backup's name (without extension), or undefined when the name is not a timestamp.
 * Accepted: ISO-like `2026-01-05T10:20:30Z`, `2026-01-05T10-20-30.123+02:00`, `2026-01-05`;
 * compact `20260105_102030`, `20260105T102030Z`; Unix time in seconds (10 digits) or ms (13).
 * A stamp without a zone is read as UTC.
 */
export function timeOfStamp(stem: string): Date | undefined {
  if (/^\d{10}$/.test(stem)) return new Date(Number(stem) * 1000);
  if (/^\d{13}$/.test(stem)) return new Date(Number(stem));
  const m = STAMP.exec(stem);
  if (!m) return undefined;
  const [y, mo, d, h = '0', mi = '0', s = '0'] = m.slice(1, 7);
  const ms = m[7] ? Number(m[7].slice(0, 3).padEnd(3, '0')) : 0;
  const parts = [Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(s)];
  const utc = Date.UTC(parts[0], parts[1], parts[2], parts[3], parts[4], parts[5], ms);
  const check = new Date(utc);
  // Date.UTC rolls over (month 13, day 32): such a name is not a timestamp.
  if (
    check.getUTCFullYear() !== parts[0] ||
    check.getUTCMonth() !== parts[1] ||
    check.getUTCDate() !== parts[2] ||
    check.getUTCHours() !== parts[3] ||
    check.getUTCMinutes() !== parts[4] ||
    check.getUTCSeconds() !== parts[5]
  ) {
    return undefined;
  }
  let offsetMinutes = 0;
  const zone = m[8];
  if (zone && zone.toUpperCase() !== 'Z') {
    const zm = /^([+-])(\d{2}):?(\d{2})?$/.exec(zone)!;
    offsetMinutes = (zm[1] === '-' ? -1 : 1) * (Number(zm[2]) * 60 + Number(zm[3] ?? 0));
  }
  return new Date(utc - offsetMinutes * 60000);
}

/**
 * Regular files in `dir` ending in one of `exts`, newest first: by the timestamp in the name where
 * the name is one (the procedure's `<timestamp>.toml`), else by the file's mtime; ties by name.
 * Hidden files (temp files start with a dot) are left out. A missing folder lists nothing.
 */
export async function listDatedFiles(
  dir: string,
  exts: string[],
): Promise<{ files: DatedFile[]; folderMissing: boolean }> {
  let names: string[];
  try {
    names = await fsp.readdir(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { files: [], folderMissing: true };
    throw err;
  }
  const files: (DatedFile & { ms: number })[] = [];
  for (const name of names) {
    const ext = exts.find((e) => name.toLowerCase().endsWith(e));
    if (!ext || name.startsWith('.') || name.length === ext.length) continue;
    const file = path.join(dir, name);
    const stats = await fsp.lstat(file);
    if (!stats.isFile()) continue;
    const stamp = timeOfStamp(name.slice(0, -ext.length));
    const when = stamp ?? stats.mtime;
    files.push({
      name,
      file,
      takenAt: when.toISOString(),
      datedBy: stamp ? 'name' : 'mtime',
      ms: when.getTime(),
    });
  }
  files.sort((a, b) => b.ms - a.ms || (a.name < b.name ? 1 : a.name > b.name ? -1 : 0));
  return { files: files.map(({ ms: _ms, ...f }) => f), folderMissing: false };
}

/** How a listing with no usable backup is described: the folder, and each backup with its problem. */
export function describeNoBackup(
  dir: string,
  folderMissing: boolean,
  tried: { name: string; problem?: string }[],
): string {
  if (folderMissing) return `the folder ${dir} does not exist`;
  if (tried.length === 0) return `the folder ${dir} is empty`;
  return tried.map((t) => `${t.name}: ${t.problem}`).join('; ');
}

// ---------------------------------------------------------------------------------------------
// Replace with a way back

function safeName(incident: string): string {
  return incident.replace(/[^A-Za-z0-9._-]/g, '_');
}

/** The incident's quarantine folder: `<quarantine>/<incident>`. */
export function incidentFolder(quarantine: string, incident: string): string {
  return path.join(quarantine, safeName(incident));
}

/** A short tag for temp file names: the run id's tail (unique per run), else the process id. */
export function runTag(): string {
  try {
    const runId = Context.current().info.workflowExecution?.runId;
    return runId ? runIdTail(runId) : `${process.pid}`;
  } catch {
    return `${process.pid}`;
  }
}

export interface ReplaceResult {
  file: string;
  /** Where the replaced file is kept; absent when there was no file. */
  quarantined?: string;
  sha256: string;
  size: number;
}

/**
 * `quarantineAndReplace`, plus a marker `<basename>.absent` in the quarantine folder when there was
 * no file to keep, so that {@link undoReplace} knows to take the new file away again. A retry of a
 * replace that already happened finds the kept file (or the marker) and does not keep the new one.
 */
export async function replaceKeepingOriginal(
  file: string,
  source: string,
  folder: string,
  tag: string,
): Promise<ReplaceResult> {
  const kept = path.join(folder, path.basename(file));
  const absent = `${kept}.absent`;
  if (!(await exists(file)) && !(await exists(kept)) && !(await exists(absent))) {
    await fsp.mkdir(folder, { recursive: true });
    await writeFileAtomic(
      absent,
      `${JSON.stringify({ file, note: 'there was no file here before Lifeboat replaced it' })}\n`,
      tag,
    );
  }
  if (await exists(absent)) {
    await fsp.mkdir(path.dirname(file), { recursive: true });
    const staged = await stageCopy(source, file, tag);
    await fsp.rename(staged.tmp, file);
    await fsyncDir(path.dirname(file));
    return { file, sha256: staged.sha256, size: staged.size };
  }
  const replaced = await quarantineAndReplace(file, source, folder, tag);
  return {
    file,
    quarantined: replaced.quarantined,
    sha256: replaced.sha256,
    size: replaced.size,
  };
}

/**
 * Undoes {@link replaceKeepingOriginal}: puts the kept file back over `file`, or, when there was no
 * file before, moves the new one into the quarantine folder as `<basename>.installed` (kept, not
 * deleted). Harmless when nothing was replaced.
 */
export async function undoReplace(
  file: string,
  folder: string,
  tag: string,
): Promise<{ action: 'putBack' | 'removed' | 'none' }> {
  const kept = path.join(folder, path.basename(file));
  if (await exists(kept)) return { action: (await putBack(file, kept, tag)) ? 'putBack' : 'none' };
  if (!(await exists(`${kept}.absent`)) || !(await exists(file))) return { action: 'none' };
  const installed = `${kept}.installed`;
  if (!(await exists(installed))) await preserveCopy(file, installed);
  else if ((await hashFile(installed)).sha256 !== (await hashFile(file)).sha256) {
    throw stopFailure(
      'AmbiguousTarget',
      `${installed} already holds a different file; move it aside and retry`,
    );
  }
  await fsp.rm(file);
  await fsyncDir(path.dirname(file));
  return { action: 'removed' };
}

// ---------------------------------------------------------------------------------------------
// Parsing a config

export interface ParseProblem {
  problem: string;
  line?: number;
  column?: number;
}

const UTF8 = new TextDecoder('utf-8', { fatal: true });

/**
 * Why `bytes` is not a usable config of `format` (undefined when it parses). Empty (or blank) counts
 * as unusable. Messages name the line and column, never the text there (it may hold a secret).
 */
export function configParseProblem(bytes: Buffer, format: 'toml' | 'json'): ParseProblem | undefined {
  let text: string;
  try {
    text = UTF8.decode(bytes);
  } catch {
    return { problem: 'the file is not valid UTF-8' };
  }
  if (text.trim() === '') return { problem: bytes.length === 0 ? 'the file is empty' : 'the file is blank' };
  if (format === 'json') {
    const error = jsonSyntaxError(text);
    if (error) {
      return {
        problem: `not valid JSON at line ${error.line}, column ${error.column}: ${error.message}`,
        line: error.line,
        column: error.column,
      };
    }
    const value = JSON.parse(text) as unknown;
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      return { problem: 'the top level is not a JSON object' };
    }
    return undefined;
  }
  try {
    parseToml(text);
    return undefined;
  } catch (err) {
    // smol-toml's message is "Invalid TOML document: <what>" followed by the lines around the error.
    const what = String((err as Error).message)
      .split('\n')[0]
      .replace(/^Invalid TOML document:\s*/, '');
    if (err instanceof TomlError) {
      return {
        problem: `not valid TOML at line ${err.line}, column ${err.column}: ${what}`,
        line: err.line,
        column: err.column,
      };
    }
    return { problem: `not valid TOML: ${what}` };
  }
}

/** A config file (or backup) and whether it parses. */
export interface ConfigVerdict {
  /** Path (the config) or name (a backup). */
  file: string;
  valid: boolean;
  problem?: string;
  line?: number;
  column?: number;
  sha256?: string;
  size?: number;
}

export async function inspectConfigFile(
  file: string,
  format: 'toml' | 'json',
  label = file,
): Promise<ConfigVerdict> {
  let bytes: Buffer;
  try {
    bytes = await fsp.readFile(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return {
      file: label,
      valid: false,
      problem: code === 'ENOENT' ? 'the file is missing' : `unreadable (${code})`,
    };
  }
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  const problem = configParseProblem(bytes, format);
  return { file: label, valid: problem === undefined, ...problem, sha256, size: bytes.length };
}

// ---------------------------------------------------------------------------------------------
// Activities

export interface TriedBackup extends Omit<ConfigVerdict, 'file'> {
  /** The backup's file name. */
  name: string;
  takenAt: string;
  datedBy: 'name' | 'mtime';
}

/** Where the replacement config comes from. */
export interface ConfigSourceChoice {
  source: 'backup' | 'default';
  /** The chosen file (a backup or the default). */
  file: string;
  /** The backup's name (source `backup`). */
  name?: string;
  takenAt?: string;
  sha256: string;
  /** The backups folder. */
  backups: string;
  /** Every backup tried, newest first, with its parse problem. */
  tried: TriedBackup[];
  /** Source `default`: why no backup could be used (the folder is empty, or each backup's problem). */
  backupsProblem?: string;
}

export interface InstallResult {
  file: string;
  /** The file the config was replaced with. */
  from: string;
  /** Where the corrupt config is kept; absent when there was no file. */
  quarantined?: string;
  sha256: string;
}

export interface PruneResult {
  kept: string[];
  pruned: string[];
}

function backupExt(settings: ConfigFileSettings): string {
  return settings.format === 'json' ? '.json' : '.toml';
}

export function createConfigFileActivities(config: LifeboatConfig) {
  return {
    /**
     * Parses the target's config with its format's parser (a missing or empty file does not parse).
     * With `require`, a config that does not parse, or whose SHA-256 is not `expectSha256`, is an
     * IntegrityFailure (a STOP).
     */
    async checkConfigFile(
      targetName: string,
      options: { require?: boolean; expectSha256?: string } = {},
    ): Promise<ConfigVerdict> {
      const settings = sectionOf(config, targetName, 'configFile');
      const verdict = await inspectConfigFile(settings.file, settings.format);
      if (options.require && !verdict.valid) {
        throw stopFailure(
          'IntegrityFailure',
          `the config ${settings.file} does not parse: ${verdict.problem}`,
        );
      }
      if (options.expectSha256 && verdict.sha256 !== options.expectSha256) {
        throw stopFailure(
          'IntegrityFailure',
          `the config ${settings.file} changed after it was replaced: expected SHA-256 ${options.expectSha256}, found ${verdict.sha256 ?? 'no file'}`,
        );
      }
      return verdict;
    },

    /**
     * Tries the backups newest first and returns the first that parses. When none does, returns the
     * compiled-in default (if the target names one and it parses). Neither is a NoValidBackup STOP.
     */
    async findParsableConfigBackup(targetName: string): Promise<ConfigSourceChoice> {
      const settings = sectionOf(config, targetName, 'configFile');
      const { files, folderMissing } = await listDatedFiles(settings.backups, [backupExt(settings)]);
      const tried: TriedBackup[] = [];
      for (const backup of files) {
        const { file: _file, ...verdict } = await inspectConfigFile(backup.file, settings.format);
        tried.push({ name: backup.name, ...verdict, takenAt: backup.takenAt, datedBy: backup.datedBy });
        if (verdict.valid) {
          return {
            source: 'backup',
            file: backup.file,
            name: backup.name,
            takenAt: backup.takenAt,
            sha256: verdict.sha256!,
            backups: settings.backups,
            tried,
          };
        }
      }
      const backupsProblem = describeNoBackup(settings.backups, folderMissing, tried);
      const noBackup = `no backup in ${settings.backups} parses (${backupsProblem})`;
      if (!settings.default) {
        throw stopFailure(
          'NoValidBackup',
          `${noBackup}, and the target names no compiled-in default; place a valid backup there and retry, or stop`,
          { tried },
        );
      }
      const fallback = await inspectConfigFile(settings.default, settings.format);
      if (!fallback.valid) {
        throw stopFailure(
          'NoValidBackup',
          `${noBackup}, and the compiled-in default ${settings.default} does not parse either (${fallback.problem}); place a valid backup in ${settings.backups} and retry, or stop`,
          { tried },
        );
      }
      return {
        source: 'default',
        file: settings.default,
        sha256: fallback.sha256!,
        backups: settings.backups,
        tried,
        backupsProblem,
      };
    },

    /**
     * Keeps the corrupt config in `<quarantine>/<incident>/` and replaces it atomically with the
     * chosen backup (or the default), after checking the source is still the file that parsed.
     */
    async installConfig(
      targetName: string,
      choice: { source: 'backup' | 'default'; name?: string; sha256: string },
      incident: string,
    ): Promise<InstallResult> {
      const settings = sectionOf(config, targetName, 'configFile');
      let from: string;
      if (choice.source === 'default') {
        if (!settings.default) throw invalidInput(`target '${targetName}' names no compiled-in default`);
        from = settings.default;
      } else {
        if (!choice.name || path.basename(choice.name) !== choice.name || choice.name.startsWith('.'))
          throw invalidInput(`'${String(choice.name)}' is not the name of a backup in ${settings.backups}`);
        from = path.join(settings.backups, choice.name);
      }
      if (!(await exists(from))) {
        throw stopFailure(
          'NoValidBackup',
          `${from} is gone since it was checked; stop and start the runbook again`,
        );
      }
      const now = (await hashFile(from)).sha256;
      if (now !== choice.sha256) {
        throw stopFailure(
          'ChecksumMismatch',
          `${from} changed since it was checked: expected SHA-256 ${choice.sha256}, found ${now}; stop and start the runbook again`,
        );
      }
      const tag = runTag();
      const folder = incidentFolder(settings.quarantine, incident);
      const replaced = await replaceKeepingOriginal(settings.file, from, folder, tag);
      if (replaced.sha256 !== choice.sha256) {
        // The source changed between the check and the copy: put the corrupt file back.
        await undoReplace(settings.file, folder, tag);
        throw stopFailure(
          'ChecksumMismatch',
          `${from} changed while it was copied (SHA-256 ${replaced.sha256}, checked ${choice.sha256}); the config was put back; stop and start the runbook again`,
        );
      }
      return { file: settings.file, from, quarantined: replaced.quarantined, sha256: replaced.sha256 };
    },

    /** Compensation for `installConfig`: puts the corrupt config back as it was found. */
    async putConfigBack(targetName: string, incident: string): Promise<{ action: string }> {
      const settings = sectionOf(config, targetName, 'configFile');
      return undoReplace(settings.file, incidentFolder(settings.quarantine, incident), runTag());
    },

    /**
     * Keeps the `keep` newest backups named `<timestamp><ext>` and deletes older ones (procedure
     * §3.1); `spare` (the backup just restored) is never deleted. Files not named by a timestamp
     * are not Lifeboat's backups and are left alone.
     */
    async pruneConfigBackups(targetName: string, spare?: string): Promise<PruneResult> {
      const settings = sectionOf(config, targetName, 'configFile');
      const { files } = await listDatedFiles(settings.backups, [backupExt(settings)]);
      const named = files.filter((f) => f.datedBy === 'name');
      const kept: string[] = [];
      const pruned: string[] = [];
      for (const [i, backup] of named.entries()) {
        if (i < settings.keep || backup.name === spare) {
          kept.push(backup.name);
          continue;
        }
        await fsp.rm(backup.file, { force: true });
        pruned.push(backup.name);
      }
      if (pruned.length > 0) await fsyncDir(settings.backups);
      return { kept, pruned };
    },
  };
}
