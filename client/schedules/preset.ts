/**
 * The procedure's cadence (`schedule preset`): procedure 003's backups, verify and drills for one
 * target, each created only where the target's config has what it needs, and an existing one left
 * alone.
 */
import type { Client } from '@temporalio/client';
import { SELF_TARGET } from '../../common/constants';
import { DRILL_SCENARIOS, type DrillScenario } from '../../common/drill';
import type { RunbookMeta } from '../../common/runbook';
import { findRunbook } from '../../runbooks/registry';
import type { LifeboatConfig, TargetConfig } from '../../config';
import { ScheduleExistsError, createSchedule, missingSections, requireTarget } from './create';
import { checkTimezone } from './spec';

export interface PresetEntry {
  kind: string;
  runbook: string;
  cron: string;
  what: string;
  input: (target: TargetConfig) => Record<string, unknown>;
}

/** Procedure 003 §8, §14 and the drill document: daily full, hourly incremental, weekly verify, drills. */
export const PRESET: PresetEntry[] = [
  {
    kind: 'full-backup',
    runbook: 'fullBackup',
    cron: '0 2 * * *',
    what: 'daily full backup, 02:00',
    input: () => ({}),
  },
  {
    kind: 'incremental-backup',
    runbook: 'incrementalBackup',
    cron: '15 * * * *',
    what: 'hourly incremental backup, minute 15',
    input: () => ({}),
  },
  {
    kind: 'verify-backups',
    runbook: 'verifyBackup',
    cron: '0 3 * * SUN',
    what: 'weekly verify of every backup, Sunday 03:00',
    input: () => ({ backupId: 'all' }),
  },
  {
    kind: 'restore-drill',
    runbook: 'drDrill',
    cron: '0 4 1 * *',
    what: 'monthly restore drill (fullRestore), 1st 04:00',
    input: () => ({ scenario: 'fullRestore' }),
  },
  {
    kind: 'disaster-drill',
    runbook: 'drDrill',
    cron: '0 5 1 JAN,APR,JUL,OCT *',
    what: 'quarterly disaster drill, 1st of Jan/Apr/Jul/Oct 05:00',
    input: (target) => ({ scenario: target.panic ? 'deleteLedger' : 'corruptFiles' }),
  },
  {
    kind: 'host-loss-drill',
    runbook: 'drDrill',
    cron: '0 5 1 FEB,MAY,AUG,NOV *',
    what: 'quarterly host-loss drill (restore from the offsite copy alone), 1st of Feb/May/Aug/Nov 05:00',
    input: () => ({ scenario: 'hostLoss' }),
  },
];

const sectionList = (sections: string[]) =>
  `${sections.map((s) => `'${s}'`).join(', ')} ${sections.length > 1 ? 'sections' : 'section'}`;

/**
 * What the target lacks for a preset entry, in words; empty when it fits. A drill needs a `drill`
 * section and what its scenario's recovery runbook needs, with that runbook's commands among the
 * drill's own (a drill never runs the target's commands, which act on production).
 */
function presetMissing(target: TargetConfig, meta: RunbookMeta, input: Record<string, unknown>): string[] {
  const scenario = input.scenario as DrillScenario | undefined;
  if (scenario === undefined || !(scenario in DRILL_SCENARIOS)) {
    const missing = missingSections(target, meta.requires);
    return missing.length
      ? [`no ${sectionList(missing)} (${meta.name} needs ${missing.length > 1 ? 'them' : 'it'})`]
      : [];
  }
  if (!target.drill) return [`no 'drill' section (every drill needs one)`];
  const recovery = findRunbook(DRILL_SCENARIOS[scenario])?.requires ?? [];
  const sections = missingSections(target, [
    ...meta.requires,
    ...recovery.filter((s) => !s.startsWith('commands.')),
  ]);
  const commands = recovery
    .filter((s) => s.startsWith('commands.'))
    .map((s) => s.slice('commands.'.length))
    .filter((c) => target.drill!.commands[c] === undefined);
  const runs = `the ${scenario} drill runs ${DRILL_SCENARIOS[scenario]} in a sandbox`;
  if (scenario === 'hostLoss' && !target.offsite) sections.push('offsite');
  return [
    ...(sections.length ? [`no ${sectionList(sections)} (${runs})`] : []),
    ...(commands.length
      ? [`no ${commands.map((c) => `'${c}'`).join(', ')} in drill.commands (${runs})`]
      : []),
  ];
}

export interface PresetResult {
  /** The target the schedule runs for (lifeboat-self comes along with any target's preset). */
  target: string;
  kind: string;
  scheduleId: string;
  runbook: string;
  what: string;
  outcome: 'created' | 'exists' | 'skipped' | 'failed';
  reason?: string;
}

/** Creates what of the preset fits the target; an existing id is left alone. */
export async function applyPreset(
  client: Client,
  config: LifeboatConfig,
  targetName: string,
  options: { taskQueue: string; timezone?: string },
): Promise<PresetResult[]> {
  requireTarget(config, targetName);
  if (options.timezone !== undefined) checkTimezone(options.timezone);
  const results = await applyEntries(client, config, targetName, options);
  // Lifeboat's own stores are protected wherever its targets are: their schedules come along.
  if (targetName !== SELF_TARGET && config.targets[SELF_TARGET])
    results.push(
      ...(await applyEntries(client, config, SELF_TARGET, options)).filter((r) => r.outcome !== 'skipped'),
    );
  return results;
}

async function applyEntries(
  client: Client,
  config: LifeboatConfig,
  targetName: string,
  options: { taskQueue: string; timezone?: string },
): Promise<PresetResult[]> {
  const target = requireTarget(config, targetName);
  const results: PresetResult[] = [];
  for (const entry of PRESET) {
    const scheduleId = `${targetName}-${entry.kind}`;
    const base = {
      target: targetName,
      kind: entry.kind,
      scheduleId,
      runbook: entry.runbook,
      what: entry.what,
    };
    const meta = findRunbook(entry.runbook);
    if (!meta) {
      results.push({
        ...base,
        outcome: 'skipped',
        reason: `runbook ${entry.runbook} is not part of this Lifeboat`,
      });
      continue;
    }
    const input = entry.input(target);
    const missing = presetMissing(target, meta, input);
    if (missing.length > 0) {
      results.push({ ...base, outcome: 'skipped', reason: `the target has ${missing.join('; ')}` });
      continue;
    }
    try {
      await createSchedule(client, {
        scheduleId,
        runbook: entry.runbook,
        target: targetName,
        input,
        when: { cron: entry.cron },
        timezone: options.timezone,
        taskQueue: options.taskQueue,
        note: `lifeboat schedule preset: ${entry.what}`,
      });
      results.push({ ...base, outcome: 'created' });
    } catch (err) {
      if (err instanceof ScheduleExistsError)
        results.push({ ...base, outcome: 'exists', reason: 'left as it is' });
      else results.push({ ...base, outcome: 'failed', reason: (err as Error).message });
    }
  }
  return results;
}
