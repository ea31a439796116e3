/**
 * corruptedConfigRecovery — procedure 001 (§3.1, §4.1): parse the application's config; when it
 * does not parse (CFG-002), try the backups newest first and restore the first that parses (gate
 * `restoreConfig`, automatic by default: the procedure's RTO is a < 5 s auto-rollback). When every
 * backup fails, fall back to the compiled-in default after approval at gate `useDefault`, and say so
 * loudly in the result and the audit. The corrupt config is kept in quarantine; the last `keep`
 * (10) backups are kept. An intact config completes the run with nothing changed.
 */
import { workflowInfo } from '@temporalio/workflow';
import type { TriedBackup } from '../activities/configFile';
import type { RunbookMeta } from '../common/runbook';
import { runTagOf } from '../common/tags';
import type { RunOutcome } from '../common/types';
import { runRunbook } from '../workflows/engine';
import { quarantinePlan } from './plans';

export const meta: RunbookMeta = {
  name: 'corruptedConfigRecovery',
  title: 'Corrupted configuration recovery',
  summary:
    'Parses an application config (TOML or JSON); when it does not parse, restores the newest backup that does, or, when every backup fails, the compiled-in default after approval (flagged loudly), keeping the corrupt file in quarantine and the last 10 backups.',
  source: '001_3fc6a84b3909d4a8.txt — §3.1 (configuration backup), §4.1 (corrupted configuration)',
  // The procedure: < 5 seconds (auto-rollback).
  objectives: { rtoMinutes: 5 / 60 },
  input: {},
  gates: {
    restoreConfig: {
      description:
        'before the corrupt config is replaced by the newest backup that parses; automatic by default (the procedure rolls back on its own) — set "automatic": false in the target\'s gates to make it wait for a human',
      defaults: { automatic: true },
    },
    useDefault: {
      description:
        'before the corrupt config is replaced by the compiled-in default because no backup parses',
      defaults: { approvers: ['*'], quorum: 1 },
    },
  },
  requires: ['configFile'],
  stops: [
    'no backup parses (or the backups folder is empty or missing) and the target names no compiled-in default (place a valid backup and retry, or stop)',
    'no backup parses and the compiled-in default does not parse either',
    'the chosen backup (or default) changed or vanished between the check and the restore',
    'the restored config does not parse, or is not the file that was installed',
  ],
  flow: [
    { id: 'resolveTarget', label: 'find the target in the worker config', next: ['checkConfigFile'] },
    {
      id: 'checkConfigFile',
      label: 'parse the config',
      next: [
        { to: 'end:intact', when: 'parses' },
        { to: 'findParsableBackup', when: 'does not parse (CFG-002)' },
      ],
    },
    {
      id: 'findParsableBackup',
      label: 'try the backups newest first',
      next: [
        { to: 'gate:restoreConfig', when: 'a backup parses' },
        { to: 'gate:useDefault', when: 'no backup parses' },
      ],
    },
    {
      id: 'gate:restoreConfig',
      label: 'restore the backup (automatic by default)',
      next: ['quarantineAndReplace'],
    },
    {
      id: 'gate:useDefault',
      label: 'approve the compiled-in default',
      next: ['quarantineAndReplace'],
    },
    {
      id: 'quarantineAndReplace',
      label: 'keep the corrupt config in quarantine; install the backup or default',
      next: ['verifyRestored'],
    },
    { id: 'verifyRestored', label: 'check the installed config parses', next: ['pruneBackups'] },
    {
      id: 'pruneBackups',
      label: 'keep the last 10 backups (skippable)',
      next: [
        { to: 'end:restoredBackup', when: 'from a backup' },
        { to: 'end:restoredDefault', when: 'from the default' },
      ],
    },
    { id: 'end:intact', label: 'nothing changed' },
    { id: 'end:restoredBackup' },
    { id: 'end:restoredDefault', label: 'flagged loudly: warning and audit event config.defaultUsed' },
  ],
};

export interface CorruptedConfigRecoveryInput {
  target: string;
}

export interface CorruptedConfigRecoveryResult {
  outcome: 'intact' | 'restoredBackup' | 'restoredDefault';
  file: string;
  /** Why the config was judged corrupt. */
  corruption?: string;
  /** The backup (or default) file the config was restored from. */
  source?: string;
  /** Where the corrupt config is kept (absent when there was no file). */
  quarantined?: string;
  /** Every backup tried, newest first, with its parse problem. */
  tried: TriedBackup[];
  /** Backups deleted to keep the newest `keep`. */
  pruned: string[];
  sha256?: string;
  /** Set when the compiled-in default replaced the config; starts with "FELL BACK TO THE COMPILED-IN DEFAULT". */
  warning?: string;
}

function skippedBackups(tried: TriedBackup[]): string {
  const skipped = tried.filter((t) => !t.valid);
  return skipped.length === 0
    ? ''
    : `; skipped newer backups that do not parse: ${skipped.map((t) => `${t.name} (${t.problem})`).join('; ')}`;
}

export async function corruptedConfigRecovery(
  input: CorruptedConfigRecoveryInput,
): Promise<RunOutcome<CorruptedConfigRecoveryResult>> {
  return runRunbook(meta, input, async (run) => {
    const target = run.target.name;
    const check = await run.step('checkConfigFile', 'checkConfigFile', [target, {}]);
    if (check.valid) {
      return { outcome: 'intact', file: check.file, tried: [], pruned: [], sha256: check.sha256 };
    }
    run.fact('corruption', check.problem);
    // The procedure's alert CFG-002 ("config parse failure").
    run.record('config.parseFailed', {
      alert: 'CFG-002',
      file: check.file,
      problem: check.problem,
      line: check.line,
      column: check.column,
    });

    const choice = await run.step('findParsableBackup', 'findParsableConfigBackup', [target]);
    run.fact('tried', choice.tried);
    let warning: string | undefined;
    const info = workflowInfo();
    const incident = runTagOf(info.startTime, info.runId);
    const plan = (replacement: string, lost: string) =>
      quarantinePlan({
        file: `the config ${check.file} (${check.problem})`,
        keptIn: `the quarantine folder ${incident} beside it`,
        replacement,
        lost,
        wayBack: 'a stop after the replacement puts the corrupt config back',
      });
    if (choice.source === 'backup') {
      run.fact('backupUsed', choice.name);
      await run.gate(
        'restoreConfig',
        `config ${check.file} does not parse (${check.problem}); restore backup ${choice.name} from ${choice.backups}${skippedBackups(choice.tried)}`,
        plan(
          `backup ${choice.name} from ${choice.backups} (sha256 ${choice.sha256.slice(0, 16)}…)`,
          'settings changed after that backup was made',
        ),
      );
    } else {
      warning = `FELL BACK TO THE COMPILED-IN DEFAULT ${choice.file}: no backup in ${choice.backups} parses (${choice.backupsProblem}); the application now runs on default settings, not on its last good config`;
      run.fact('warning', warning);
      await run.gate(
        'useDefault',
        `EVERY BACKUP FAILED: no backup in ${choice.backups} parses (${choice.backupsProblem}). Approving replaces the config ${check.file} (${check.problem}) with the COMPILED-IN DEFAULT ${choice.file}; the application's own settings will be lost until a good backup is restored`,
        plan(
          `the COMPILED-IN DEFAULT ${choice.file}`,
          "EVERY setting of the application's own: it runs on defaults until a good backup is restored",
        ),
      );
    }

    const installed = await run.step(
      'quarantineAndReplace',
      'installConfig',
      [target, { source: choice.source, name: choice.name, sha256: choice.sha256 }, incident],
      {
        // A stop after this point puts the corrupt config back: the run leaves things as it found them.
        compensation: { name: 'putCorruptConfigBack', activity: 'putConfigBack', args: [target, incident] },
      },
    );
    run.fact('quarantined', installed.quarantined);
    const verified = await run.step('verifyRestored', 'checkConfigFile', [
      target,
      { require: true, expectSha256: installed.sha256 },
    ]);
    if (warning) {
      run.record('config.defaultUsed', {
        warning,
        file: installed.file,
        default: installed.from,
        tried: choice.tried.map((t) => ({ name: t.name, problem: t.problem })),
        quarantined: installed.quarantined,
      });
    }
    const prune = await run.step('pruneBackups', 'pruneConfigBackups', [target, choice.name], {
      // Pruning is housekeeping: a responder may skip it rather than hold up the recovered config.
      skippable: true,
      skipValue: { kept: [], pruned: [] },
    });
    return {
      outcome: choice.source === 'backup' ? 'restoredBackup' : 'restoredDefault',
      file: installed.file,
      corruption: check.problem,
      source: installed.from,
      quarantined: installed.quarantined,
      tried: choice.tried,
      pruned: prune.pruned,
      sha256: verified.sha256,
      ...(warning ? { warning } : {}),
    };
  });
}

/** What the registry (runbooks/registry.ts), the CLI and the docs know of this runbook. */
corruptedConfigRecovery.meta = meta;
