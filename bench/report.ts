/**
 * The benchmark's report: Lifeboat's ratio to each peer, the targets (reported, never asserted),
 * the table and notes on the console, and bench/results/latest.json.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { ChangeSummary, DatasetSummary } from './data';
import type { Options } from './options';
import type { StepResult, Op, Tool } from './steps';
import type { Tools } from './tools';

const REPO_ROOT = path.resolve(__dirname, '..');
const RESULTS = path.join(__dirname, 'results', 'latest.json');

function addRatios(results: StepResult[]): void {
  const lifeboat = (op: Op) => results.find((r) => r.tool === 'lifeboat' && r.op === op && r.status === 'ok');
  for (const r of results) {
    if (r.tool === 'lifeboat' || r.status !== 'ok') continue;
    const lb = lifeboat(r.op);
    if (!lb) continue;
    if (lb.seconds && r.seconds) r.lifeboatTimeRatio = lb.seconds / r.seconds;
    if (lb.archiveBytes !== undefined && r.archiveBytes)
      r.lifeboatSizeRatio = lb.archiveBytes / r.archiveBytes;
  }
}

interface Target {
  target: string;
  status: 'met' | 'missed' | 'n/a';
  detail: string;
}

function targets(results: StepResult[]): Target[] {
  const find = (tool: Tool, op: Op) =>
    results.find((r) => r.tool === tool && r.op === op && r.status === 'ok');
  const out: Target[] = [];
  const compare = (
    target: string,
    a: StepResult | undefined,
    b: StepResult | undefined,
    what: 'seconds' | 'archiveBytes',
    peer: string,
  ) => {
    const x = a?.[what];
    const y = b?.[what];
    if (x === undefined || y === undefined) {
      out.push({ target, status: 'n/a', detail: `${a ? peer : 'Lifeboat'} result missing` });
      return;
    }
    const fmt = (v: number) => (what === 'seconds' ? `${v.toFixed(2)} s` : `${(v / 1e6).toFixed(1)} MB`);
    out.push({
      target,
      status: x <= y ? 'met' : 'missed',
      detail: `Lifeboat ${fmt(x)} vs ${peer} ${fmt(y)} (${(x / y).toFixed(2)}x)`,
    });
  };
  compare(
    'full backup at least as fast as restic',
    find('lifeboat', 'backup'),
    find('restic', 'backup'),
    'seconds',
    'restic',
  );
  compare(
    'restore at least as fast as restic',
    find('lifeboat', 'restore'),
    find('restic', 'restore'),
    'seconds',
    'restic',
  );
  const full = find('lifeboat', 'backup');
  const incr = find('lifeboat', 'incremental');
  if (full?.seconds && incr?.seconds) {
    const share = incr.seconds / full.seconds;
    out.push({
      target: 'incremental under 10% of full',
      status: share < 0.1 ? 'met' : 'missed',
      detail: `${incr.seconds.toFixed(2)} s = ${(share * 100).toFixed(1)}% of ${full.seconds.toFixed(2)} s (archive ${((incr.archiveBytes ?? 0) / 1e6).toFixed(1)} MB = ${(((incr.archiveBytes ?? 0) / (full.archiveBytes || 1)) * 100).toFixed(1)}% of the full's)`,
    });
  } else
    out.push({ target: 'incremental under 10% of full', status: 'n/a', detail: 'Lifeboat result missing' });
  compare(
    'archive no larger than tar+gzip -1',
    full,
    find('tar+gzip+gpg', 'backup'),
    'archiveBytes',
    'tar+gzip+gpg',
  );
  return out;
}

function table(results: StepResult[]): string {
  const header = [
    'Step',
    'Seconds',
    'MB/s',
    'Archive MB',
    'Peak RSS MB',
    'Restored',
    'LB/peer time',
    'LB/peer size',
  ];
  const full = results.find((r) => r.tool === 'lifeboat' && r.op === 'backup' && r.status === 'ok');
  const rows = results.map((r) => {
    if (r.status !== 'ok')
      return [r.label, r.status === 'not installed' ? 'not installed' : 'FAILED', '', '', '', '', '', ''];
    let timeRatio = r.lifeboatTimeRatio !== undefined ? `${r.lifeboatTimeRatio.toFixed(2)}x` : '-';
    let sizeRatio = r.lifeboatSizeRatio !== undefined ? `${r.lifeboatSizeRatio.toFixed(2)}x` : '-';
    if (r.tool === 'lifeboat' && r.op === 'incremental' && full?.seconds) {
      timeRatio = `${((r.seconds! / full.seconds) * 100).toFixed(1)}% of full`;
      if (r.archiveBytes !== undefined && full.archiveBytes)
        sizeRatio = `${((r.archiveBytes / full.archiveBytes) * 100).toFixed(1)}% of full`;
    }
    return [
      r.label,
      r.seconds!.toFixed(2),
      r.mbPerSec !== undefined ? r.mbPerSec.toFixed(1) : '-',
      r.archiveBytes !== undefined ? (r.archiveBytes / 1e6).toFixed(1) : '-',
      r.peakRssKiB !== undefined ? ((r.peakRssKiB * 1024) / 1e6).toFixed(1) : 'n/a',
      r.check === undefined ? '-' : r.check === 'ok' ? 'ok' : 'MISMATCH',
      timeRatio,
      sizeRatio,
    ];
  });
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i].length)));
  const fmt = (row: string[]) =>
    row.map((cell, i) => (i === 0 || i === 5 ? cell.padEnd(widths[i]) : cell.padStart(widths[i]))).join('  ');
  return [fmt(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(fmt)].join('\n');
}

/**
 * The report as JSON in the repository's Prettier style, so that `prettier --check .` (which does
 * not read bench/.gitignore) stays green after a run.
 */
async function formatJson(value: unknown): Promise<string> {
  const text = `${JSON.stringify(value, null, 2)}\n`;
  try {
    const prettier = await import('prettier');
    const config = await prettier.resolveConfig(RESULTS);
    return await prettier.format(text, { ...config, parser: 'json', filepath: RESULTS });
  } catch {
    return text;
  }
}

export function mb(bytes: number): string {
  return `${(bytes / 1e6).toFixed(1)} MB`;
}

/** The notes under the table: how to read it, and what this run's numbers include. */
function notesFor(results: StepResult[], loadAtStart: number): string[] {
  const notes = [
    'Each measurement ran once, in the order above, on the same data; `sync` ran before each. The data set',
    'had just been written and read, so caches are warm for all tools alike (the page cache cannot be',
    'dropped reliably here).',
    'Lifeboat seconds: time inside the activity call (no Temporal); its process start-up (node + tsx) is',
    'not counted, see processSeconds in the JSON. Peer seconds: wall time of their commands.',
    'MB/s: data set size (not the bytes changed) / seconds, MB = 10^6 bytes. Archive MB: bytes the step',
    'added to its repository. Peak RSS: GNU time max RSS (Lifeboat includes the node runtime); for the',
    'tar|gzip|gpg pipelines, the largest of its three processes.',
    "LB/peer: Lifeboat time (or archive size) divided by the peer's for the same operation; below 1 is better.",
    'Restored: file count, SHA-256 of every non-database file and row counts of every database table',
    'compared with the source (Lifeboat restores database snapshots, which may differ byte-wise).',
  ];
  const resticBackup = results.find((r) => r.tool === 'restic' && r.op === 'backup' && r.status === 'ok');
  const split = resticBackup?.details?.commandSeconds as number[] | undefined;
  if (split?.length === 2)
    notes.push(
      `restic init+backup counts init (as the issue asks): init ${split[0].toFixed(2)} s + backup ${split[1].toFixed(2)} s.`,
    );
  const borgCreate = results.find((r) => r.tool === 'borg' && r.op === 'backup' && r.status === 'ok');
  if (typeof borgCreate?.details?.initSeconds === 'number')
    notes.push(`borg init (not counted in borg create) took ${borgCreate.details.initSeconds.toFixed(2)} s.`);
  if (loadAtStart >= 0.5)
    notes.push(
      `The machine was busy before the run (load average ${loadAtStart.toFixed(2)} on ${os.cpus().length} CPUs): timings are skewed; loadAverageAfter per step is in the JSON.`,
    );
  return notes;
}

/** What one run measured, for the report. */
export interface RunSummary {
  options: Options;
  tools: Tools;
  dataset: DatasetSummary;
  generateSeconds: number;
  changed: ChangeSummary;
  /** The 1-minute load average before the run. */
  loadAtStart: number;
  results: StepResult[];
}

/**
 * Prints the table, the targets, any problems and the notes, and writes bench/results/latest.json.
 * Returns the exit status: 1 when a step failed or a restored tree differs from the source.
 */
export async function report(run: RunSummary): Promise<number> {
  const { options, tools, dataset, generateSeconds, changed, loadAtStart, results } = run;
  addRatios(results);
  const goals = targets(results);

  const notes = notesFor(results, loadAtStart);
  const mismatches = results.filter((r) => r.check && r.check !== 'ok');
  const failed = results.filter((r) => r.status === 'failed');

  console.log('');
  console.log(
    `Lifeboat benchmark: ${mb(dataset.bytes)} in ${dataset.files} files (--size ${options.sizeLabel}, seed ${options.seed}), ` +
      `${os.cpus().length} CPUs (${os.cpus()[0]?.model ?? 'unknown'}), ${mb(os.totalmem())} RAM, ` +
      `load average ${loadAtStart.toFixed(2)} at the start`,
  );
  console.log('');
  console.log(table(results));
  console.log('');
  console.log('Targets (reported, not asserted):');
  for (const g of goals) console.log(`  ${g.status.padEnd(6)} ${g.target}: ${g.detail}`);
  if (failed.length || mismatches.length) {
    console.log('');
    console.log('Problems:');
    for (const r of failed) {
      const after = r.processSeconds !== undefined ? ` (after ${r.processSeconds.toFixed(2)} s)` : '';
      console.log(`  ${r.label}: ${r.error}${after}`);
    }
    for (const r of mismatches) console.log(`  ${r.label}: restored tree ${r.check}`);
  }
  console.log('');
  console.log('Notes:');
  for (const line of notes) console.log(`  ${line}`);

  const json = {
    version: 1,
    generatedAt: new Date().toISOString(),
    options: { size: options.sizeLabel, sizeBytes: options.sizeBytes, seed: options.seed },
    host: {
      platform: `${os.type()} ${os.release()} ${os.arch()}`,
      cpus: os.cpus().length,
      cpuModel: os.cpus()[0]?.model,
      memoryBytes: os.totalmem(),
      loadAverageAtStart: loadAtStart,
    },
    tools: tools.versions,
    installed: tools.installLog,
    dataset: { ...dataset, generateSeconds, changed },
    steps: results,
    targets: goals,
    notes,
  };
  fs.mkdirSync(path.dirname(RESULTS), { recursive: true });
  fs.writeFileSync(RESULTS, await formatJson(json));
  console.log('');
  console.log(`wrote ${path.relative(REPO_ROOT, RESULTS)}`);
  return failed.length || mismatches.length ? 1 : 0;
}
