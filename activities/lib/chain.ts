/**
 * A hash-chained log (procedure 001 §3.3, §4.3): parse and verify, with no I/O.
 *
 * The file holds one JSON object per line (blank lines at the end are allowed). Entry `i` carries
 * - `prevHash`: the `hash` of entry `i - 1`; entry 0 carries {@link GENESIS_HASH} (64 zeros);
 * - `hash`: the SHA-256 (lowercase hex) of the entry's canonical JSON *without* its `hash` field,
 *   where canonical JSON sorts object keys recursively (by UTF-16 code unit, as `Array.sort` does)
 *   and has no spaces: `{"at":"…","event":"login","prevHash":"000…"}`.
 * An entry's time is the first of its fields `timestamp`, `time`, `at`, `ts` that is present
 * (a number is read as epoch seconds, or milliseconds when it is that large).
 *
 * A backup (`chain_backups/<timestamp>.json`) holds either the same JSON lines or one JSON array of
 * the entries; {@link readChainDocument} accepts both.
 *
 * `verifyEntries` names the first entry that does not fit, with the expected and actual hash:
 * - a line that is not JSON: reason `line N is not JSON: <what the parser expected>`;
 * - a `prevHash` mismatch: expected = the previous entry's hash, actual = the stored `prevHash`;
 * - a `hash` mismatch: expected = the hash recomputed from the content, actual = the stored `hash`.
 *
 * Parser messages never quote the text around an error (V8's `JSON.parse` does): a log or config
 * line may hold a secret, and reasons go into the status, the audit ledger and webhooks.
 *
 * @example
 * const text = toJsonLines(buildChain([{ at: '2026-01-01T00:00:00Z', event: 'login' }]));
 * verifyChain(text); // { valid: true, entries: 1, head: '…' }
 */
import { isObject } from '../../common/objects';
import { createHash } from 'node:crypto';
import { jsonSyntaxError } from './jsonSyntax';

export { jsonSyntaxError, type JsonSyntaxError } from './jsonSyntax';

export const GENESIS_HASH = '0'.repeat(64);

/** Fields that may hold an entry's time, in the order they are looked at. */
export const TIME_FIELDS = ['timestamp', 'time', 'at', 'ts'] as const;

export interface ChainEntry {
  prevHash: string;
  hash: string;
  [field: string]: unknown;
}

/** One entry as read from a document: its value, or why it could not be read. */
export interface ChainLine {
  /** 0-based position in the chain. */
  index: number;
  /** 1-based line in a JSON-lines file; absent for an entry of a JSON array. */
  line?: number;
  entry?: unknown;
  /** Why the line is not an entry (not JSON, empty). */
  error?: string;
}

export interface ChainBreak {
  /** 0-based index of the first entry that does not fit. */
  index: number;
  /** Its 1-based line (JSON lines only). */
  line?: number;
  reason: string;
  expected?: string;
  actual?: string;
}

export interface ChainVerdict {
  valid: boolean;
  /** Entries in the document (every non-blank line), readable or not. */
  entries: number;
  /** Hash of the last entry that verified (the genesis hash when none did). */
  head: string;
  brokenAt?: ChainBreak;
}

/** What a restore from an older chain loses from a newer (broken) one. */
export interface ChainGap {
  /** Entries of the broken chain at an index the restored chain does not reach. */
  lost: number;
  firstIndex?: number;
  lastIndex?: number;
  /** Times of the first and last lost entries that carry one. */
  firstTime?: string;
  lastTime?: string;
  /** Lost entries that verified (before the break): newer than the backup, kept in quarantine. */
  verifiedLost: number;
  brokenChainEntries: number;
  restoredEntries: number;
  /** First index (before the break) where the restored chain holds a different entry. */
  divergesAt?: number;
}

export { canonicalJson } from '../../common/statements';
import { canonicalJson } from '../../common/statements';

/** The hash an entry must carry: SHA-256 of its canonical JSON without the `hash` field. */
export function hashEntry(entry: Record<string, unknown>): string {
  const { hash: _hash, ...rest } = entry;
  return createHash('sha256').update(canonicalJson(rest)).digest('hex');
}

/** The entry's time as a string (ISO for a numeric epoch), if it has one. */
export function entryTime(entry: unknown): string | undefined {
  if (typeof entry !== 'object' || entry === null) return undefined;
  const record = entry as Record<string, unknown>;
  for (const field of TIME_FIELDS) {
    const value = record[field];
    if (typeof value === 'string' && value.trim() !== '') return value;
    if (typeof value === 'number' && Number.isFinite(value)) {
      const ms = Math.abs(value) < 1e11 ? value * 1000 : value;
      const date = new Date(ms);
      return Number.isNaN(date.getTime()) ? String(value) : date.toISOString();
    }
  }
  return undefined;
}

/**
 * Builds a valid chain from records (any `prevHash`/`hash` in them is replaced), continuing from
 * `prevHash` (the genesis hash for a new chain).
 */
export function buildChain(records: Record<string, unknown>[], prevHash = GENESIS_HASH): ChainEntry[] {
  const entries: ChainEntry[] = [];
  let prev = prevHash;
  for (const record of records) {
    const { hash: _hash, prevHash: _prev, ...fields } = record;
    const body = { ...fields, prevHash: prev };
    const entry = { ...body, hash: hashEntry(body) } as ChainEntry;
    entries.push(entry);
    prev = entry.hash;
  }
  return entries;
}

/** One JSON object per line, ending in a newline. */
export function toJsonLines(entries: unknown[]): string {
  return entries.map((e) => `${JSON.stringify(e)}\n`).join('');
}

/** Splits JSON lines into entries; blank lines at the end are allowed, a blank line inside is not. */
export function splitJsonLines(text: string): ChainLine[] {
  const raw = text.split('\n').map((l) => (l.endsWith('\r') ? l.slice(0, -1) : l));
  while (raw.length > 0 && raw[raw.length - 1].trim() === '') raw.pop();
  return raw.map((content, index): ChainLine => {
    const line = index + 1;
    if (content.trim() === '') return { index, line, error: `line ${line} is empty` };
    const problem = jsonSyntaxError(content);
    if (problem) {
      return {
        index,
        line,
        error: `line ${line} is not JSON: ${problem.message} at column ${problem.column}`,
      };
    }
    return { index, line, entry: JSON.parse(content) as unknown };
  });
}

/**
 * Reads a chain document: a JSON array of entries when the text starts with `[`, JSON lines
 * otherwise. An array that does not parse is broken at entry 0.
 */
export function readChainDocument(text: string): { format: 'lines' | 'array'; lines: ChainLine[] } {
  if (!text.trimStart().startsWith('[')) return { format: 'lines', lines: splitJsonLines(text) };
  const problem = jsonSyntaxError(text);
  if (problem) {
    return {
      format: 'array',
      lines: [
        {
          index: 0,
          error: `the file starts with '[' but is not a JSON array: ${problem.message} at line ${problem.line}, column ${problem.column}`,
        },
      ],
    };
  }
  const entries = JSON.parse(text) as unknown[];
  return { format: 'array', lines: entries.map((entry, index) => ({ index, entry })) };
}

/** Verifies entries in order and names the first one that does not fit. */
export function verifyEntries(lines: ChainLine[]): ChainVerdict {
  let prev = GENESIS_HASH;
  const broken = (l: ChainLine, reason: string, extra: Partial<ChainBreak> = {}): ChainVerdict => ({
    valid: false,
    entries: lines.length,
    head: prev,
    brokenAt: { index: l.index, ...(l.line !== undefined ? { line: l.line } : {}), reason, ...extra },
  });
  for (const l of lines) {
    const where = l.line !== undefined ? `entry ${l.index} (line ${l.line})` : `entry ${l.index}`;
    if (l.error !== undefined) return broken(l, l.error);
    const entry = l.entry;
    if (!isObject(entry)) {
      return broken(
        l,
        l.line !== undefined ? `line ${l.line} is not a JSON object` : `${where} is not a JSON object`,
      );
    }
    for (const field of ['prevHash', 'hash']) {
      if (typeof entry[field] !== 'string') return broken(l, `${where} has no "${field}" string`);
    }
    const { prevHash, hash } = entry as ChainEntry;
    if (prevHash !== prev) {
      const of = l.index === 0 ? 'the genesis hash (64 zeros)' : `the hash of entry ${l.index - 1}`;
      return broken(l, `${where}: prevHash is not ${of}`, { expected: prev, actual: prevHash });
    }
    const computed = hashEntry(entry);
    if (computed !== hash) {
      return broken(l, `${where}: hash does not match its content`, { expected: computed, actual: hash });
    }
    prev = hash;
  }
  return { valid: true, entries: lines.length, head: prev };
}

/** Verifies a JSON-lines chain. */
export function verifyChain(text: string): ChainVerdict {
  return verifyEntries(splitJsonLines(text));
}

/**
 * What restoring `restored` (a verified chain) in place of `broken` loses: the entries of `broken`
 * at an index `restored` does not reach. `brokenAt` is where `broken` stopped verifying.
 */
export function measureGap(
  broken: ChainLine[],
  brokenAt: ChainBreak | undefined,
  restored: ChainLine[],
): ChainGap {
  const restoredCount = restored.length;
  const lostLines = broken.filter((l) => l.index >= restoredCount);
  const times = lostLines.map((l) => entryTime(l.entry)).filter((t): t is string => t !== undefined);
  const breakIndex = brokenAt?.index ?? broken.length;
  const gap: ChainGap = {
    lost: lostLines.length,
    verifiedLost: lostLines.filter((l) => l.index < breakIndex).length,
    brokenChainEntries: broken.length,
    restoredEntries: restoredCount,
  };
  if (lostLines.length > 0) {
    gap.firstIndex = lostLines[0].index;
    gap.lastIndex = lostLines[lostLines.length - 1].index;
  }
  if (times.length > 0) {
    gap.firstTime = times[0];
    gap.lastTime = times[times.length - 1];
  }
  const hashOf = (l: ChainLine | undefined) => (isObject(l?.entry) ? l.entry.hash : undefined);
  const compared = Math.min(restoredCount, breakIndex, broken.length);
  for (let i = 0; i < compared; i += 1) {
    if (hashOf(broken[i]) !== hashOf(restored[i])) {
      gap.divergesAt = i;
      break;
    }
  }
  return gap;
}
