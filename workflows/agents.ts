/**
 * The control plane's workflows for agents (not runbooks: no target, never waiting for a person):
 * `registerAgent`, which an agent runs when it starts, so that its signed announcement is checked and
 * recorded by the control plane; and `forgetAgent`, which `lifeboat agents forget` runs.
 */
import { proxyActivities } from '@temporalio/workflow';
import type { Activities } from '../activities';
import type { SignedAnnouncement } from '../activities/agents';

const { registerAgent: register, forgetAgent: forget } = proxyActivities<Activities>({
  startToCloseTimeout: '1 minute',
  retry: { maximumAttempts: 5, nonRetryableErrorTypes: ['InvalidInput'] },
});

export async function registerAgent(input: SignedAnnouncement) {
  return register(input);
}

export async function forgetAgent(input: { agent: string; actor: string }) {
  return forget(input.agent, input.actor);
}
