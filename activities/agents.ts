/**
 * The control plane's activities for agents: register an agent's signed announcement in the registry
 * (refusing an agent the config does not list, a bad signature, or a target another agent or the
 * control plane holds, naming both), forget an agent (its targets are released; recorded in the audit
 * ledger with who did it), and say when an agent was last seen polling.
 */
import { activityInfo } from '@temporalio/activity';
import type { Client } from '@temporalio/client';
import { AGENT_NAME, type Announcement } from '../common/agents';
import type { LifeboatConfig } from '../config';
import { invalidInput } from './errors';
import type { AuditLedger } from './lib/ledger';
import { lastSeen, queuePollers } from './lib/pollers';
import type { Registry } from './lib/registry';
import { readTrustedKeys } from './lib/sidecar';
import { SignatureFormatError, verifyDetached } from './lib/signing';

export interface SignedAnnouncement {
  /** The announcement's canonical JSON, exactly as signed. */
  announcement: string;
  signature?: string;
}

export type RegisterResult = { ok: true; agent: string; targets: string[] } | { ok: false; refusal: string };

function parse(text: string): Announcement | string {
  let a: Announcement;
  try {
    a = JSON.parse(text) as Announcement;
  } catch {
    return 'the announcement is not JSON';
  }
  if (a?.kind !== 'lifeboat.agent' || a.version !== 1)
    return 'not a lifeboat.agent announcement of version 1';
  if (typeof a.agent !== 'string' || !AGENT_NAME.test(a.agent)) return 'agent is not a usable agent name';
  if (!Array.isArray(a.targets) || !Array.isArray(a.activities))
    return 'targets and activities must be arrays';
  return a;
}

export function createAgentActivities(
  config: LifeboatConfig,
  ledger: AuditLedger,
  open: () => Registry,
  client?: () => Client,
) {
  const record = (event: string, actor: string, target: string, details: Record<string, unknown>) => {
    const info = activityInfo();
    const run = info.workflowExecution;
    ledger.append([
      {
        eventKey: `${run?.workflowId ?? ''}/${run?.runId ?? ''}/${info.activityId}/${event}`,
        at: new Date().toISOString(),
        workflowId: run?.workflowId ?? '',
        runId: run?.runId ?? '',
        runbook: info.workflowType ?? 'agents',
        target,
        event,
        actor,
        details,
      },
    ]);
  };
  return {
    /** Registers an agent's announcement; a refusal is returned (the agent says it and exits). */
    async registerAgent(input: SignedAnnouncement): Promise<RegisterResult> {
      const refuse = (refusal: string): RegisterResult => ({ ok: false, refusal });
      const a = parse(input.announcement);
      if (typeof a === 'string') return refuse(a);
      const listed = config.agents?.[a.agent];
      if (!listed)
        return refuse(
          `agent '${a.agent}' is not listed in the control plane's config: add agents.${a.agent} with its publicKey`,
        );
      if (!input.signature)
        return refuse(`the announcement of agent '${a.agent}' is not signed (agent.signingKey)`);
      const keys = await readTrustedKeys(
        [listed.publicKey],
        `public key of agent ${a.agent} (agents.${a.agent})`,
      );
      let check;
      try {
        check = await verifyDetached(new TextEncoder().encode(input.announcement), input.signature, keys);
      } catch (err) {
        if (err instanceof SignatureFormatError) return refuse(`the announcement's signature ${err.message}`);
        throw err;
      }
      if (check.verdict !== 'good')
        return refuse(
          `the announcement of agent '${a.agent}' is not signed by the key in agents.${a.agent}.publicKey: no other process can claim its targets`,
        );
      const reserved = new Map(Object.keys(config.targets).map((t) => [t, "the control plane's own config"]));
      const { conflicts } = open().announce(a, check.key.fingerprint, reserved);
      if (conflicts.length) return refuse(conflicts.join('; '));
      record('agent.announced', a.agent, `agent:${a.agent}`, {
        host: a.host,
        build: a.build,
        pid: a.pid,
        targets: a.targets.map((t) => t.name),
        key: check.key.fingerprint,
      });
      return { ok: true, agent: a.agent, targets: a.targets.map((t) => t.name) };
    },

    /** Forgets an agent: its targets may be claimed by another (a new host). */
    async forgetAgent(agent: string, actor: string): Promise<{ targets: string[] }> {
      const { forgotten, targets } = open().forget(agent, actor, new Date().toISOString());
      if (!forgotten) {
        const known = open()
          .agents()
          .map((r) => r.name);
        throw invalidInput(
          `no agent '${agent}' in the registry; known agents: ${known.join(', ') || 'none'}`,
        );
      }
      record('agent.forgotten', actor, `agent:${agent}`, { targets });
      return { targets };
    },

    /** When the agent's queue was last polled (else when it last announced itself). */
    async agentLastSeen(agent: string, taskQueue: string): Promise<string | undefined> {
      const polled = client
        ? lastSeen(await queuePollers(client(), taskQueue, 'activity', activityInfo().workflowNamespace))
        : undefined;
      return (
        polled ??
        open()
          .agents()
          .find((r) => r.name === agent)?.announcedAt
      );
    },
  };
}
