/** Text renderings of a run's status for the terminal. */
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
  if (w.kind === 'gate') {
    const got = (w.approvals ?? []).map((a) => a.actor);
    lines.push(
      `  approvals: ${got.length} of ${w.quorum}${got.length ? ` (${got.join(', ')})` : ''}; approvers: ${(w.approvers ?? []).join(', ')}`,
    );
    if (w.timeoutAt) lines.push(`  times out at ${w.timeoutAt}`);
  }
  lines.push(`  send: ${w.allowed.join(', ')}  (e.g. lifeboat ${w.allowed[0]} <id> --as <name>)`);
  return lines;
}

export function describeStep(step: StepRecord): string {
  const attempts = step.attempts > 1 ? ` ×${step.attempts}` : '';
  const error = step.error && step.state !== 'succeeded' ? ` — ${step.error}` : '';
  return `${step.state.padEnd(9)} ${step.name}${attempts} ${duration(step.durationMs)}${error}`;
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
  const facts = Object.entries(status.facts).filter(([k]) => k !== 'backupsChecked');
  if (facts.length) {
    lines.push('  facts:');
    for (const [k, v] of facts) lines.push(`    ${k}: ${typeof v === 'string' ? v : JSON.stringify(v)}`);
  }
  if (status.result !== undefined) lines.push(`  result: ${JSON.stringify(status.result)}`);
  return lines;
}
