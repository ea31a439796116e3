/**
 * The registry as the CLI reads it: the control plane's config (its own targets, the embedded agent)
 * and the registry in its catalog file (agents and the targets they announced), with when each agent
 * was last seen polling (from the server, when it answers).
 */
import type { Client } from '@temporalio/client';
import * as fs from 'node:fs';
import { lastSeen, queuePollers } from '../activities/lib/pollers';
import type { AgentRow } from '../activities/lib/registry';
import { openRecordStore } from '../activities/lib/stores';
import type { LifeboatConfig } from '../config';

export interface TargetListing {
  target: string;
  /** `control-plane` for the control plane's own targets. */
  agent: string;
  labels: Record<string, string>;
  sections: string[];
}

export async function readRegistry(
  config: LifeboatConfig,
): Promise<{ agents: AgentRow[]; targets: TargetListing[] }> {
  const own: TargetListing[] = Object.values(config.targets).map((t) => ({
    target: t.name,
    agent: 'control-plane',
    labels: t.labels ?? {},
    sections: [],
  }));
  if (!config.database && !fs.existsSync(config.catalog)) return { agents: [], targets: own };
  // Read-only: the CLI never writes the control plane's stores.
  const { records, close } = await openRecordStore(config, { readonly: true });
  try {
    const targets = [...own, ...(await records.targets()).map((t) => ({ ...t }))].sort((a, b) =>
      a.target.localeCompare(b.target),
    );
    return { agents: await records.agents(), targets };
  } catch (err) {
    // A catalog from before agents existed has no registry tables: no agent has announced itself.
    if (/no such table/.test((err as Error).message)) return { agents: [], targets: own };
    throw err;
  } finally {
    await close();
  }
}

/** When each agent's queue was last polled; an empty map when the server does not answer. */
export async function lastSeenOf(
  client: Client | undefined,
  agents: AgentRow[],
): Promise<Map<string, string>> {
  const seen = new Map<string, string>();
  if (!client) return seen;
  for (const a of agents) {
    const time = lastSeen(await queuePollers(client, a.taskQueue, 'activity').catch(() => []));
    if (time) seen.set(a.name, time);
  }
  return seen;
}

/** `role=db` flags as a selector; a flag without `=` is bad input (the caller says so). */
export function parseLabels(flags: string[]): Record<string, string> | string {
  const out: Record<string, string> = {};
  for (const f of flags) {
    const i = f.indexOf('=');
    if (i <= 0) return `--label must be <name>=<value> (got '${f}')`;
    out[f.slice(0, i)] = f.slice(i + 1);
  }
  return out;
}
