/**
 * The benchmark's report: the table (medians and spreads over the repetitions), the targets
 * (reported, never asserted), problems and notes on the console, and the results file
 * bench/results/<date>-<scale>-x<reps>.json with a copy in bench/results/latest.json.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { ChangeSummary, DatasetSummary } from './data';
import { finishHost, type HostDescription } from './host';
import { scaleLabel, type Options } from './options';
import { OP_ORDER, find, summarize, targets, type StepSummary } from './stats';
import type { StepResult } from './steps';
import type { Tools } from './tools';

const REPO_ROOT = path.resolve(__dirname, '..');
const RESULTS = path.join(__dirname, 'results');

export function mb(bytes: number): string {
  return `${(bytes / 1e6).toFixed(1)} MB`;
}

const fixed = (v: number | undefined, digits = 2) => (v === undefined ? '-' : v.toFixed(digits));
const rssMb = (kib: number | undefined) => (kib === undefined ? 'n/a' : ((kib * 1024) / 1e6).toFixed(1));

function row(s: StepSummary, full: StepSummary | undefined, reps: number): string[] {
  const label = s.reps && s.reps < reps ? `${s.label} (${s.reps}/${reps} reps)` : s.label;
  if (s.status !== 'ok')
    return [label, s.status === 'failed' ? 'FAILED' : s.status, '', '', '', '', '', '', '', ''];
  let timeRatio = s.lifeboatTimeRatio !== undefined ? `${s.lifeboatTimeRatio.toFixed(2)}x` : '-';
  let sizeRatio = s.lifeboatSizeRatio !== undefined ? `${s.lifeboatSizeRatio.toFixed(2)}x` : '-';
  if (
    s.tool === 'lifeboat' &&
    (s.op === 'incremental' || s.op === 'nochange') &&
    full?.seconds &&
    s.seconds
  ) {
    timeRatio = `${((s.seconds.median / full.seconds.median) * 100).toFixed(1)}% of full`;
    if (s.archiveBytes !== undefined && full.archiveBytes)
      sizeRatio = `${((s.archiveBytes / full.archiveBytes) * 100).toFixed(1)}% of full`;
  }
  const range = s.seconds && reps > 1 ? `${s.seconds.min.toFixed(2)}–${s.seconds.max.toFixed(2)}` : '-';
  return [
    label,
    fixed(s.seconds?.median),
    range,
    fixed(s.cpuSeconds),
    fixed(s.mbPerSec, 1),
    s.archiveBytes !== undefined ? (s.archiveBytes / 1e6).toFixed(1) : '-',
    rssMb(s.peakRssKiB),
    s.check ?? '-',
    timeRatio,
    sizeRatio,
  ];
}

export function table(summaries: StepSummary[], reps: number): string {
  const header = [
    'Step',
    'Wall s',
    'min–max',
    'CPU s',
    'MB/s',
    'Archive MB',
    'Peak RSS MB',
    'Restored',
    'LB/peer time',
    'LB/peer size',
  ];
  const full = find(summaries, 'lifeboat', 'backup');
  // One group per operation; Lifeboat's end-to-end rows together.
  const group = (op: string) => (op === 'backup+verify' || op === 'restore+checks' ? 'end-to-end' : op);
  const names = [...new Set(OP_ORDER.map(group))];
  const groups = names.map((g) => summaries.filter((s) => group(s.op) === g)).filter((g) => g.length);
  const rows = groups.map((g) => g.map((s) => row(s, full, reps)));
  const widths = header.map((h, i) => Math.max(h.length, ...rows.flat().map((r) => r[i].length)));
  const fmt = (r: string[]) =>
    r
      .map((cell, i) => (i === 0 || i === 7 ? cell.padEnd(widths[i]) : cell.padStart(widths[i])))
      .join('  ')
      .trimEnd();
  const rule = widths.map((w) => '-'.repeat(w)).join('  ');
  return [
    fmt(header),
    rule,
    ...rows
      .map((g) => g.map(fmt).join('\n'))
      .join(`\n\n`)
      .split('\n'),
  ].join('\n');
}

/** The report as JSON in the repository's Prettier style (`prettier --check .` ignores bench/.gitignore). */
async function formatJson(value: unknown, file: string): Promise<string> {
  const text = `${JSON.stringify(value, null, 2)}\n`;
  try {
    const prettier = await import('prettier');
    const config = await prettier.resolveConfig(file);
    return await prettier.format(text, { ...config, parser: 'json', filepath: file });
  } catch {
    return text;
  }
}

/** The notes under the table: how to read it, and what this run's numbers include. */
function notesFor(summaries: StepSummary[], run: RunSummary): string[] {
  const { options, host } = run;
  const notes = [
    `${options.reps} repetition(s), interleaved (every step of one, then the next), each in fresh repositories on the`,
    'same data (the 1% change undone in between). Wall s: median; min–max: the spread. CPU s: median user + system',
    'CPU seconds over the same span. Peak RSS: the largest over the repetitions. Ratios use the medians.',
    'Lifeboat runs compiled (dist/bench/lifeboat-step.js, MALLOC_ARENA_MAX=2 NODE_ENV=production), one process per',
    'step, no Temporal: its seconds and CPU are those of the activity calls (getrusage), not of the process start-up',
    '(processSeconds and processCpuSeconds in the JSON). Peer seconds: wall time of their commands (GNU time CPU).',
    '`sync` ran before each step. Caches are warm for all tools alike (the page cache cannot be dropped reliably).',
    "Peers' restores end with `sync -f` of the restore folder, timed (durable like Lifeboat's fsyncing restore);",
    'secondsWithoutSync in the JSON has them without it.',
    'Verify: Lifeboat reads its full backup back; restic check --read-data and borg check --verify-data read',
    'their whole repository (full, no-change and 1% snapshots).',
    'MB/s: data set size / seconds, MB = 10^6 bytes. Archive MB: bytes the step added to its repository.',
    "LB/peer: Lifeboat's time (or archive size) / the peer's for the same operation; below 1 is better.",
    'Restored: file count, SHA-256 of every non-database file and row counts of every database table compared',
    'with the source.',
  ];
  const resticBackup = find(summaries, 'restic', 'backup');
  const split = run.results.find((r) => r.key === resticBackup?.key && r.status === 'ok')?.details
    ?.commandSeconds;
  if (Array.isArray(split) && split.length === 2)
    notes.push(
      `restic init+backup counts init (rep 1: init ${fixed(split[0])} s + backup ${fixed(split[1])} s).`,
    );
  const e2e = (op: 'backup+verify' | 'restore+checks', what: string) => {
    const s = find(summaries, 'lifeboat', op);
    const phases = run.results.find((r) => r.key === s?.key && r.status === 'ok')?.details?.phases;
    if (!s?.seconds || !Array.isArray(phases)) return;
    const parts = (phases as { name: string; seconds: number }[]).map((p) => `${p.name} ${fixed(p.seconds)}`);
    notes.push(
      `An operator waits ${fixed(s.seconds.median)} s for ${what} (rep ${run.results.find((r) => r.key === s.key)?.rep}: ${parts.join(' + ')} s).`,
    );
  };
  e2e('backup+verify', 'a full backup with its verification');
  e2e('restore+checks', 'a restore with its checks');
  if (host.loadAverageAtStart[0] >= 0.5)
    notes.push(
      `The machine was busy before the run (load average ${host.loadAverageAtStart[0]} on ${host.cpus} CPUs): timings are skewed; loadAverageAfter per step is in the JSON.`,
    );
  for (const w of run.tools.warnings) notes.push(`WARNING: ${w}`);
  return notes;
}

/** What a run measured, for the report. */
export interface RunSummary {
  options: Options;
  tools: Tools;
  host: HostDescription;
  dataset: DatasetSummary;
  generateSeconds: number;
  changed?: ChangeSummary;
  /** Per repetition: seconds to put the data set back and check it. */
  resetSeconds: number[];
  /** How Lifeboat ran, and which code: commit, uncommitted engine files, the build's stamp. */
  lifeboat: { command: string; commit?: string; uncommitted?: string[]; builtAt?: string };
  results: StepResult[];
}

function resultsFile(options: Options, at: Date): string {
  const stamp = at.toISOString().slice(0, 16).replace(/:/g, '').replace('T', '-');
  return path.join(RESULTS, `${stamp}-${scaleLabel(options)}-x${options.reps}.json`);
}

/**
 * Prints the table, the targets, any problems and the notes, and writes the results files.
 * Returns the exit status: 1 when a step failed or a restored tree differs from the source.
 */
export async function report(run: RunSummary): Promise<number> {
  const { options, tools, host, dataset } = run;
  finishHost(host);
  const summaries = summarize(run.results, dataset.bytes);
  const scale = options.files !== undefined ? `${dataset.files} files: ` : '';
  const goals = targets(summaries, scale);
  const notes = notesFor(summaries, run);
  const failed = run.results.filter((r) => r.status === 'failed');
  const mismatches = run.results.filter((r) => r.check && r.check !== 'ok');

  console.log('');
  const code = run.lifeboat.commit
    ? `Lifeboat ${run.lifeboat.commit}${run.lifeboat.uncommitted?.length ? ` + ${run.lifeboat.uncommitted.length} uncommitted engine file(s)` : ''}, compiled; `
    : '';
  console.log(
    `Lifeboat benchmark: ${code}${mb(dataset.bytes)} in ${dataset.files} files (--size ${options.sizeLabel}${options.files !== undefined ? ` --files ${options.files}` : ''}, seed ${options.seed}), ` +
      `${options.reps} repetition(s); ${host.cpus} CPUs (${host.cpuModel ?? 'unknown'}), ${mb(host.memoryBytes)} RAM, ` +
      `Linux ${host.kernel}, node ${host.node}; ${tools.versions.restic ?? 'no restic'}; load average ${host.loadAverageAtStart.join(' ')} at the start`,
  );
  console.log('');
  console.log(table(summaries, options.reps));
  console.log('');
  console.log('Targets (reported, not asserted; on the medians):');
  for (const g of goals) console.log(`  ${g.status.padEnd(6)} ${g.target}: ${g.detail}`);
  if (failed.length || mismatches.length) {
    console.log('');
    console.log('Problems:');
    for (const r of failed) {
      const after = r.processSeconds !== undefined ? ` (after ${r.processSeconds.toFixed(2)} s)` : '';
      console.log(`  rep ${r.rep} ${r.label}: ${r.error}${after}`);
    }
    for (const r of mismatches) console.log(`  rep ${r.rep} ${r.label}: restored tree ${r.check}`);
  }
  console.log('');
  console.log('Notes:');
  for (const line of notes) console.log(`  ${line}`);

  const at = new Date();
  const json = {
    version: 2,
    generatedAt: at.toISOString(),
    options: {
      size: options.sizeLabel,
      sizeBytes: options.sizeBytes,
      files: options.files,
      seed: options.seed,
      reps: options.reps,
      peers: options.peers,
    },
    host,
    tools: { ...tools.versions, resticSource: tools.resticSource, skipped: tools.skipped },
    installed: tools.installLog,
    warnings: tools.warnings,
    lifeboat: run.lifeboat,
    dataset: {
      ...dataset,
      generateSeconds: run.generateSeconds,
      changed: run.changed,
      resetSeconds: run.resetSeconds,
    },
    summary: summaries,
    targets: goals,
    steps: run.results,
    notes,
  };
  const file = resultsFile(options, at);
  fs.mkdirSync(RESULTS, { recursive: true });
  const text = await formatJson(json, file);
  fs.writeFileSync(file, text);
  fs.writeFileSync(path.join(RESULTS, 'latest.json'), text);
  console.log('');
  console.log(`wrote ${path.relative(REPO_ROOT, file)} and bench/results/latest.json`);
  return failed.length || mismatches.length ? 1 : 0;
}
