/**
 * Runbooks on Temporal Schedules, shared by the `lifeboat schedule …` commands and the tests.
 *
 * A schedule starts one runbook against one target on task queue `lifeboat`; its workflow ids start
 * with `<runbook>-<target>` (the server appends the scheduled time). Runs never overlap: within a
 * schedule the overlap policy is SKIP, and across schedules of one target the runbooks that take the
 * target's lock get `onBusy: 'skip'`, so a run that finds the target busy ends as skipped instead of
 * waiting for a person. The schedule's memo and search attributes name the runbook and target, for
 * `schedule list` and the Temporal UI's Schedules page.
 */
import {
  ScheduleAlreadyRunning,
  ScheduleNotFoundError,
  ScheduleOverlapPolicy,
  WorkflowNotFoundError,
  type Client,
  type ScheduleDescription,
  type ScheduleHandle,
  type ScheduleSpec,
} from '@temporalio/client';
import {
  SA_AWAITING_HUMAN,
  SA_RUNBOOK_NAME,
  SA_RUNBOOK_STATE,
  SA_RUNBOOK_TARGET,
  SELF_TARGET,
} from '../common/constants';
import { DRILL_SCENARIOS, type DrillScenario } from '../common/drill';
import type { RunbookMeta } from '../common/runbook';
import { TARGET_FIELD, validateInput } from '../common/schema';
import { findRunbook } from '../runbooks/registry';
import { targetHasSection, type LifeboatConfig, type TargetConfig } from '../config';
import { CliError, badInput, requireRunbook } from './runs';

// ---------------------------------------------------------------------------------------------
// Cron expressions: a strict 5-field parser, so that a typo is refused with the field named
// before anything reaches the server.

const MONTH_NAMES = ['JAN', 'FEB', 'MAR', 'APR', 'MAY', 'JUN', 'JUL', 'AUG', 'SEP', 'OCT', 'NOV', 'DEC'];
const DAY_NAMES = ['SUN', 'MON', 'TUE', 'WED', 'THU', 'FRI', 'SAT'];
const DAYS_IN_MONTH = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

interface CronField {
  name: string;
  min: number;
  max: number;
  /** Names for values (index + offset = value). */
  names?: { list: string[]; offset: number };
  hint: string;
}

const CRON_FIELDS: CronField[] = [
  { name: 'minute', min: 0, max: 59, hint: '0-59' },
  { name: 'hour', min: 0, max: 23, hint: '0-23' },
  { name: 'day of month', min: 1, max: 31, hint: '1-31' },
  { name: 'month', min: 1, max: 12, names: { list: MONTH_NAMES, offset: 1 }, hint: '1-12 or JAN-DEC' },
  {
    name: 'day of week',
    min: 0,
    max: 6,
    names: { list: DAY_NAMES, offset: 0 },
    hint: '0-6 (0 = Sunday) or SUN-SAT',
  },
];

const CRON_MACROS: Record<string, string> = {
  '@hourly': '0 * * * *',
  '@daily': '0 0 * * *',
  '@midnight': '0 0 * * *',
  '@weekly': '0 0 * * 0',
  '@monthly': '0 0 1 * *',
  '@yearly': '0 0 1 1 *',
  '@annually': '0 0 1 1 *',
};

const CRON_FORMAT =
  "5 fields 'minute hour day-of-month month day-of-week' (e.g. '0 2 * * *'; ranges 1-5, lists 1,15, steps */15, names JAN-DEC and SUN-SAT) or one of @hourly, @daily, @weekly, @monthly, @yearly";

/** The values one field selects; throws a message naming the field and what it allows. */
function cronValues(text: string, field: CronField): Set<number> {
  const value = (raw: string): number => {
    const named = field.names?.list.indexOf(raw.toUpperCase()) ?? -1;
    if (named >= 0) return named + field.names!.offset;
    if (!/^\d+$/.test(raw))
      throw new Error(`${field.name} '${raw}' is not a number (allowed: ${field.hint})`);
    const n = Number(raw);
    if (n < field.min || n > field.max)
      throw new Error(`${field.name} ${n} is out of range (allowed: ${field.hint})`);
    return n;
  };
  const values = new Set<number>();
  for (const item of text.split(',')) {
    const m = /^([^/-]+)(?:-([^/-]+))?(?:\/([^/]*))?$/.exec(item);
    if (!m) throw new Error(`${field.name} '${item}' is not a value, range (a-b) or step (*/n, a-b/n)`);
    const [, from, to, stepText] = m;
    let step = 1;
    if (stepText !== undefined) {
      if (!/^\d+$/.test(stepText) || Number(stepText) === 0)
        throw new Error(`${field.name} step '${stepText}' must be a whole number of at least 1`);
      step = Number(stepText);
    }
    let start: number;
    let end: number;
    if (from === '*') {
      if (to !== undefined) throw new Error(`${field.name} '${item}': '*' cannot start a range`);
      [start, end] = [field.min, field.max];
    } else {
      start = value(from);
      // `a/n` means from a to the end, stepping n.
      end = to !== undefined ? value(to) : stepText !== undefined ? field.max : start;
      if (end < start) throw new Error(`${field.name} range '${item}' runs backwards`);
    }
    for (let v = start; v <= end; v += step) values.add(v);
  }
  return values;
}

/**
 * Checks a cron expression and returns it in 5-field form (a macro expanded). Throws a bad-input
 * CliError naming `--cron`, the expression, and what is wrong with it.
 */
export function parseCron(expression: string): string {
  const raw = expression.trim();
  const fail = (why: string) =>
    badInput(`--cron '${expression}' does not parse: ${why}; expected ${CRON_FORMAT}`);
  if (raw.startsWith('@')) {
    const expanded = CRON_MACROS[raw.toLowerCase()];
    if (!expanded) throw fail(`unknown macro '${raw}'`);
    return expanded;
  }
  const parts = raw.split(/\s+/).filter((p) => p !== '');
  if (parts.length !== 5) throw fail(`it has ${parts.length} field${parts.length === 1 ? '' : 's'}, not 5`);
  const sets: Set<number>[] = [];
  for (const [i, part] of parts.entries()) {
    try {
      sets.push(cronValues(part, CRON_FIELDS[i]));
    } catch (err) {
      throw fail((err as Error).message);
    }
  }
  const [, , days, months] = sets;
  if (![...months].some((m) => [...days].some((d) => d <= DAYS_IN_MONTH[m - 1])))
    throw fail('no month it names has the day of month it names, so it never runs');
  return parts.join(' ');
}

/** `--every`: e.g. 90s, 15m, 1h, 1d, 1h30m. Returns milliseconds. */
export function parseEvery(text: string): number {
  const unit: Record<string, number> = { s: 1000, m: 60000, h: 3600000, d: 86400000 };
  const raw = text.trim();
  if (!/^(\d+[smhd])+$/.test(raw))
    throw badInput(
      `--every '${text}' is not a duration; give a number with a unit s, m, h or d (e.g. 90s, 15m, 1h, 1d, 1h30m)`,
    );
  let ms = 0;
  for (const [, n, u] of raw.matchAll(/(\d+)([smhd])/g)) ms += Number(n) * unit[u];
  if (ms < 1000) throw badInput(`--every '${text}' must be at least 1s`);
  return ms;
}

export function checkTimezone(zone: string): string {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: zone });
  } catch {
    throw badInput(
      `--timezone '${zone}' is not a known time zone; give an IANA name such as Europe/Berlin or UTC`,
    );
  }
  return zone;
}

// ---------------------------------------------------------------------------------------------
// Input and targets

/**
 * The input every scheduled run gets: `{target, ...input}`, with `onBusy: 'skip'` for runbooks that
 * take the target's lock (unless the input says otherwise). Validated against the runbook's schema.
 */
export function scheduledInput(
  meta: RunbookMeta,
  target: string,
  input: Record<string, unknown>,
): Record<string, unknown> {
  if (input.target !== undefined && input.target !== target)
    throw badInput(`--input names target '${String(input.target)}' but --target is '${target}'; give one`);
  const full: Record<string, unknown> = { ...input, target };
  if ('onBusy' in meta.input && full.onBusy === undefined) full.onBusy = 'skip';
  const problems = validateInput(meta.name, { target: TARGET_FIELD, ...meta.input }, full);
  if (problems.length > 0) throw badInput(problems.join('\n'));
  return full;
}

/** The sections `sections` names that the target lacks. */
export function missingSections(target: TargetConfig, sections: string[]): string[] {
  return [...new Set(sections)].filter((s) => !targetHasSection(target, s));
}

export function requireTarget(config: LifeboatConfig, name: string): TargetConfig {
  const target = config.targets[name];
  if (!target)
    throw badInput(
      `unknown target '${name}'; the config has: ${Object.keys(config.targets).sort().join(', ')}`,
    );
  return target;
}

const sectionList = (sections: string[]) =>
  `${sections.map((s) => `'${s}'`).join(', ')} ${sections.length > 1 ? 'sections' : 'section'}`;

// ---------------------------------------------------------------------------------------------
// Creating, finding and listing schedules

/** What Lifeboat keeps in a schedule's memo. */
export interface ScheduleMemo {
  runbook: string;
  target: string;
  /** As given: `cron 0 2 * * *` or `every 15m`. */
  spec: string;
}

export type ScheduleWhen = { cron: string } | { every: string };

/** A schedule with that id exists already (bad input, exit 2). */
export class ScheduleExistsError extends CliError {
  constructor(readonly scheduleId: string) {
    super(`schedule '${scheduleId}' exists already; delete it or choose --id`, 2);
  }
}

export interface CreateScheduleOptions {
  scheduleId?: string;
  runbook: string;
  target: string;
  input?: Record<string, unknown>;
  when: ScheduleWhen;
  timezone?: string;
  taskQueue: string;
  note?: string;
}

export const scheduleWorkflowIdPrefix = (runbook: string, target: string) => `${runbook}-${target}`;

/** The spec and its description, checked (cron parsed, interval a duration). */
export function scheduleSpec(when: ScheduleWhen, timezone?: string): { spec: ScheduleSpec; text: string } {
  const zone = timezone === undefined ? undefined : checkTimezone(timezone);
  const suffix = zone && zone !== 'UTC' ? ` (${zone})` : ' (UTC)';
  if ('cron' in when) {
    const cron = parseCron(when.cron);
    return { spec: { cronExpressions: [cron], timezone: zone }, text: `cron ${when.cron.trim()}${suffix}` };
  }
  if (zone !== undefined)
    throw badInput('--timezone applies to --cron only; an interval does not depend on it');
  const ms = parseEvery(when.every);
  return { spec: { intervals: [{ every: ms }] }, text: `every ${when.every.trim()}` };
}

/** Validates everything locally, then creates the schedule. Bad input of any kind: CliError exit 2. */
export async function createSchedule(
  client: Client,
  options: CreateScheduleOptions,
): Promise<ScheduleHandle> {
  const meta = requireRunbook(options.runbook);
  const input = scheduledInput(meta, options.target, options.input ?? {});
  const { spec, text } = scheduleSpec(options.when, options.timezone);
  const scheduleId = options.scheduleId ?? scheduleWorkflowIdPrefix(meta.name, options.target);
  const memo: ScheduleMemo = { runbook: meta.name, target: options.target, spec: text };
  try {
    return await client.schedule.create({
      scheduleId,
      spec,
      action: {
        type: 'startWorkflow',
        workflowType: meta.name,
        workflowId: scheduleWorkflowIdPrefix(meta.name, options.target),
        taskQueue: options.taskQueue,
        args: [input],
        typedSearchAttributes: [
          { key: SA_RUNBOOK_NAME, value: meta.name },
          { key: SA_RUNBOOK_TARGET, value: options.target },
          { key: SA_RUNBOOK_STATE, value: 'running' },
          { key: SA_AWAITING_HUMAN, value: false },
        ],
      },
      // Why SKIP: a drill or backup never runs twice at once; a time that falls during a run is dropped.
      policies: { overlap: ScheduleOverlapPolicy.SKIP },
      memo: { lifeboat: memo },
      typedSearchAttributes: [
        { key: SA_RUNBOOK_NAME, value: meta.name },
        { key: SA_RUNBOOK_TARGET, value: options.target },
      ],
      state: { note: options.note ?? `created by lifeboat: ${meta.name} on ${options.target}, ${text}` },
    });
  } catch (err) {
    if (err instanceof ScheduleAlreadyRunning) throw new ScheduleExistsError(scheduleId);
    // The SDK reports the server's "Invalid schedule spec" as a TypeError carrying its reason.
    if (err instanceof TypeError) {
      const flag =
        options.timezone !== undefined && /time ?zone/i.test(err.message)
          ? `--timezone '${options.timezone}'`
          : 'cron' in options.when
            ? `--cron '${options.when.cron}'`
            : `--every '${options.when.every}'`;
      throw badInput(`${flag} was refused by the server: ${err.message}`);
    }
    throw err;
  }
}

/** Describes a schedule; an unknown id is bad input naming it. */
export async function describeSchedule(
  client: Client,
  scheduleId: string,
): Promise<{ handle: ScheduleHandle; description: ScheduleDescription }> {
  const handle = client.schedule.getHandle(scheduleId);
  try {
    return { handle, description: await handle.describe() };
  } catch (err) {
    if (err instanceof ScheduleNotFoundError)
      throw badInput(
        `no schedule '${scheduleId}' in namespace '${client.options.namespace}' (lifeboat schedule list shows them)`,
      );
    throw err;
  }
}

function memoOf(description: { memo?: Record<string, unknown> }): Partial<ScheduleMemo> {
  const memo = description.memo?.lifeboat;
  return typeof memo === 'object' && memo !== null ? (memo as Partial<ScheduleMemo>) : {};
}

/** The last run a schedule started: its state, and a completed run's outcome if it names one. */
export interface LastRun {
  workflowId: string;
  startedAt: string;
  state: string;
  outcome?: string;
  reason?: string;
}

export interface ScheduleRow {
  scheduleId: string;
  runbook: string;
  target?: string;
  spec: string;
  paused: boolean;
  note?: string;
  nextRun: string | null;
  lastRun: LastRun | null;
}

function describeSpec(description: ScheduleDescription): string {
  const memo = memoOf(description);
  if (memo.spec) return memo.spec;
  const intervals = description.spec.intervals?.map((i) => `every ${i.every / 1000}s`) ?? [];
  const calendars = description.spec.calendars?.length
    ? [`${description.spec.calendars.length} calendar(s)`]
    : [];
  return [...intervals, ...calendars].join(', ') || '?';
}

async function lastRunOf(client: Client, description: ScheduleDescription): Promise<LastRun | undefined> {
  const last = description.info.recentActions.at(-1);
  if (!last) return undefined;
  const { workflowId, firstExecutionRunId } = last.action.workflow;
  const run: LastRun = { workflowId, startedAt: last.takenAt.toISOString(), state: 'unknown' };
  try {
    const handle = client.workflow.getHandle(workflowId, firstExecutionRunId);
    const wf = await handle.describe();
    run.state = wf.typedSearchAttributes.get(SA_RUNBOOK_STATE) ?? wf.status.name.toLowerCase();
    if (wf.status.name === 'COMPLETED') {
      const outcome = ((await handle.result()) as { result?: { outcome?: unknown; reason?: unknown } })
        .result;
      if (typeof outcome?.outcome === 'string') run.outcome = outcome.outcome;
      if (typeof outcome?.reason === 'string') run.reason = outcome.reason;
    }
  } catch (err) {
    // A run removed by the namespace's retention: say so rather than fail the list.
    if (!(err instanceof WorkflowNotFoundError)) throw err;
  }
  return run;
}

/** A schedule as `schedule list` shows it. */
export async function scheduleRow(client: Client, description: ScheduleDescription): Promise<ScheduleRow> {
  const memo = memoOf(description);
  return {
    scheduleId: description.scheduleId,
    runbook: memo.runbook ?? description.action.workflowType,
    target: memo.target,
    spec: describeSpec(description),
    paused: description.state.paused,
    note: description.state.note,
    nextRun: description.state.paused ? null : (description.info.nextActionTimes[0]?.toISOString() ?? null),
    lastRun: (await lastRunOf(client, description)) ?? null,
  };
}

/**
 * Every schedule of the namespace (optionally of one target), described one by one so that paused
 * state and recent runs are current even where the visibility store lags.
 */
export async function listSchedules(
  client: Client,
  filter: { target?: string } = {},
): Promise<ScheduleRow[]> {
  const rows: ScheduleRow[] = [];
  for await (const summary of client.schedule.list()) {
    let description: ScheduleDescription;
    try {
      description = await client.schedule.getHandle(summary.scheduleId).describe();
    } catch (err) {
      if (err instanceof ScheduleNotFoundError) continue; // deleted since the list was read
      throw err;
    }
    const row = await scheduleRow(client, description);
    if (filter.target === undefined || row.target === filter.target) rows.push(row);
  }
  return rows.sort((a, b) => a.scheduleId.localeCompare(b.scheduleId));
}

export function formatLastRun(run: LastRun | null): string {
  if (!run) return 'no run yet';
  const outcome = run.outcome ? ` (${run.outcome}${run.reason ? `: ${run.reason}` : ''})` : '';
  return `${run.state}${outcome} ${run.workflowId}`;
}

/** Maps an unknown schedule to bad input naming it; anything else is rethrown. */
export async function onSchedule<T>(
  client: Client,
  scheduleId: string,
  action: (handle: ScheduleHandle) => Promise<T>,
): Promise<T> {
  try {
    return await action(client.schedule.getHandle(scheduleId));
  } catch (err) {
    if (err instanceof ScheduleNotFoundError)
      throw badInput(
        `no schedule '${scheduleId}' in namespace '${client.options.namespace}' (lifeboat schedule list shows them)`,
      );
    throw err;
  }
}

// ---------------------------------------------------------------------------------------------
// The procedure's cadence (`schedule preset`)

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
