/**
 * Resolves a target named in workflow input against the worker's config. Besides the configured
 * targets there are drills' derived targets, `<target>@drill-<drillId>`: the target rebased into
 * the drill's sandbox (activities/lib/sandbox.ts), so that a recovery runbook run by drDrill acts
 * on the sandbox and never on production.
 */
import { expandApprovers } from '../config/identities';
import type { TargetView } from '../common/types';
import { targetHasSection, type LifeboatConfig, type TargetConfig } from '../config';
import { invalidInput } from './errors';
import type { AgentRow } from './lib/registry';
import type { RecordStore } from './lib/stores';
import { deriveTarget, parseDrillTargetName, readSandboxRecord, sandboxDir } from './lib/sandbox';

function knownTargets(config: LifeboatConfig): string {
  return Object.keys(config.targets).sort().join(', ');
}

/** A drill's derived target, from `<drill.directory>/<drillId>/sandbox.json`. */
function drillTarget(config: LifeboatConfig, name: string, baseName: string, drillId: string): TargetConfig {
  const base = config.targets[baseName];
  if (!base)
    throw invalidInput(
      `unknown target '${baseName}' (in '${name}'); the worker's config has: ${knownTargets(config)}`,
    );
  if (!base.drill)
    throw invalidInput(`'${name}' names a drill of target '${baseName}', which has no 'drill' section`);
  const sandbox = sandboxDir(base.drill, drillId);
  let record;
  try {
    record = readSandboxRecord(sandbox);
  } catch (err) {
    throw invalidInput(`'${name}' names no drill sandbox of target '${baseName}': ${(err as Error).message}`);
  }
  if (record.target !== baseName || record.drillId !== drillId)
    throw invalidInput(
      `the sandbox ${sandbox} belongs to drill ${record.drillId} of target '${record.target}', not to '${name}'`,
    );
  return deriveTarget(base, record, sandbox);
}

/** Finds a target or explains which targets exist; used by every activity that takes a target name. */
export function findTarget(config: LifeboatConfig, name: string): TargetConfig {
  const target = config.targets[name];
  if (target) return target;
  const drill = parseDrillTargetName(name);
  if (drill) return drillTarget(config, name, drill.base, drill.drillId);
  throw invalidInput(`unknown target '${name}'; the worker's config has: ${knownTargets(config)}`);
}

/** A section of a target's config, or InvalidInput naming the target and the missing section. */
export function sectionOf<
  K extends 'store' | 'driverStore' | 'configFile' | 'auditChain' | 'authTokens' | 'panic' | 'health',
>(config: LifeboatConfig, targetName: string, key: K): NonNullable<TargetConfig[K]> {
  const section = findTarget(config, targetName)[key];
  if (section === undefined)
    throw invalidInput(`target '${targetName}' has no '${key}' section in the worker's config`);
  return section as NonNullable<TargetConfig[K]>;
}

/** Sections a workflow may learn a target has (never their contents). */
const SECTIONS = [
  'store',
  'root',
  'repository',
  'driverStore',
  'configFile',
  'auditChain',
  'authTokens',
  'panic',
  'health',
];

/** The sections a target has, as an agent announces them (with each command as `commands.<name>`). */
export function targetSections(target: TargetConfig): string[] {
  const present = Object.entries(target)
    .filter(([key, value]) => value !== undefined && !['name', 'commands', 'gates', 'labels'].includes(key))
    .map(([key]) => key);
  return [
    ...new Set([...present, ...SECTIONS.filter((s) => targetHasSection(target, s))]),
    ...Object.keys(target.commands).map((c) => `commands.${c}`),
  ].sort();
}

const expandGates = (config: LifeboatConfig, gates: TargetConfig['gates']): TargetConfig['gates'] =>
  // Groups are expanded here: the run sees the identities that may approve.
  Object.fromEntries(
    Object.entries(gates).map(([gate, policy]) => [
      gate,
      policy.approvers ? { ...policy, approvers: expandApprovers(policy.approvers, config.groups) } : policy,
    ]),
  );

const missingProblem = (name: string, runbook: string, missing: string[], where: string) =>
  invalidInput(
    `target '${name}' has no ${missing.map((s) => `'${s}'`).join(', ')} ${missing.length > 1 ? 'sections' : 'section'} in ${where}; ${runbook} needs ${missing.length > 1 ? 'them' : 'it'}`,
  );

/** Where an agent's steps go: its queue, its build's activities, the wait for it (per target in `policies`). */
export function agentRoute(
  agent: AgentRow,
  policy?: { agentTimeoutSeconds?: number },
): NonNullable<TargetView['agent']> {
  return {
    name: agent.name,
    taskQueue: agent.taskQueue,
    timeoutSeconds: policy?.agentTimeoutSeconds ?? agent.timeoutSeconds,
    build: agent.build,
    activities: agent.activities,
  };
}

export function createTargetActivities(config: LifeboatConfig, records?: RecordStore) {
  /** A target an agent holds: its sections and labels as announced, its gates from the control plane. */
  const agentTarget = async (
    runbook: string,
    name: string,
    requires: string[],
  ): Promise<TargetView | undefined> => {
    const row = await records?.target(name);
    if (!row?.agentRow) return undefined;
    const missing = requires.filter((s) => !row.sections.includes(s));
    if (missing.length) throw missingProblem(name, runbook, missing, `the config of agent '${row.agent}'`);
    const policy = config.policies?.[name];
    return {
      name,
      gates: expandGates(config, policy?.gates ?? {}),
      ...(policy?.signedStop ? { signedStop: true } : {}),
      sections: row.sections.filter((s) => SECTIONS.includes(s)),
      notify: (config.notify?.webhooks.length ?? 0) > 0,
      agent: agentRoute(row.agentRow, policy),
    };
  };
  /** A drill's derived target of an agent's target: routed to the agent whose sandbox it is. */
  const agentDrillTarget = async (
    runbook: string,
    name: string,
    requires: string[],
  ): Promise<TargetView | undefined> => {
    const row = await records?.drillTarget(name);
    if (!row) return undefined;
    const holder = (await records?.target(row.base))?.agentRow;
    const agent =
      holder?.name === row.agent
        ? holder
        : (await records?.standsBy(row.agent, row.base))
          ? (await records?.agents())?.find((a) => a.name === row.agent)
          : undefined;
    if (!agent)
      throw invalidInput(
        `the sandbox of '${name}' is on agent '${row.agent}', which no longer holds or stands by for target '${row.base}'`,
      );
    const missing = requires.filter((s) => !row.sections.includes(s));
    if (missing.length)
      throw missingProblem(name, runbook, missing, `the drill sandbox on agent '${row.agent}'`);
    const policy = config.policies?.[row.base];
    const gates =
      row.approvals === 'people'
        ? expandGates(config, policy?.gates ?? {})
        : Object.fromEntries(
            [...new Set([...row.gates, ...Object.keys(policy?.gates ?? {})])].map((g) => [
              g,
              { automatic: true },
            ]),
          );
    return {
      name,
      description: `drill of target '${row.base}' on agent '${row.agent}'`,
      gates,
      sections: row.sections.filter((s) => SECTIONS.includes(s)),
      notify: (config.notify?.webhooks.length ?? 0) > 0,
      agent: agentRoute(agent, policy),
    };
  };
  return {
    /**
     * Records, for a drill of a target an agent holds, where its derived target's sandbox is (on that
     * agent), with the sections the agent made it with and the gates the drill's approvals open.
     */
    async registerDrillTarget(input: {
      name: string;
      base: string;
      approvals: 'automatic' | 'people';
      gates: string[];
      sections: string[];
      /** The agent the sandbox is on when not the holder: one standing by for the target. */
      agent?: string;
    }): Promise<{ agent: string }> {
      const drill = parseDrillTargetName(input.name);
      if (!drill || drill.base !== input.base)
        throw invalidInput(`'${input.name}' is not the name of a drill of target '${input.base}'`);
      const holder = await records?.target(input.base);
      if (input.agent && !(await records?.standsBy(input.agent, input.base)))
        throw invalidInput(`agent '${input.agent}' does not stand by for target '${input.base}'`);
      const agent = input.agent ?? holder?.agent;
      if (!agent) throw invalidInput(`target '${input.base}' is not held by an agent`);
      await records!.recordDrillTarget({ ...input, agent, at: new Date().toISOString() });
      return { agent };
    },
    /** What a run over many targets (a fleet run, named `label`) may know: no config of one target. */
    async resolveTargetless(label: string): Promise<TargetView> {
      return { name: label, gates: {}, sections: [], notify: (config.notify?.webhooks.length ?? 0) > 0 };
    },
    /**
     * Checks that `name` is a configured target with the sections `runbook` needs and returns what a
     * workflow may know of it: its name, description, gate policies and which sections it has.
     */
    async resolveTarget(runbook: string, name: string, requires: string[]): Promise<TargetView> {
      const drill = parseDrillTargetName(name);
      if (drill && !config.targets[drill.base]) {
        const held = await agentDrillTarget(runbook, name, requires);
        if (held) return held;
      }
      if (!config.targets[name] && !drill) {
        const held = await agentTarget(runbook, name, requires);
        if (held) return held;
        const agents = (await records?.targets())?.map((t) => t.target) ?? [];
        if (agents.length)
          throw invalidInput(
            `unknown target '${name}'; the control plane's config has: ${knownTargets(config) || 'none'}; agents hold: ${agents.join(', ')}`,
          );
      }
      const target = findTarget(config, name);
      const has = (section: string) => targetHasSection(target, section);
      const missing = requires.filter((section) => !has(section));
      if (missing.length > 0) throw missingProblem(name, runbook, missing, "the worker's config");
      const sections = SECTIONS.filter((s) => has(s));
      return {
        name,
        description: target.description,
        gates: expandGates(config, target.gates),
        ...(target.signedStop ? { signedStop: true } : {}),
        sections,
        notify: (config.notify?.webhooks.length ?? 0) > 0,
      };
    },
  };
}
