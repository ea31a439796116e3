/**
 * The retention planner for backups (grandfather-father-son): given the backups of a target, a
 * policy and the current time, decides which backups to keep and which to remove, and why. Pure: no
 * I/O and no clock (the caller passes `now`), so the same input always gives the same plan.
 *
 * Semantics:
 * - All periods are UTC. A day is `YYYY-MM-DD`, a week is the ISO 8601 week (Monday-based, named by
 *   its ISO week-year, so 2027-01-01 is in `2026-W53`), a month is `YYYY-MM`.
 * - Order: backups are sorted by createdAt (as an instant), then by backupId (plain code-unit order);
 *   the later in that order is the newer. Both lists of the plan are newest first. `createdAt` must
 *   be ISO 8601 with `Z` or an offset (or a bare date, read as UTC midnight): a local time without
 *   zone would make the plan depend on the machine, so it is a thrown Error naming the backup, as
 *   are duplicate backupIds.
 * - No rule at all (empty policy): everything is kept ("no retention rule").
 * - Selection, over all backups (verified or not, of any age): `keepLast` selects the N newest
 *   ("keep-last N"); `daily`/`weekly`/`monthly` select the newest backup of each of the N most recent
 *   days/weeks/months that have backups ("daily 2026-11-20", "weekly 2026-W47", "monthly 2026-11").
 *   The periods are counted back from the newest backup, not from `now`, so a pause in backups
 *   never empties a level. A backup collects one reason per rule that selects it.
 * - If any of keepLast/daily/weekly/monthly is set, a backup no rule selects is removed ("not
 *   selected by keep-last/daily/weekly/monthly"). If only maxAgeDays is set, every backup not older
 *   than it is kept ("younger than N days").
 * - maxAgeDays: a backup with createdAt < now - N days is removed ("older than N days") even if a
 *   rule selected it; one exactly N days old is not older. A removed backup lists every reason that
 *   applies ("not selected ..." first, then "older than N days").
 * - Protections override every removal and are always recorded on the kept backup, whether or not
 *   they were needed: (1) the newest verified backup is never removed ("newest verified backup");
 *   (2) every kept incremental keeps its parent ("parent of <backupId>"), and so on transitively up
 *   to the full, until nothing changes. Only incrementals point to a parent; a parent that is not in
 *   the list is ignored (nothing to keep). A removed incremental protects nothing.
 * - A kept backup lists only the reasons that keep it: a rule's reason is left out when the backup
 *   is older than maxAgeDays and survives only through a protection.
 * - The policy must pass `validateRetention`; otherwise `planRetention` throws with every problem.
 */

import { isObject } from './objects';

export interface RetentionPolicy {
  /** Keep the N newest backups. */
  keepLast?: number;
  /** Keep the newest backup of each of the N most recent UTC days that have backups. */
  daily?: number;
  /** Keep the newest backup of each of the N most recent ISO weeks (Monday-based, UTC) that have backups. */
  weekly?: number;
  /** Keep the newest backup of each of the N most recent UTC calendar months that have backups. */
  monthly?: number;
  /** Backups older than this many days are removed (unless protected). */
  maxAgeDays?: number;
}

export interface BackupRecord {
  backupId: string;
  /** ISO 8601, UTC. */
  createdAt: string;
  kind: 'full' | 'incremental';
  /** backupId of the parent (incrementals only). */
  parent?: string;
  /** Passed verification. */
  verified: boolean;
}

export interface RetentionItem {
  backupId: string;
  createdAt: string;
  reasons: string[];
}

/** Both lists newest first. */
export interface RetentionPlan {
  keep: RetentionItem[];
  remove: RetentionItem[];
}

export const RETENTION_KEYS = ['keepLast', 'daily', 'weekly', 'monthly', 'maxAgeDays'] as const;

const DAY_MS = 86_400_000;
const NOT_SELECTED = 'not selected by keep-last/daily/weekly/monthly';
const NEWEST_VERIFIED = 'newest verified backup';
const NO_RULE = 'no retention rule';
const ISO_UTC = /^\d{4}-\d{2}-\d{2}(?:T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:\d{2}))?$/;

/**
 * Checks a retention config (e.g. from the config file) and returns the policy of its valid
 * settings with every problem at once, each naming the field. An empty object is valid.
 */
export function validateRetention(
  raw: unknown,
  where: string,
): { policy: RetentionPolicy; problems: string[] } {
  const policy: RetentionPolicy = {};
  const problems: string[] = [];
  if (!isObject(raw)) {
    problems.push(`${where} must be an object like {"keepLast": 3, "daily": 7, "maxAgeDays": 90}`);
    return { policy, problems };
  }
  const known: readonly string[] = RETENTION_KEYS;
  for (const key of Object.keys(raw)) {
    if (!known.includes(key))
      problems.push(`${where}.${key} is not a known setting; known: ${RETENTION_KEYS.join(', ')}`);
  }
  for (const key of RETENTION_KEYS) {
    const value = raw[key];
    if (value === undefined) continue;
    if (typeof value === 'number' && Number.isSafeInteger(value) && value >= 1) policy[key] = value;
    else problems.push(`${where}.${key} must be a positive integer`);
  }
  return { policy, problems };
}

function pad(n: number, width = 2): string {
  return String(n).padStart(width, '0');
}

/** `YYYY-MM-DD` of the UTC day. */
export function utcDay(d: Date): string {
  return `${pad(d.getUTCFullYear(), 4)}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}`;
}

/** `YYYY-MM` of the UTC month. */
export function utcMonth(d: Date): string {
  return `${pad(d.getUTCFullYear(), 4)}-${pad(d.getUTCMonth() + 1)}`;
}

/** ISO 8601 week `YYYY-Www` (UTC): weeks start on Monday; week 1 holds the year's first Thursday. */
export function isoWeek(d: Date): string {
  const thursday = new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate()));
  const mondayBased = (thursday.getUTCDay() + 6) % 7;
  thursday.setUTCDate(thursday.getUTCDate() - mondayBased + 3);
  const year = thursday.getUTCFullYear();
  const week = 1 + Math.floor((thursday.getTime() - Date.UTC(year, 0, 1)) / DAY_MS / 7);
  return `${pad(year, 4)}-W${pad(week)}`;
}

interface Entry {
  record: BackupRecord;
  ms: number;
  /** Reasons from keepLast/daily/weekly/monthly (or the maxAgeDays-only / no-rule reason). */
  selected: string[];
  tooOld: boolean;
  kept: boolean;
  protections: string[];
}

function parseCreatedAt(b: BackupRecord): number {
  const ms = typeof b.createdAt === 'string' && ISO_UTC.test(b.createdAt) ? Date.parse(b.createdAt) : NaN;
  if (!Number.isFinite(ms))
    throw new Error(
      `backup ${b.backupId}: createdAt ${JSON.stringify(b.createdAt)} is not an ISO 8601 UTC timestamp`,
    );
  return ms;
}

/** Newest first: createdAt descending, then backupId descending. */
function newestFirst(a: Entry, b: Entry): number {
  if (a.ms !== b.ms) return b.ms - a.ms;
  const x = a.record.backupId;
  const y = b.record.backupId;
  return x < y ? 1 : x > y ? -1 : 0;
}

/** Selects the newest backup of each of the `count` most recent periods (entries are newest first). */
function selectPeriods(entries: Entry[], count: number, label: string, periodOf: (d: Date) => string): void {
  const seen = new Set<string>();
  for (const e of entries) {
    if (seen.size >= count) break;
    const period = periodOf(new Date(e.ms));
    if (seen.has(period)) continue;
    seen.add(period);
    e.selected.push(`${label} ${period}`);
  }
}

/** Plans which backups to keep and which to remove; see the module comment for the rules. */
export function planRetention(backups: BackupRecord[], policy: RetentionPolicy, now: Date): RetentionPlan {
  const { problems } = validateRetention(policy, 'policy');
  if (problems.length > 0) throw new Error(`invalid retention policy: ${problems.join('; ')}`);
  const nowMs = now instanceof Date ? now.getTime() : NaN;
  if (!Number.isFinite(nowMs)) throw new Error('planRetention: now must be a valid Date');

  const byId = new Map<string, Entry>();
  for (const record of backups) {
    if (byId.has(record.backupId)) throw new Error(`duplicate backupId ${record.backupId}`);
    byId.set(record.backupId, {
      record,
      ms: parseCreatedAt(record),
      selected: [],
      tooOld: false,
      kept: false,
      protections: [],
    });
  }
  const entries = [...byId.values()].sort(newestFirst);

  const { keepLast, daily, weekly, monthly, maxAgeDays } = policy;
  const hasGfs = [keepLast, daily, weekly, monthly].some((n) => n !== undefined);

  if (keepLast !== undefined)
    for (const e of entries.slice(0, keepLast)) e.selected.push(`keep-last ${keepLast}`);
  if (daily !== undefined) selectPeriods(entries, daily, 'daily', utcDay);
  if (weekly !== undefined) selectPeriods(entries, weekly, 'weekly', isoWeek);
  if (monthly !== undefined) selectPeriods(entries, monthly, 'monthly', utcMonth);

  const cutoff = maxAgeDays === undefined ? -Infinity : nowMs - maxAgeDays * DAY_MS;
  for (const e of entries) {
    e.tooOld = e.ms < cutoff;
    if (!hasGfs) {
      if (maxAgeDays === undefined) e.selected.push(NO_RULE);
      else if (!e.tooOld) e.selected.push(`younger than ${maxAgeDays} days`);
    }
    e.kept = e.selected.length > 0 && !e.tooOld;
  }

  // Protection 1: the newest verified backup.
  const newestVerified = entries.find((e) => e.record.verified);
  if (newestVerified) {
    newestVerified.kept = true;
    newestVerified.protections.push(NEWEST_VERIFIED);
  }

  // Protection 2: the parent chain of every kept incremental, until nothing changes.
  const parentOf = (e: Entry): Entry | undefined =>
    e.record.kind === 'incremental' && e.record.parent !== undefined && e.record.parent !== e.record.backupId
      ? byId.get(e.record.parent)
      : undefined;
  const pending = entries.filter((e) => e.kept);
  while (pending.length > 0) {
    const parent = parentOf(pending.pop() as Entry);
    if (parent && !parent.kept) {
      parent.kept = true;
      pending.push(parent);
    }
  }
  for (const e of entries) {
    const parent = e.kept ? parentOf(e) : undefined;
    if (parent) parent.protections.push(`parent of ${e.record.backupId}`);
  }

  const plan: RetentionPlan = { keep: [], remove: [] };
  for (const e of entries) {
    const item = (reasons: string[]): RetentionItem => ({
      backupId: e.record.backupId,
      createdAt: e.record.createdAt,
      reasons,
    });
    if (e.kept) {
      plan.keep.push(item([...(e.tooOld ? [] : e.selected), ...e.protections]));
    } else {
      const reasons: string[] = [];
      if (hasGfs && e.selected.length === 0) reasons.push(NOT_SELECTED);
      if (e.tooOld) reasons.push(`older than ${maxAgeDays} days`);
      plan.remove.push(item(reasons));
    }
  }
  return plan;
}
