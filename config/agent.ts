/**
 * The agent's config file (`LIFEBOAT_AGENT_CONFIG`): the agent's name, the key that signs its
 * announcements, and the targets of its host with every path, command, key and setting, which stay on
 * that host and never travel. Identities, groups and gate policies are not here: they are the control
 * plane's (config/index.ts), and nothing an agent announces can widen who may approve.
 *
 * The targets use the control plane's target schema (config/targets.ts). The catalog of the agent's
 * backups is kept on the agent's host (a cache of its repositories, rebuilt by adoptRepository).
 *
 * `standby` names targets another agent holds that this host can take over after a host loss: the
 * same schema, with this host's paths, the target's offsite copy as this host sees it, and a `drill`
 * section. They are not claimed; a host-loss drill of one may run its sandbox here (drDrill's
 * `sandboxAgent`), restoring from the offsite copy alone.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { z } from 'zod';
import { AGENT_NAME, DEFAULT_AGENT_TIMEOUT_SECONDS } from '../common/agents';
import { ConfigError, parseConfig, type LifeboatConfig } from './index';
import { envVar, filePath, int, problemsOf, section } from './sections';

const agentSection = (base: string) =>
  section('must be an object like {"name": "host-a", "signingKey": "keys/host-a.sec.asc"}', {
    name: z.string({ error: 'must be the agent name (string)' }).regex(AGENT_NAME, {
      error: 'must be letters, digits, . _ - (at most 63), starting with a letter or digit',
    }),
    /** The armored private key that signs announcements; its public key is in the control plane's `agents`. */
    signingKey: filePath(base).optional(),
    signingKeyPassphraseEnv: envVar('must name an environment variable').optional(),
    /** The catalog of this host's backups (default catalog.sqlite beside this file). */
    catalog: filePath(base).optional(),
    /** Seconds a step waits for this agent to pick it up before its run waits, naming the agent. */
    timeoutSeconds: int(5).default(DEFAULT_AGENT_TIMEOUT_SECONDS),
    /** Seconds between announcements after the first (the registry's announced-at stays fresh). */
    announceEverySeconds: int(10).default(300),
  });

export type AgentSettings = z.output<ReturnType<typeof agentSection>>;

export interface AgentConfig {
  agent: AgentSettings;
  /** The host's targets and standby targets, as the activities read them (no ledger, no identities). */
  config: LifeboatConfig;
  /** The names of its standby targets (in `config.targets` too, never announced as held). */
  standby: string[];
}

/** Validates an agent config object; every problem named by its setting. */
export function parseAgentConfig(raw: unknown, file: string): AgentConfig {
  const source = path.resolve(file);
  const base = path.dirname(source);
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw))
    throw new ConfigError(source, ['the file must hold a JSON object with "agent" and "targets"']);
  const { agent, targets, standby, ...rest } = raw as Record<string, unknown>;
  const problems = Object.keys(rest).map(
    (k) => `config.${k} is not a known setting of an agent; known: agent, targets, standby`,
  );
  const standbys = (standby ?? {}) as Record<string, Record<string, unknown>>;
  if (typeof standbys !== 'object' || Array.isArray(standbys))
    problems.push('config.standby must be an object of targets by name');
  const held = (targets ?? {}) as Record<string, unknown>;
  for (const [name, t] of Object.entries(standbys)) {
    if (Object.hasOwn(held, name))
      problems.push(
        `config.standby.${name}: '${name}' is also in targets; a host holds a target or stands by for it`,
      );
    if (!t || typeof t !== 'object' || !t.offsite || !t.drill)
      problems.push(
        `config.standby.${name} needs 'offsite' and 'drill': a host-loss drill of '${name}' here restores from the offsite copy alone`,
      );
  }
  const parsedAgent = agentSection(base).safeParse(agent ?? null);
  if (!parsedAgent.success)
    problems.push(
      ...problemsOf(parsedAgent.error.issues).map((p) => (p.startsWith('agent') ? p : `agent ${p}`)),
    );
  let config: LifeboatConfig | undefined;
  try {
    const catalog = parsedAgent.success ? parsedAgent.data.catalog : undefined;
    // The agent keeps no audit ledger (the control plane does): the path is never opened.
    config = parseConfig(
      {
        auditLedger: path.join(base, '.no-ledger-on-agents'),
        catalog: catalog ?? 'catalog.sqlite',
        targets: { ...held, ...standbys },
      },
      source,
    );
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    problems.push(...err.problems);
  }
  if (problems.length || !config || !parsedAgent.success) throw new ConfigError(source, problems);
  return { agent: parsedAgent.data, config, standby: Object.keys(standbys).sort() };
}

export function loadAgentConfig(file: string): AgentConfig {
  const source = path.resolve(file);
  let raw: unknown;
  try {
    raw = JSON.parse(fs.readFileSync(source, 'utf8'));
  } catch (err) {
    throw new ConfigError(source, [
      err instanceof SyntaxError
        ? `not valid JSON: ${err.message}`
        : `cannot read the file: ${(err as Error).message}`,
    ]);
  }
  return parseAgentConfig(raw, source);
}
