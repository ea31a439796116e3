/**
 * When a schedule runs: the `--cron`, `--every` and `--timezone` flags checked locally, so that a
 * typo is refused with the field named before anything reaches the server, and turned into a
 * Temporal ScheduleSpec with the text `schedule list` shows.
 */
import type { ScheduleSpec } from '@temporalio/client';
import { badInput } from '../runs';

// Cron expressions: a strict 5-field parser.

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

export type ScheduleWhen = { cron: string } | { every: string };

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
