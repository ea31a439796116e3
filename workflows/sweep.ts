/**
 * `sweepStuckRuns`: the control plane's periodic check for stuck runs, started by a Schedule the
 * worker keeps (worker/main.ts). Not a runbook: it has no target and never waits for a person.
 */
import { proxyActivities } from '@temporalio/workflow';
import type { Activities } from '../activities';

const { sweepStuckRuns: sweep } = proxyActivities<Activities>({
  // Why: one describe call per running run; a long list takes a while, and a sweep that fails is
  // simply done again by the next one.
  startToCloseTimeout: '5 minutes',
  retry: { maximumAttempts: 1 },
});

export async function sweepStuckRuns() {
  return sweep();
}
