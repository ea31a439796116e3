/**
 * From the repetitions to one summary per step: the median and spread (min–max) of wall seconds,
 * the median CPU seconds, the largest peak RSS; Lifeboat's ratio to each peer (of the medians);
 * and the targets, reported and never asserted.
 */
import type { Op, Status, StepResult, Tool } from './steps';

export interface Spread {
  median: number;
  min: number;
  max: number;
}

export interface StepSummary {
  key: string;
  tool: Tool;
  op: Op;
  label: string;
  /** ok when at least one repetition succeeded (the failures are listed apart). */
  status: Status;
  /** Repetitions that succeeded. */
  reps: number;
  seconds?: Spread;
  /** Median of user + system CPU seconds, and of each. */
  cpuSeconds?: number;
  userSeconds?: number;
  systemSeconds?: number;
  /** Peers' restores: without the `sync` that makes them durable. */
  secondsWithoutSync?: Spread;
  processSeconds?: number;
  /** Data set size / median seconds (MB = 10^6 bytes). */
  mbPerSec?: number;
  archiveBytes?: number;
  /** The largest over the repetitions. */
  peakRssKiB?: number;
  check?: 'ok' | 'MISMATCH';
  /** Lifeboat's median seconds (or archive bytes) divided by this peer's, for the same operation. */
  lifeboatTimeRatio?: number;
  lifeboatSizeRatio?: number;
  errors?: string[];
}

/** The table's order: operations, then tools. */
export const OP_ORDER: Op[] = [
  'backup',
  'nochange',
  'incremental',
  'verify',
  'restore',
  'backup+verify',
  'restore+checks',
];
const TOOL_ORDER: Tool[] = ['lifeboat', 'restic', 'borg', 'tar+gzip+gpg'];

export function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

function spread(values: number[]): Spread | undefined {
  return values.length
    ? { median: median(values), min: Math.min(...values), max: Math.max(...values) }
    : undefined;
}

const defined = (values: (number | undefined)[]) => values.filter((v): v is number => v !== undefined);
const medianOf = (values: (number | undefined)[]) => {
  const d = defined(values);
  return d.length ? median(d) : undefined;
};

export function summarize(results: StepResult[], datasetBytes: number): StepSummary[] {
  const keys = [...new Set(results.map((r) => r.key))];
  const summaries = keys.map((key): StepSummary => {
    const all = results.filter((r) => r.key === key);
    const ok = all.filter((r) => r.status === 'ok');
    const first = all[0];
    const status = ok.length ? 'ok' : all.some((r) => r.status === 'failed') ? 'failed' : first.status;
    const seconds = spread(defined(ok.map((r) => r.seconds)));
    const cpu = ok.map((r) =>
      r.userSeconds === undefined ? undefined : r.userSeconds + (r.systemSeconds ?? 0),
    );
    const peaks = defined(ok.map((r) => r.peakRssKiB));
    const checks = defined(ok.map((r) => (r.check === undefined ? undefined : r.check === 'ok' ? 1 : 0)));
    const errors = all.filter((r) => r.status === 'failed').map((r) => `rep ${r.rep}: ${r.error}`);
    return {
      key,
      tool: first.tool,
      op: first.op,
      label: first.label,
      status,
      reps: ok.length,
      seconds,
      cpuSeconds: medianOf(cpu),
      userSeconds: medianOf(ok.map((r) => r.userSeconds)),
      systemSeconds: medianOf(ok.map((r) => r.systemSeconds)),
      secondsWithoutSync: spread(defined(ok.map((r) => r.secondsWithoutSync))),
      processSeconds: medianOf(ok.map((r) => r.processSeconds)),
      mbPerSec: seconds && seconds.median > 0 ? datasetBytes / 1e6 / seconds.median : undefined,
      archiveBytes: medianOf(ok.map((r) => r.archiveBytes)),
      peakRssKiB: peaks.length ? Math.max(...peaks) : undefined,
      check: checks.length ? (checks.every((c) => c === 1) ? 'ok' : 'MISMATCH') : undefined,
      ...(errors.length ? { errors } : {}),
    };
  });
  summaries.sort(
    (a, b) =>
      OP_ORDER.indexOf(a.op) - OP_ORDER.indexOf(b.op) ||
      TOOL_ORDER.indexOf(a.tool) - TOOL_ORDER.indexOf(b.tool),
  );
  addRatios(summaries);
  return summaries;
}

export function find(summaries: StepSummary[], tool: Tool, op: Op): StepSummary | undefined {
  return summaries.find((s) => s.tool === tool && s.op === op && s.status === 'ok');
}

function addRatios(summaries: StepSummary[]): void {
  for (const s of summaries) {
    if (s.tool === 'lifeboat' || s.status !== 'ok') continue;
    const lb = find(summaries, 'lifeboat', s.op);
    if (!lb) continue;
    if (lb.seconds && s.seconds?.median) s.lifeboatTimeRatio = lb.seconds.median / s.seconds.median;
    // With nothing changed, what each adds is a few metadata bytes: no ratio to speak of.
    if (lb.archiveBytes !== undefined && s.archiveBytes && s.op !== 'nochange')
      s.lifeboatSizeRatio = lb.archiveBytes / s.archiveBytes;
  }
}

export interface Target {
  target: string;
  status: 'met' | 'missed' | 'n/a';
  detail: string;
}

const secs = (v: number) => `${v.toFixed(2)} s`;

/** The targets, on the medians. `scale` prefixes the incremental targets ("100000 files: "). */
export function targets(summaries: StepSummary[], scale: string): Target[] {
  const out: Target[] = [];
  const compare = (target: string, tool: Tool, op: Op, peerOp: Op, peerName: string) => {
    const a = find(summaries, 'lifeboat', op);
    const b = find(summaries, tool, peerOp);
    if (!a?.seconds || !b?.seconds) {
      out.push({
        target,
        status: 'n/a',
        detail: `${a ? (b?.label ?? peerName) : 'Lifeboat'} result missing`,
      });
      return;
    }
    const x = a.seconds.median;
    const y = b.seconds.median;
    out.push({
      target,
      status: x <= y ? 'met' : 'missed',
      detail: `Lifeboat ${secs(x)} vs ${b.label} ${secs(y)} (${(x / y).toFixed(2)}x)`,
    });
  };
  compare('full backup ≤ 1.0x restic', 'restic', 'backup', 'backup', 'restic');
  compare(`${scale}incremental (1% changed) ≤ 1.0x restic`, 'restic', 'incremental', 'incremental', 'restic');
  const full = find(summaries, 'lifeboat', 'backup');
  const incr = find(summaries, 'lifeboat', 'incremental');
  if (full?.seconds && incr?.seconds) {
    const share = incr.seconds.median / full.seconds.median;
    const archive = ((incr.archiveBytes ?? 0) / (full.archiveBytes || 1)) * 100;
    out.push({
      target: `${scale}incremental (1% changed) ≤ 10% of full`,
      status: share <= 0.1 ? 'met' : 'missed',
      detail: `${secs(incr.seconds.median)} = ${(share * 100).toFixed(1)}% of ${secs(full.seconds.median)} (archive ${((incr.archiveBytes ?? 0) / 1e6).toFixed(1)} MB = ${archive.toFixed(1)}% of the full's)`,
    });
  } else
    out.push({
      target: `${scale}incremental ≤ 10% of full`,
      status: 'n/a',
      detail: 'Lifeboat result missing',
    });
  compare(`${scale}incremental (no change) ≤ 1.0x restic`, 'restic', 'nochange', 'nochange', 'restic');
  compare('restore ≤ 1.0x restic, durable on both sides', 'restic', 'restore', 'restore', 'restic');
  compare('verify ≤ restic check --read-data', 'restic', 'verify', 'verify', 'restic');
  const lifeboat = summaries.filter((s) => s.tool === 'lifeboat' && s.peakRssKiB !== undefined);
  if (lifeboat.length) {
    const top = lifeboat.reduce((a, b) => ((b.peakRssKiB ?? 0) > (a.peakRssKiB ?? 0) ? b : a));
    const mbs = ((top.peakRssKiB ?? 0) * 1024) / 1e6;
    out.push({
      target: 'peak RSS ≤ 300 MB',
      status: mbs <= 300 ? 'met' : 'missed',
      detail: `largest ${mbs.toFixed(1)} MB (${top.label})`,
    });
  } else out.push({ target: 'peak RSS ≤ 300 MB', status: 'n/a', detail: 'not measured (no GNU time)' });
  const tar = find(summaries, 'tar+gzip+gpg', 'backup');
  if (full?.archiveBytes !== undefined && tar?.archiveBytes) {
    const r = full.archiveBytes / tar.archiveBytes;
    out.push({
      target: 'archive ≤ tar + gzip -1',
      status: r <= 1 ? 'met' : 'missed',
      detail: `Lifeboat ${(full.archiveBytes / 1e6).toFixed(1)} MB vs ${(tar.archiveBytes / 1e6).toFixed(1)} MB (${r.toFixed(2)}x)`,
    });
  } else out.push({ target: 'archive ≤ tar + gzip -1', status: 'n/a', detail: 'result missing' });
  return out;
}
