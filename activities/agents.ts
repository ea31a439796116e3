/**
 * The control plane's activities for agents: register an agent's signed announcement in the registry
 * (refusing an agent the config does not list, a bad signature, or a target another agent or the
 * control plane holds, naming both), forget an agent (its targets are released; recorded in the audit
 * ledger with who did it), say when an agent was last seen polling, and record in the control plane's
 * catalog what an agent reports of its own catalog (its targets' backups and drills, signed).
 */
import { activityInfo } from '@temporalio/activity';
import type { Client } from '@temporalio/client';
import { AGENT_NAME, type Announcement } from '../common/agents';
import type { DrillRecord } from '../common/drill';
import type { TargetView } from '../common/types';
import type { LifeboatConfig } from '../config';
import { invalidInput } from './errors';
import { agentRoute } from './targets';
import type { CatalogEntry } from './lib/catalog';
import { lastSeen, queuePollers } from './lib/pollers';
import type { LedgerStore, RecordStore } from './lib/stores';
import { readTrustedKeys } from './lib/sidecar';
import { SignatureFormatError, verifyDetached } from './lib/signing';

export interface SignedAnnouncement {
  /** The announcement's canonical JSON, exactly as signed. */
  announcement: string;
  signature?: string;
}

/**
 * What an agent reports of its catalog: the backups and drills of its targets that changed (all of
 * them when it starts). Sent as the canonical JSON of this, signed like its announcements.
 */
export interface CatalogReport {
  kind: 'lifeboat.catalog';
  version: 1;
  agent: string;
  at: string;
  backups: CatalogEntry[];
  drills: DrillRecord[];
}

export interface SignedReport {
  report: string;
  signature?: string;
}

/** Rows recorded, and those refused (a target this agent does not hold), by id with the reason. */
export type MirrorResult =
  { ok: true; backups: number; drills: number; refused: string[] } | { ok: false; refusal: string };

type AgentRoute = NonNullable<TargetView['agent']>;

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
  ledger: LedgerStore,
  records: RecordStore,
  client?: () => Client,
) {
  const record = async (event: string, actor: string, target: string, details: Record<string, unknown>) => {
    const info = activityInfo();
    const run = info.workflowExecution;
    await ledger.append([
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
  /** The fingerprint of the agent's configured key that signed `text`, or why not. */
  const checkSigned = async (
    agent: string,
    what: string,
    text: string,
    signature?: string,
  ): Promise<{ fingerprint: string } | { refusal: string }> => {
    const refuse = (refusal: string) => ({ refusal });
    const listed = config.agents?.[agent];
    if (!listed)
      return refuse(
        `agent '${agent}' is not listed in the control plane's config: add agents.${agent} with its publicKey`,
      );
    if (!signature) return refuse(`the ${what} of agent '${agent}' is not signed (agent.signingKey)`);
    const keys = await readTrustedKeys([listed.publicKey], `public key of agent ${agent} (agents.${agent})`);
    let check;
    try {
      check = await verifyDetached(new TextEncoder().encode(text), signature, keys);
    } catch (err) {
      if (err instanceof SignatureFormatError) return refuse(`the ${what}'s signature ${err.message}`);
      throw err;
    }
    if (check.verdict !== 'good')
      return refuse(
        `the ${what} of agent '${agent}' is not signed by the key in agents.${agent}.publicKey: no other process can claim its targets`,
      );
    return { fingerprint: check.key.fingerprint };
  };
  return {
    /** Registers an agent's announcement; a refusal is returned (the agent says it and exits). */
    async registerAgent(input: SignedAnnouncement): Promise<RegisterResult> {
      const refuse = (refusal: string): RegisterResult => ({ ok: false, refusal });
      const a = parse(input.announcement);
      if (typeof a === 'string') return refuse(a);
      const signed = await checkSigned(a.agent, 'announcement', input.announcement, input.signature);
      if ('refusal' in signed) return refuse(signed.refusal);
      const check = { key: signed };
      // Standing by for a target (its drills, its drill records) is the control plane's to allow.
      const allowed = new Set(config.agents?.[a.agent]?.standby ?? []);
      const standby = (a.standby ?? []).filter((t) => !allowed.has(t));
      if (standby.length)
        return refuse(
          `agent '${a.agent}' stands by for ${standby.map((t) => `'${t}'`).join(', ')}, which the control plane's config does not allow: add ${standby.length > 1 ? 'them' : 'it'} to agents.${a.agent}.standby`,
        );
      const reserved = new Map(Object.keys(config.targets).map((t) => [t, "the control plane's own config"]));
      const { conflicts } = await records.announce(a, check.key.fingerprint, reserved);
      if (conflicts.length) return refuse(conflicts.join('; '));
      await record('agent.announced', a.agent, `agent:${a.agent}`, {
        host: a.host,
        build: a.build,
        pid: a.pid,
        targets: a.targets.map((t) => t.name),
        key: check.key.fingerprint,
      });
      return { ok: true, agent: a.agent, targets: a.targets.map((t) => t.name) };
    },

    /**
     * Records an agent's report of its catalog in the control plane's catalog (the catalog of record:
     * `lifeboat backups list`, `drills list`). Only rows of targets the agent holds now are taken.
     */
    async mirrorCatalog(input: SignedReport): Promise<MirrorResult> {
      let r: CatalogReport;
      try {
        r = JSON.parse(input.report) as CatalogReport;
      } catch {
        return { ok: false, refusal: 'the catalog report is not JSON' };
      }
      if (r?.kind !== 'lifeboat.catalog' || r.version !== 1 || typeof r.agent !== 'string')
        return { ok: false, refusal: 'not a lifeboat.catalog report of version 1' };
      if (!Array.isArray(r.backups) || !Array.isArray(r.drills))
        return { ok: false, refusal: 'backups and drills must be arrays' };
      const signed = await checkSigned(r.agent, 'catalog report', input.report, input.signature);
      if ('refusal' in signed) return { ok: false, refusal: signed.refusal };
      const known = (await records.agents()).find((a) => a.name === r.agent);
      if (!known || known.key !== signed.fingerprint)
        return {
          ok: false,
          refusal: `agent '${r.agent}' is not registered with this key (forgotten, or not announced yet): its catalog report is refused`,
        };
      const held = new Set(known.targets);
      const refused: string[] = [];
      const take = (id: string, target: string) => {
        if (held.has(target)) return true;
        refused.push(`${id}: target '${target}' is not held by agent '${r.agent}'`);
        return false;
      };
      let backups = 0;
      let drills = 0;
      // A row already recorded for another target is not the agent's to rewrite, whatever it reports.
      const sameTarget = async (id: string, target: string, existing: { target: string } | undefined) => {
        if (!existing || existing.target === target) return true;
        refused.push(`${id}: recorded for target '${existing.target}', not '${target}'`);
        return false;
      };
      for (const b of r.backups)
        if (
          take(b.backupId, b.target) &&
          (await sameTarget(b.backupId, b.target, await records.getBackup(b.backupId)))
        ) {
          await records.putBackup(b, r.agent);
          backups += 1;
        }
      // A host-loss drill of a target it stands by for runs its sandbox here: its record is this agent's.
      for (const d of r.drills)
        if (
          ((await records.standsBy(r.agent, d.target)) || take(d.drillId, d.target)) &&
          (await sameTarget(
            d.drillId,
            d.target,
            (await records.listDrills()).find((x) => x.drillId === d.drillId),
          ))
        ) {
          await records.putDrill(d);
          drills += 1;
        }
      return { ok: true, backups, drills, refused };
    },

    /**
     * Where a host-loss drill of `target` runs its sandbox when asked to run it on agent `agent`: that
     * agent's queue (it must stand by for the target: config `standby`), and the backup it restores,
     * chosen here from the catalog of record: the newest whose whole chain was copied offsite.
     */
    async standbyForDrill(
      target: string,
      agent: string,
      scenario: string,
    ): Promise<{
      route: AgentRoute;
      backup: { id: string; createdAt: string; manifestSha256: string; chain: string[] };
    }> {
      if (scenario !== 'hostLoss')
        throw invalidInput(
          `input.sandboxAgent is for the hostLoss scenario only (it restores from the offsite copy alone, so no production file moves between hosts); scenario '${scenario}' copies production into its sandbox`,
        );
      const all = await records.agents();
      const row = all.find((a) => a.name === agent);
      if (!row || !(await records.standsBy(agent, target))) {
        const standing: string[] = [];
        for (const a of all) if (await records.standsBy(a.name, target)) standing.push(a.name);
        throw invalidInput(
          `input.sandboxAgent: agent '${agent}' does not stand by for target '${target}' (its config's 'standby' section); agents that do: ${standing.join(', ') || 'none'}`,
        );
      }
      const entries = await records.listBackups(target);
      const byId = new Map(entries.map((e) => [e.backupId, e]));
      const offsite = (id: string | null): boolean => {
        if (!id) return true;
        const e = byId.get(id);
        return !!e?.offsiteCopy && offsite(e.parent);
      };
      const newest = entries.find((e) => offsite(e.backupId));
      if (!newest?.manifestSha256)
        throw invalidInput(
          `target '${target}' has no backup copied offsite, with its chain, in the control plane's catalog: run fullBackup with an offsite repository first`,
        );
      const chain: string[] = [];
      for (let id: string | null = newest.backupId; id; id = byId.get(id)?.parent ?? null) chain.unshift(id);
      return {
        route: agentRoute(row, config.policies?.[target]),
        backup: {
          id: newest.backupId,
          createdAt: newest.createdAt,
          manifestSha256: newest.manifestSha256,
          chain,
        },
      };
    },

    /** Forgets an agent: its targets may be claimed by another (a new host). */
    async forgetAgent(agent: string, actor: string): Promise<{ targets: string[] }> {
      const { forgotten, targets } = await records.forget(agent, actor, new Date().toISOString());
      if (!forgotten) {
        const known = (await records.agents()).map((r) => r.name);
        throw invalidInput(
          `no agent '${agent}' in the registry; known agents: ${known.join(', ') || 'none'}`,
        );
      }
      await record('agent.forgotten', actor, `agent:${agent}`, { targets });
      return { targets };
    },

    /** When the agent's queue was last polled (else when it last announced itself). */
    async agentLastSeen(agent: string, taskQueue: string): Promise<string | undefined> {
      const polled = client
        ? lastSeen(await queuePollers(client(), taskQueue, 'activity', activityInfo().workflowNamespace))
        : undefined;
      return polled ?? (await records.agents()).find((r) => r.name === agent)?.announcedAt;
    },
  };
}
