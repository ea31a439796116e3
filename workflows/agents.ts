/**
 * The control plane's workflows for agents (not runbooks: no target, never waiting for a person).
 * `agentSession` (workflow id `lifeboat-agent-<name>`, one per agent) takes the agent's signed
 * announcements as `announce` Updates — when it starts and periodically after — and has the control
 * plane check and record each; the agent starts it with update-with-start. The agent's reports of its
 * catalog come the same way (`catalog` Updates), recorded in the control plane's catalog. `forgetAgent` is what
 * `lifeboat agents forget` runs.
 */
import {
  allHandlersFinished,
  condition,
  continueAsNew,
  defineUpdate,
  proxyActivities,
  setHandler,
} from '@temporalio/workflow';
import type { Activities } from '../activities';
import type { MirrorResult, RegisterResult, SignedAnnouncement, SignedReport } from '../activities/agents';

const {
  registerAgent: register,
  mirrorCatalog,
  forgetAgent: forget,
} = proxyActivities<Activities>({
  startToCloseTimeout: '1 minute',
  retry: { maximumAttempts: 5, nonRetryableErrorTypes: ['InvalidInput'] },
});

export const announceUpdate = defineUpdate<RegisterResult, [SignedAnnouncement]>('announce');
export const catalogUpdate = defineUpdate<MirrorResult, [SignedReport]>('catalog');

/** Announcements and reports before the session starts anew (its history stays short). */
const PER_RUN = 500;

export async function agentSession(input: { agent: string }): Promise<void> {
  let announcements = 0;
  setHandler(
    announceUpdate,
    async (a) => {
      announcements += 1;
      return register(a);
    },
    {
      description: `The announcement of agent ${input.agent}: checked against its key, then recorded in the registry.`,
    },
  );
  setHandler(
    catalogUpdate,
    async (r) => {
      announcements += 1;
      return mirrorCatalog(r);
    },
    {
      description: `A report of agent ${input.agent}'s catalog: checked against its key, then recorded in the control plane's catalog.`,
    },
  );
  await condition(() => announcements >= PER_RUN);
  await condition(allHandlersFinished);
  await continueAsNew<typeof agentSession>(input);
}

export async function forgetAgent(input: { agent: string; actor: string }) {
  return forget(input.agent, input.actor);
}
