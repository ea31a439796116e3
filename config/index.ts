/**
 * The worker's config file (`lifeboat.config.json`, path from `LIFEBOAT_CONFIG`): where the audit
 * ledger lives and the targets runbooks may act on. Workflow input only ever names a target; every
 * path and policy comes from here. Relative paths are resolved against the config file's folder.
 *
 * The settings are zod schemas, one file per topic (targets, backup, recovery, drill, notify), and
 * the types are inferred from them. `loadConfig` reports every problem at once, each naming the
 * setting by its full path and what is allowed.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { z } from 'zod';
import { SELF_TARGET } from '../common/constants';
import { checkSelfBackupApart, selfBackup, selfTarget } from './backup';
import { checkIdentityRefs, groups, identities } from './identities';
import { agents, policies } from './agents';
import { database } from './database';
import { notify } from './notify';
import { crossCheck, filePath, isObject, problemsOf, section } from './sections';
import { targets, type TargetConfig } from './targets';

export type { CommandSettings, EncryptionSettings, SigningSettings } from './backup';
export type { DatabaseSettings } from './database';
export type { DrillSettings } from './drill';
export { productionPaths } from './drill';
export type { IdentitySettings } from './identities';
export type { NotifySettings } from './notify';
export type {
  AuditChainSettings,
  AuthTokenSettings,
  ConfigFileSettings,
  DriverStoreSettings,
  HealthEndpointSettings,
  HealthThresholds,
  Objectives,
  PanicSettings,
} from './recovery';
export type { StoreSettings, TargetConfig } from './targets';

function configSchema(source: string) {
  const base = path.dirname(source);
  const storesOf = (c: { auditLedger: string; catalog?: string }) => ({
    'audit.sqlite': c.auditLedger,
    'catalog.sqlite': c.catalog ?? path.join(path.dirname(c.auditLedger), 'catalog.sqlite'),
  });
  return section('the file must hold a JSON object with "auditLedger" and "targets"', {
    auditLedger: filePath(base, 'must be the path of the audit ledger database (string)'),
    catalog: filePath(base).optional(),
    targets: targets(base),
    /** Webhooks told when a run starts waiting, completes, stops or fails. */
    notify: notify.optional(),
    selfBackup: selfBackup(base).optional(),
    /** People who sign decisions, with their OpenPGP public keys (config/identities.ts). */
    identities: identities(base).optional(),
    /** Named sets of identities, for a gate's approvers (`group:<name>`). */
    groups: groups.optional(),
    /** Agents that may announce targets, each with the public key that signs its announcements. */
    agents: agents(base).optional(),
    /** Gate policies of targets held by agents (their configs are on their hosts; policies are here). */
    policies: policies.optional(),
    /** The ledger and the catalog of record in PostgreSQL (config/database.ts); SQLite files without it. */
    database: database.optional(),
  })
    .check(
      crossCheck<{ auditLedger: string; catalog?: string; selfBackup?: object }>((c, at) => {
        if (isObject(c.selfBackup) && at.parsed('auditLedger') && at.parsed('catalog'))
          checkSelfBackupApart(c.selfBackup, storesOf(c), at);
      }),
    )
    .check(crossCheck(checkIdentityRefs))
    .check(
      // Stores in PostgreSQL are not files: their backup is a dump.
      crossCheck<{ database?: object; selfBackup?: { dump?: object } }>((c, at) => {
        if (c.database && isObject(c.selfBackup) && !c.selfBackup.dump)
          at.report(
            ['selfBackup', 'dump'],
            'is required when the stores are in PostgreSQL (database): a dump command such as pg_dump, whose file the backup captures',
          );
      }),
    )
    .check(
      // A control plane whose targets are all held by agents has none of its own.
      crossCheck<{ targets?: object; agents?: object }>((c, at) => {
        if (at.parsed('targets') && Object.keys(c.targets ?? {}).length === 0 && !c.agents)
          at.report(
            ['targets'],
            'must be an object with at least one target, e.g. {"demo": {"store": {...}}}',
          );
      }),
    )
    .transform(({ selfBackup: self, ...c }) => {
      const stores = storesOf(c);
      return {
        /** The file the config was read from (absolute). */
        source,
        ...c,
        /** The backup catalog database (default: catalog.sqlite beside the audit ledger). */
        catalog: stores['catalog.sqlite'],
        targets: self ? { ...c.targets, [SELF_TARGET]: selfTarget(self, stores) } : c.targets,
      };
    });
}

export type LifeboatConfig = z.output<ReturnType<typeof configSchema>>;

export class ConfigError extends Error {
  constructor(
    readonly file: string,
    readonly problems: string[],
  ) {
    super(`invalid config ${file}:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

/**
 * Whether the target has a section a runbook requires (`root`, `repository`, `commands.<name>`, …).
 * Named files (lifeboat-self) stand in for a root.
 */
export function targetHasSection(target: TargetConfig, section: string): boolean {
  if (section.startsWith('commands.'))
    return target.commands[section.slice('commands.'.length)] !== undefined;
  if (section === 'root' && target.sources !== undefined) return true;
  return (target as unknown as Record<string, unknown>)[section] !== undefined;
}

/** Validates a parsed config object; `file` is used to resolve relative paths and in messages. */
export function parseConfig(raw: unknown, file: string): LifeboatConfig {
  const source = path.resolve(file);
  const parsed = configSchema(source).safeParse(raw);
  if (!parsed.success) throw new ConfigError(source, problemsOf(parsed.error.issues));
  return parsed.data;
}

/** Reads and validates the config file; throws a ConfigError listing every problem. */
export function loadConfig(file: string): LifeboatConfig {
  const source = path.resolve(file);
  let text: string;
  try {
    text = fs.readFileSync(source, 'utf8');
  } catch (err) {
    throw new ConfigError(source, [`cannot read the file: ${(err as Error).message}`]);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new ConfigError(source, [`not valid JSON: ${(err as Error).message}`]);
  }
  return parseConfig(raw, source);
}

/** The config path the worker and CLI use: `LIFEBOAT_CONFIG`, else `./lifeboat.config.json`. */
export function configPathFromEnv(env: NodeJS.ProcessEnv = process.env): string {
  return path.resolve(env.LIFEBOAT_CONFIG ?? 'lifeboat.config.json');
}
