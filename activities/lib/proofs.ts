/**
 * The daily proof files of procedure 004 and their Merkle-root chain. Pure: no I/O, so the panic
 * recovery, the demo and the tests share one definition.
 *
 * Format. One file per day, `<proofs>/YYYY-MM-DD.json`:
 *
 *     {"date": "2026-11-20", "previousRoot": "<64 hex>", "leaves": ["<64 hex>", ...], "root": "<64 hex>"}
 *
 * - `leaves` are the SHA-256 (hex) of the day's proofs.
 * - `root` is the Merkle root over `[previousRoot, ...leaves]`: the nodes are the hex-decoded
 *   32-byte values; each level hashes neighbours pairwise, SHA-256(left ‖ right); an odd last node
 *   is hashed with itself; the single node left is the root. So each day's root commits to the
 *   previous day's root, and through it to every day before.
 * - The first day's `previousRoot` is 64 zeros (`GENESIS_ROOT`) when the chain starts there. Once
 *   old days are rotated away (the procedure keeps 90 days of proof archives) the oldest file left
 *   carries the root of a day that is gone: it is accepted as the chain's starting point and the
 *   verdict says so (`startsFrom`), since nothing left on disk can check it.
 * - Days are ordered by file name; `date` must equal the name's date.
 *
 * `verifyProofChain` checks, file by file: the file is JSON with those fields, its root recomputes,
 * and its previousRoot equals the root of the file before it; it names the first break (the file,
 * what was expected, what was found). `buildProofChain` writes a valid chain (demo, tests).
 */
import { createHash } from 'node:crypto';

export const GENESIS_ROOT = '0'.repeat(64);

/** A proof file's name: the day it covers. */
export const PROOF_FILE = /^(\d{4}-\d{2}-\d{2})\.json$/;

const HEX32 = /^[0-9a-f]{64}$/;

export interface ProofDay {
  date: string;
  previousRoot: string;
  leaves: string[];
  root: string;
}

/** Merkle root (hex) of 32-byte nodes given as hex; see the module comment. */
export function merkleRoot(nodes: string[]): string {
  if (nodes.length === 0) throw new Error('a Merkle root needs at least one node');
  let level: Buffer[] = nodes.map((n) => {
    if (!HEX32.test(n)) throw new Error(`not a 32-byte hex value: ${JSON.stringify(n)}`);
    return Buffer.from(n, 'hex');
  });
  while (level.length > 1) {
    const next: Buffer[] = [];
    for (let i = 0; i < level.length; i += 2) {
      const left = level[i];
      const right = level[i + 1] ?? left;
      next.push(createHash('sha256').update(left).update(right).digest());
    }
    level = next;
  }
  return level[0].toString('hex');
}

/** The SHA-256 (hex) of one proof, as a leaf. */
export function leafOf(proof: string | Buffer): string {
  return createHash('sha256').update(proof).digest('hex');
}

/** Builds a valid chain of days (in the order given), starting from `previousRoot`. */
export function buildProofChain(
  days: { date: string; leaves: string[] }[],
  previousRoot = GENESIS_ROOT,
): ProofDay[] {
  const chain: ProofDay[] = [];
  let prev = previousRoot;
  for (const day of days) {
    const root = merkleRoot([prev, ...day.leaves]);
    chain.push({ date: day.date, previousRoot: prev, leaves: [...day.leaves], root });
    prev = root;
  }
  return chain;
}

/** The file's text as written by the demo and tests. */
export function proofFileText(day: ProofDay): string {
  return `${JSON.stringify(day, null, 2)}\n`;
}

export interface ProofChainBreak {
  /** The proof file (name) where the chain first breaks. */
  file: string;
  /** What is wrong, in the operator's words. */
  problem: string;
  expected: string;
  found: string;
}

export type ProofChainVerdict =
  | {
      ok: true;
      files: number;
      first: string;
      last: string;
      lastRoot: string;
      /** `genesis`, or the root the oldest file continues from (older days rotated away). */
      startsFrom: string;
    }
  | { ok: false; checked: number; break: ProofChainBreak };

function isCalendarDate(date: string): boolean {
  const t = Date.parse(`${date}T00:00:00Z`);
  return Number.isFinite(t) && new Date(t).toISOString().slice(0, 10) === date;
}

function shortHex(value: unknown): string {
  return typeof value === 'string' && HEX32.test(value) ? `${value.slice(0, 16)}…` : JSON.stringify(value);
}

/** Checks the fields of one parsed proof file; returns the problem, or undefined. */
function fieldProblem(name: string, date: string, data: unknown): Omit<ProofChainBreak, 'file'> | undefined {
  if (typeof data !== 'object' || data === null || Array.isArray(data)) {
    return { problem: 'not a JSON object', expected: 'an object', found: typeof data };
  }
  const d = data as Record<string, unknown>;
  if (d.date !== date) {
    return {
      problem: `"date" does not match the file name ${name}`,
      expected: date,
      found: JSON.stringify(d.date),
    };
  }
  for (const key of ['previousRoot', 'root'] as const) {
    if (typeof d[key] !== 'string' || !HEX32.test(d[key] as string)) {
      return {
        problem: `"${key}" is not a SHA-256 (64 lowercase hex digits)`,
        expected: '64 hex digits',
        found: JSON.stringify(d[key]),
      };
    }
  }
  if (!Array.isArray(d.leaves)) {
    return { problem: '"leaves" is not an array', expected: 'an array of SHA-256', found: typeof d.leaves };
  }
  const bad = d.leaves.findIndex((l) => typeof l !== 'string' || !HEX32.test(l));
  if (bad >= 0) {
    return {
      problem: `leaf ${bad} is not a SHA-256 (64 lowercase hex digits)`,
      expected: '64 hex digits',
      found: JSON.stringify(d.leaves[bad]),
    };
  }
  return undefined;
}

/**
 * Verifies proof files given as `{name, text}` (any order; non-proof names must be filtered out by
 * the caller). An empty list is a break too: there is no chain to trust.
 */
export function verifyProofChain(files: { name: string; text: string }[]): ProofChainVerdict {
  const sorted = [...files].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  if (sorted.length === 0) {
    return {
      ok: false,
      checked: 0,
      break: { file: '(none)', problem: 'no proof files', expected: 'YYYY-MM-DD.json files', found: 'none' },
    };
  }
  let previousRoot = GENESIS_ROOT;
  let previousName: string | undefined;
  let startsFrom = 'genesis';
  for (const [index, { name, text }] of sorted.entries()) {
    const broken = (b: Omit<ProofChainBreak, 'file'>): ProofChainVerdict => ({
      ok: false,
      checked: index,
      break: { file: name, ...b },
    });
    const m = PROOF_FILE.exec(name);
    if (!m || !isCalendarDate(m[1]))
      return broken({ problem: 'not a proof file name', expected: 'YYYY-MM-DD.json', found: name });
    let data: unknown;
    try {
      data = JSON.parse(text);
    } catch (err) {
      return broken({ problem: 'not valid JSON', expected: 'JSON', found: (err as Error).message });
    }
    const problem = fieldProblem(name, m[1], data);
    if (problem) return broken(problem);
    const day = data as ProofDay;
    const recomputed = merkleRoot([day.previousRoot, ...day.leaves]);
    if (recomputed !== day.root) {
      return broken({
        problem: 'the stored root does not recompute from previousRoot and the leaves',
        expected: shortHex(recomputed),
        found: shortHex(day.root),
      });
    }
    if (!previousName && day.previousRoot !== GENESIS_ROOT) startsFrom = day.previousRoot;
    else if (day.previousRoot !== previousRoot) {
      return broken({
        problem: `previousRoot is not the root of ${previousName} (a day may be missing or altered)`,
        expected: shortHex(previousRoot),
        found: shortHex(day.previousRoot),
      });
    }
    previousRoot = day.root;
    previousName = name;
  }
  return {
    ok: true,
    files: sorted.length,
    first: sorted[0].name,
    last: sorted[sorted.length - 1].name,
    lastRoot: previousRoot,
    startsFrom,
  };
}

/** One line naming a break, for STOP reasons and the recovery proof. */
export function describeBreak(b: ProofChainBreak): string {
  return `${b.file}: ${b.problem} (expected ${b.expected}, found ${b.found})`;
}
