/** Text renderings of a run's status for the terminal. */
import type { RunHealth } from '../activities/lib/runHealth';
import { formatBytes, humanBytes } from '../common/bytes';
import type { RunStatus, StepRecord } from '../common/types';

function duration(ms: number | undefined): string {
  if (ms === undefined) return '';
  return ms < 1000 ? `${ms}ms` : `${(ms / 1000).toFixed(1)}s`;
}

export function describeWaiting(status: RunStatus): string[] {
  const w = status.waiting;
  if (!w) return [];
  const lines = [
    `WAITING ${w.kind === 'gate' ? `at gate '${w.gate}'` : `after step '${w.step}' failed`} since ${w.since}`,
  ];
  lines.push(`  reason: ${w.reason}`);
  if (w.plan) {
    lines.push(`  approving will: ${w.plan.summary}`);
    for (const effect of w.plan.effects) lines.push(`    - ${effect}`);
    for (const f of w.plan.newest ?? [])
      lines.push(`      changed after the backup: ${f.path} at ${f.modifiedAt} (${humanBytes(f.bytes)})`);
  }
  if (w.kind === 'gate') {
    const got = (w.approvals ?? []).map((a) => a.actor);
    lines.push(
      `  approvals: ${got.length} of ${w.quorum}${got.length ? ` (${got.join(', ')})` : ''}; approvers: ${(w.approvers ?? []).join(', ')}`,
    );
    if (w.timeoutAt) lines.push(`  times out at ${w.timeoutAt}`);
  }
  if (w.signing) {
    lines.push(
      `  signed decisions: ${w.signing.actions.join(', ')} (subject SHA-256 ${w.signing.subjectSha256})`,
    );
    if (w.requester) lines.push(`  requested by ${w.requester}, who may not approve this gate`);
    lines.push(`  sign with: lifeboat ${w.signing.actions[0]} <id> --as <you> --key <your private key file>`);
  }
  lines.push(`  send: ${w.allowed.join(', ')}  (e.g. lifeboat ${w.allowed[0]} <id> --as <name>)`);
  return lines;
}

export function describeStep(step: StepRecord): string {
  const attempts = step.attempts > 1 ? ` ×${step.attempts}` : '';
  const error = step.error && step.state !== 'succeeded' ? ` — ${step.error}` : '';
  return `${step.state.padEnd(9)} ${step.name}${attempts} ${duration(step.durationMs)}${error}`;
}

/** A fleet run's table (its fact `fleet`): per target its state, duration, page and outcome. */
export function formatFleet(rows: unknown): string[] {
  if (!Array.isArray(rows)) return [JSON.stringify(rows)];
  const text = (v: unknown) => (v === undefined || v === null ? '' : String(v).replace(/\s+/g, ' '));
  const cells = [
    ['TARGET', 'STATE', 'DURATION', 'LINK', 'OUTCOME'],
    ...(rows as Record<string, unknown>[]).map((r) => [
      text(r.target),
      text(r.state),
      duration(typeof r.durationMs === 'number' ? r.durationMs : undefined),
      text(r.link),
      text(r.outcome),
    ]),
  ];
  const widths = cells[0].map((_, i) => Math.max(...cells.map((row) => row[i].length)));
  return cells.map((row) =>
    row
      .map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i])))
      .join('  ')
      .trimEnd(),
  );
}

export function formatStatus(workflowId: string, status: RunStatus): string[] {
  const lines = [
    `${workflowId}`,
    `  runbook ${status.runbook}, target ${status.target}, state ${status.state.toUpperCase()}`,
    `  started ${status.startedAt}${status.endedAt ? `, ended ${status.endedAt}` : ''}`,
  ];
  if (status.error) lines.push(`  error: ${status.error}`);
  lines.push(...describeWaiting(status).map((l) => `  ${l}`));
  lines.push('  steps:');
  for (const step of status.steps) lines.push(`    ${describeStep(step)}`);
  if (status.decisions.length) {
    lines.push('  decisions:');
    for (const d of status.decisions) {
      const what = d.refused
        ? `REFUSED ${d.action}: ${d.refusal}`
        : `${d.action}${d.gate ? ` gate ${d.gate}` : ''}${d.comment ? ` — ${d.comment}` : ''}`;
      lines.push(`    ${d.at} ${d.actor}: ${what}`);
    }
  }
  // A fleet's table says what its `child:<target>` facts say, and more.
  const fleet = status.facts.fleet;
  const facts = Object.entries(status.facts).filter(
    ([k]) => k !== 'backupsChecked' && !(fleet && (k === 'fleet' || k.startsWith('child:'))),
  );
  if (fleet) lines.push('  fleet:', ...formatFleet(fleet).map((l) => `    ${l}`));
  if (facts.length) {
    lines.push('  facts:');
    for (const [k, v] of facts) lines.push(`    ${k}: ${typeof v === 'string' ? v : JSON.stringify(v)}`);
  }
  if (status.result !== undefined) lines.push(`  result: ${JSON.stringify(status.result)}`);
  return lines;
}

/** One observation of an activity's heartbeat, to compute throughput between two of them. */
export interface ProgressSample {
  bytes: number;
  at: number;
}

/** A size for people: KiB below a MiB, else MiB. */
export { humanBytes } from '../common/bytes';

function mib(bytes: number): string {
  return formatBytes(bytes, 'MiB');
}

function seconds(s: number): string {
  if (s < 90) return `${Math.max(0, Math.round(s))} s`;
  if (s < 5400) return `${Math.round(s / 60)} min`;
  return `${(s / 3600).toFixed(1)} h`;
}

/**
 * A progress line from an activity's heartbeat details: a bar when a total is known, with
 * throughput and time left computed against the previous sample.
 */
export function formatProgress(
  activity: string,
  details: Record<string, unknown>,
  previous: ProgressSample | undefined,
  now: number,
): string {
  const num = (k: string) => (typeof details[k] === 'number' ? (details[k] as number) : undefined);
  const bytes = num('bytes');
  const totalBytes = num('totalBytes');
  const files = num('files');
  const total = num('total');
  const phase = typeof details.phase === 'string' ? ` [${details.phase}]` : '';
  const parts: string[] = [];
  const fraction =
    bytes !== undefined && totalBytes
      ? bytes / totalBytes
      : files !== undefined && total
        ? files / total
        : undefined;
  if (fraction !== undefined) {
    const done = Math.min(1, Math.max(0, fraction));
    const width = 20;
    const filled = Math.round(done * width);
    parts.push(`${'#'.repeat(filled)}${'.'.repeat(width - filled)} ${Math.floor(done * 100)}%`);
  }
  if (bytes !== undefined) parts.push(totalBytes ? `${mib(bytes)} of ${mib(totalBytes)}` : mib(bytes));
  if (files !== undefined) parts.push(`${files}${total !== undefined ? `/${total}` : ''} files`);
  if (bytes !== undefined && previous && now > previous.at && bytes >= previous.bytes) {
    const rate = ((bytes - previous.bytes) * 1000) / (now - previous.at);
    if (rate > 0) {
      parts.push(`${mib(rate)}/s`);
      if (totalBytes && totalBytes > bytes) parts.push(`${seconds((totalBytes - bytes) / rate)} left`);
    }
  }
  if (parts.length === 0) {
    parts.push(
      Object.entries(details)
        .map(([k, v]) => `${k} ${String(v)}`)
        .join(', '),
    );
  }
  return `  … ${activity}${phase} ${parts.join(', ')}`;
}

/** The head line of a run Temporal ended from outside, and the run's own last word. */
export function formatEndedByTemporal(status: RunStatus, state: string, health: RunHealth): string[] {
  const by = health.endedBy;
  const how = [by?.reason, by?.identity ? `by ${by.identity}` : undefined].filter(Boolean).join(', ');
  return [
    `  runbook ${status.runbook}, target ${status.target}, state ${state.toUpperCase()} by Temporal${health.closedAt ? ` at ${health.closedAt}` : ''}${how ? ` (${how})` : ''}`,
    `  the run's own last state: ${status.state.toUpperCase()} — it was ended from outside and could not record it`,
  ];
}
