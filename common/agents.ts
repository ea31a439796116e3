/**
 * Agents: the processes that run on each host and run the activities that touch its targets, on a
 * task queue of their own. What an agent announces to the control plane, the queue it polls, and
 * which activities stay on the control plane (the ledger, the catalog of the registry, notifications,
 * the Temporal client's lookups). Free of Node-only imports: the engine routes steps with it.
 */

/** What an agent says about itself when it starts (signed with its key where the config lists one). */
export interface Announcement {
  kind: 'lifeboat.agent';
  version: 1;
  agent: string;
  host: string;
  /** The Lifeboat build it runs (config/build.ts). */
  build: string;
  pid: number;
  /** The task queue it polls. */
  taskQueue: string;
  /** Seconds a step waits for it to pick a task up before the run waits, naming it. */
  timeoutSeconds: number;
  /** Its activities: a runbook needing one it lacks waits, naming it, instead of failing obscurely. */
  activities: string[];
  targets: { name: string; sections: string[]; labels: Record<string, string> }[];
  /** Targets other agents hold that a host-loss drill may run its sandbox here for (config `standby`). */
  standby?: string[];
  at: string;
}

/** The queue of agent `agent` beside the control plane's queue (`lifeboat` → `lifeboat-agent-<name>`). */
export function agentQueue(controlQueue: string, agent: string): string {
  return `${controlQueue}-agent-${agent}`;
}

export const AGENT_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;

/** How long a step waits for its agent to pick it up before the run waits, naming the agent. */
export const DEFAULT_AGENT_TIMEOUT_SECONDS = 180;

/** Activities that run on the control plane, never on an agent. */
export const CONTROL_PLANE_ACTIVITIES: ReadonlySet<string> = new Set([
  'resolveTarget',
  'resolveTargetless',
  'registerDrillTarget',
  'appendAudit',
  'verifyDecision',
  'notify',
  'sweepStuckRuns',
  'cancelRequester',
  'registerAgent',
  'standbyForDrill',
  'mirrorCatalog',
  'forgetAgent',
  'agentLastSeen',
  'selectFleetTargets',
  'fleetChildStates',
]);
