/**
 * Activities for a "configFile" target (procedure 001 §3.1, §4.1): an application config file
 * (TOML or JSON) with backups `<config_dir>/backups/<timestamp>.toml` (`.json` for a JSON config)
 * and, optionally, the compiled-in default config as a file.
 *
 * What they build on lives in activities/lib: parsing a config (configParse.ts), timestamped backup
 * listings (datedFiles.ts) and a replace that can be undone even when there was no file before
 * (replace.ts), the last two shared with the audit-chain activities. They are re-exported here,
 * where they used to live and where tests import them from.
 */
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import type { ConfigFileSettings, LifeboatConfig } from '../config';
import { invalidInput, stopFailure } from './errors';
import { inspectConfigFile, type ConfigVerdict } from './lib/configParse';
import { runTag } from './lib/context';
import { describeNoBackup, listDatedFiles } from './lib/datedFiles';
import { exists, fsyncDir, hashFile } from './lib/files';
import { incidentFolder, replaceKeepingOriginal, undoReplace } from './lib/replace';
import { sectionOf } from './targets';

export { configParseProblem, inspectConfigFile } from './lib/configParse';
export type { ConfigVerdict, ParseProblem } from './lib/configParse';
export { runTag } from './lib/context';
export { describeNoBackup, listDatedFiles, timeOfStamp, type DatedFile } from './lib/datedFiles';
export { incidentFolder, replaceKeepingOriginal, undoReplace, type ReplaceResult } from './lib/replace';

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
