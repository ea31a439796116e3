/**
 * The control plane's side of a fleet run (runbooks/fleet.ts): which targets a fleet acts on, by name
 * or by label selector, refused with the names and labels that exist when nothing fits; and how its
 * child runs stand, watched for a child that starts (or stops) waiting at a failure.
 *
 * Targets come from the control plane's config (`targets.<name>.labels`). Targets the control plane
 * learns of elsewhere (the registry of remote agents) are given by `extraTargets`.
 */
import { Context } from '@temporalio/activity';
import type { Client } from '@temporalio/client';
import { statusQuery } from '../common/messages';
import { targetHasSection, type LifeboatConfig } from '../config';
import { invalidInput } from './errors';

/** A target a fleet may select: its name, labels and the config sections it has. */
export interface FleetTarget {
  name: string;
  labels: Record<string, string>;
  sections: string[];
}

export interface FleetSelectionRequest {
  /** The runbook each child runs, and the config sections it needs of every target. */
  runbook: string;
  requires: string[];
  /** The targets by name, in the order they run (the first are the canary)… */
  targets?: string[];
  /** …or every target whose labels include all of these, by name. */
  selector?: Record<string, string>;
}

/** How a child run stands, from its `status` Query. */
export interface FleetChildState {
  workflowId: string;
  /** The run's state; `unknown` when it did not answer (not started yet, or its worker is busy). */
  state: string;
  /** Set while it waits for a person. */
  waiting?: { kind: 'gate' | 'failure'; step: string; reason: string };
}

export interface FleetOptions {
  /** Targets held elsewhere than in the control plane's config (the agents' registry); none by default. */
  extraTargets?: () => Promise<FleetTarget[]>;
  /** How often the watch asks the children (default 2 s). */
  pollMs?: number;
  /** How long one watch lasts at most before it answers anyway (default 10 minutes). */
  watchMs?: number;
}

/** `role=db,site=eu` (sorted); `*` for the empty selector, which selects every target. */
export function selectorText(selector: Record<string, string>): string {
  const pairs = Object.entries(selector).sort(([a], [b]) => a.localeCompare(b));
  return pairs.length ? pairs.map(([k, v]) => `${k}=${v}`).join(',') : '*';
}

/** What the `known` map of a watch holds per child: where it waits, or '' when it does not. */
export function waitingKey(state: FleetChildState): string {
  return state.waiting ? `${state.waiting.kind}:${state.waiting.step}` : '';
}

/** The config's targets, with those of the `requires` sections each has. */
function configTargets(config: LifeboatConfig, requires: string[]): FleetTarget[] {
  return Object.entries(config.targets).map(([name, target]) => ({
    name,
    labels: target.labels ?? {},
    sections: requires.filter((s) => targetHasSection(target, s)),
  }));
}

function existingLabels(all: FleetTarget[]): string {
  const counts = new Map<string, number>();
  for (const t of all)
    for (const pair of Object.entries(t.labels).map(([k, v]) => `${k}=${v}`))
      counts.set(pair, (counts.get(pair) ?? 0) + 1);
  if (counts.size === 0) return 'no target has labels (targets.<name>.labels in the config)';
  const list = [...counts.entries()].sort(([a], [b]) => a.localeCompare(b));
  return `the labels that exist: ${list.map(([pair, n]) => `${pair} (${n} target${n > 1 ? 's' : ''})`).join(', ')}`;
}

/** The targets a fleet request names, in run order, or InvalidInput saying what exists instead. */
export function selectTargets(all: FleetTarget[], request: FleetSelectionRequest): FleetTarget[] {
  const byName = new Map(all.map((t) => [t.name, t]));
  const known = () => [...byName.keys()].sort().join(', ');
  let chosen: FleetTarget[];
  if (request.targets !== undefined) {
    if (request.targets.length === 0)
      throw invalidInput(`input.targets is empty; name targets from: ${known()}`);
    const twice = request.targets.filter((t, i) => request.targets!.indexOf(t) !== i);
    if (twice.length) throw invalidInput(`input.targets names ${[...new Set(twice)].join(', ')} twice`);
    const unknown = request.targets.filter((t) => !byName.has(t));
    if (unknown.length)
      throw invalidInput(
        `unknown target${unknown.length > 1 ? 's' : ''} ${unknown.map((t) => `'${t}'`).join(', ')}; the control plane knows: ${known()}`,
      );
    chosen = request.targets.map((t) => byName.get(t)!);
  } else {
    const selector = request.selector ?? {};
    const bad = Object.entries(selector).filter(([, v]) => typeof v !== 'string');
    if (bad.length)
      throw invalidInput(
        `input.selector must map label names to string values (${bad.map(([k]) => k).join(', ')} are not strings)`,
      );
    chosen = all
      .filter((t) => Object.entries(selector).every(([k, v]) => t.labels[k] === v))
      .sort((a, b) => a.name.localeCompare(b.name));
    if (chosen.length === 0)
      throw invalidInput(`selector ${selectorText(selector)} matches no target; ${existingLabels(all)}`);
  }
  const lacking = request.requires.flatMap((section) => {
    const without = chosen.filter((t) => !t.sections.includes(section)).map((t) => t.name);
    return without.length
      ? [`'${section}' (${without.join(', ')} ${without.length > 1 ? 'lack' : 'lacks'} it)`]
      : [];
  });
  if (lacking.length)
    throw invalidInput(`${request.runbook} needs config section ${lacking.join(' and ')} of every target`);
  return chosen;
}

const sleep = (ms: number) => Context.current().sleep(ms);

export function createFleetActivities(
  config: LifeboatConfig,
  client?: () => Client,
  options: FleetOptions = {},
) {
  const pollMs = options.pollMs ?? 2000;
  const watchMs = options.watchMs ?? 10 * 60_000;

  /** One child's state; one that does not answer in a few seconds is `unknown`. */
  async function stateOf(temporal: Client, workflowId: string): Promise<FleetChildState> {
    try {
      const status = await temporal.connection.withDeadline(Date.now() + 5000, () =>
        temporal.workflow.getHandle(workflowId).query(statusQuery),
      );
      const w = status.waiting;
      return {
        workflowId,
        state: status.state,
        ...(w ? { waiting: { kind: w.kind, step: w.step, reason: w.reason } } : {}),
      };
    } catch {
      return { workflowId, state: 'unknown' };
    }
  }

  return {
    /** The names of the targets a fleet acts on, in the order they run; see `selectTargets`. */
    async selectFleetTargets(request: FleetSelectionRequest): Promise<string[]> {
      const all = [...configTargets(config, request.requires), ...((await options.extraTargets?.()) ?? [])];
      return selectTargets(all, request).map((t) => t.name);
    },

    /**
     * How the fleet's running children stand. With `known` (where each child waited when last
     * asked), it watches them, heartbeating, and answers once one of them waits somewhere else (or
     * no longer waits), or after a while anyway; without, it answers at once.
     */
    async fleetChildStates(
      workflowIds: string[],
      known?: Record<string, string>,
    ): Promise<FleetChildState[]> {
      if (!client) throw new Error('this worker has no Temporal client to ask the child runs with');
      const temporal = client();
      const deadline = Date.now() + watchMs;
      for (;;) {
        const states = await Promise.all(workflowIds.map((id) => stateOf(temporal, id)));
        // A child that did not answer this time has not changed.
        const changed =
          !known ||
          states.some((s) => s.state !== 'unknown' && waitingKey(s) !== (known[s.workflowId] ?? ''));
        if (changed || Date.now() >= deadline) return states;
        Context.current().heartbeat();
        await sleep(pollMs);
      }
    },
  };
}
