/**
 * The worker's config file (`lifeboat.config.json`, path from `LIFEBOAT_CONFIG`): where the audit
 * ledger lives and the targets runbooks may act on. Workflow input only ever names a target; every
 * path and policy comes from here. Relative paths are resolved against the config file's folder.
 *
 * `loadConfig` reports every problem at once, each naming the setting and what is allowed.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { EncryptionSettings } from './backup';
import type { RetentionPolicy } from '../common/retention';
import { SELF_TARGET } from '../common/constants';
import type { GatePolicy } from '../common/types';
import { parseBackupSettings, parseSelfBackup } from './backup';
import { parseDrill, type DrillSettings } from './drill';

export type { DrillSettings };
export { productionPaths } from './drill';
import {
  isObject,
  parseAuditChain,
  parseConfigFile,
  parseDriverStore,
  parseHealthEndpoint,
  parseHealthThresholds,
  parseNotify,
  parseObjectives,
  parsePanic,
  parsePath,
  unknownKeys,
  type AuditChainSettings,
  type ConfigFileSettings,
  type DriverStoreSettings,
  type HealthEndpointSettings,
  type HealthThresholds,
  type NotifySettings,
  type Objectives,
  type PanicSettings,
} from './sections';

export type {
  AuditChainSettings,
  ConfigFileSettings,
  DriverStoreSettings,
  HealthEndpointSettings,
  HealthThresholds,
  NotifySettings,
  Objectives,
  PanicSettings,
};

export interface StoreSettings {
  /** The primary file; its checksum sidecar is `<primary>.meta`. */
  primary: string;
  /** Folder of timestamped backups `<stem>_YYYYMMDD_HHMMSS.<ext>` with `<stem>_YYYYMMDD_HHMMSS.meta`. */
  backups: string;
  /** Where corrupt files are kept (never deleted); default `<primary folder>/quarantine`. */
  quarantine: string;
}

export interface CommandSettings {
  /** Program and arguments, run without a shell. */
  argv: string[];
  timeoutSeconds: number;
}

export interface TargetConfig {
  name: string;
  description?: string;
  store?: StoreSettings;
  gates: Record<string, Partial<GatePolicy>>;
  /** The storage root a backup captures and a restore replaces. */
  root?: string;
  /**
   * Instead of a root: the files a backup captures, by the path they take in the archive (the
   * built-in target `lifeboat-self`, whose files are Lifeboat's own stores). Never restored by the
   * `restore` runbook: `lifeboat self restore` does that, before the control plane starts.
   */
  sources?: Record<string, string>;
  /** Where the target's backups are written. */
  repository?: string;
  /** A second repository that new backups are copied to. */
  offsite?: string;
  encryption?: EncryptionSettings;
  retention?: RetentionPolicy;
  /** The protected system's version and module set, written into manifests and compared on restore. */
  engineVersion?: string;
  storageSpecVersion?: string;
  modules?: string[];
  commands: Record<string, CommandSettings>;
  /** Named folders a restore may write into instead of the live root (for inspection). */
  restoreInto: Record<string, string>;
  /** Driver store adapter and where driver backups go (driverUpdate, failedDriverUpdate, driverBackup). */
  driverStore?: DriverStoreSettings;
  /** An application config file with timestamped backups (corruptedConfigRecovery). */
  configFile?: ConfigFileSettings;
  /** A hash-chained log with its backups (auditChainRecovery). */
  auditChain?: AuditChainSettings;
  /** Panic flag, ledger, proofs (panicRecovery). */
  panic?: PanicSettings;
  /** The protected service's HTTP health endpoint. */
  health?: HealthEndpointSettings;
  /** What healthCheck reports against. */
  healthCheck: HealthThresholds;
  /** Recovery objectives (RTO, RPO) in minutes. */
  objectives: Objectives;
  /** Where and how drills of this target run (drDrill). */
  drill?: DrillSettings;
  /**
   * Set only on a drill's derived target (`<target>@drill-<drillId>`, see activities/targets.ts):
   * the target whose backups the catalog lists for it, and the sandbox its paths were rebased into.
   */
  catalogName?: string;
  sandbox?: string;
  /** Set only on a host-loss drill's derived target: the sandbox's own catalog, empty at first. */
  ownCatalog?: string;
}

export interface LifeboatConfig {
  /** The file the config was read from (absolute). */
  source: string;
  auditLedger: string;
  /** The backup catalog database (default: catalog.sqlite beside the audit ledger). */
  catalog: string;
  targets: Record<string, TargetConfig>;
  /** Webhooks told when a run starts waiting, completes, stops or fails. */
  notify?: NotifySettings;
}

export class ConfigError extends Error {
  constructor(
    readonly file: string,
    readonly problems: string[],
  ) {
    super(`invalid config ${file}:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

const TARGET_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const TARGET_KEYS = [
  'description',
  'store',
  'gates',
  'root',
  'repository',
  'offsite',
  'encryption',
  'retention',
  'engineVersion',
  'storageSpecVersion',
  'modules',
  'commands',
  'restoreInto',
  'driverStore',
  'configFile',
  'auditChain',
  'panic',
  'health',
  'healthCheck',
  'objectives',
  'drill',
];
const STORE_KEYS = ['primary', 'backups', 'quarantine'];
const GATE_KEYS = ['approvers', 'quorum', 'timeoutSeconds', 'onTimeout', 'automatic'];

function parseGate(where: string, raw: unknown, problems: string[]): Partial<GatePolicy> {
  if (!isObject(raw)) {
    problems.push(`${where} must be an object like {"approvers": ["alice"], "quorum": 1}`);
    return {};
  }
  unknownKeys(where, raw, GATE_KEYS, problems);
  const gate: Partial<GatePolicy> = {};
  if (raw.approvers !== undefined) {
    const ok =
      Array.isArray(raw.approvers) &&
      raw.approvers.length > 0 &&
      raw.approvers.every((a) => typeof a === 'string' && a.trim() !== '');
    if (ok) gate.approvers = (raw.approvers as string[]).map((a) => a.trim());
    else problems.push(`${where}.approvers must be a non-empty array of names (or ["*"] for anyone)`);
  }
  if (raw.quorum !== undefined) {
    if (typeof raw.quorum === 'number' && Number.isInteger(raw.quorum) && raw.quorum >= 1)
      gate.quorum = raw.quorum;
    else problems.push(`${where}.quorum must be an integer of at least 1`);
  }
  if (gate.approvers && gate.quorum && !gate.approvers.includes('*') && gate.quorum > gate.approvers.length) {
    problems.push(
      `${where}.quorum is ${gate.quorum} but only ${gate.approvers.length} approvers are allowed`,
    );
  }
  if (raw.timeoutSeconds !== undefined) {
    if (typeof raw.timeoutSeconds === 'number' && raw.timeoutSeconds > 0)
      gate.timeoutSeconds = raw.timeoutSeconds;
    else problems.push(`${where}.timeoutSeconds must be a positive number of seconds`);
  }
  if (raw.onTimeout !== undefined) {
    if (raw.onTimeout === 'stop' || raw.onTimeout === 'proceed') gate.onTimeout = raw.onTimeout;
    else problems.push(`${where}.onTimeout must be "stop" or "proceed"`);
  }
  if (raw.automatic !== undefined) {
    if (typeof raw.automatic === 'boolean') gate.automatic = raw.automatic;
    else problems.push(`${where}.automatic must be true or false`);
  }
  return gate;
}

function parseStore(
  where: string,
  raw: unknown,
  base: string,
  problems: string[],
): StoreSettings | undefined {
  if (!isObject(raw)) {
    problems.push(`${where} must be an object with "primary" and "backups" paths`);
    return undefined;
  }
  unknownKeys(where, raw, STORE_KEYS, problems);
  const paths: Partial<StoreSettings> = {};
  for (const key of STORE_KEYS as (keyof StoreSettings)[]) {
    const value = raw[key];
    if (value === undefined && key === 'quarantine') continue;
    if (typeof value !== 'string' || value.trim() === '') {
      problems.push(`${where}.${key} must be a path (string)`);
      continue;
    }
    paths[key] = path.resolve(base, value);
  }
  if (!paths.primary || !paths.backups) return undefined;
  const primary = path.parse(paths.primary);
  if (!primary.ext)
    problems.push(`${where}.primary must have an extension (backups are named <stem>_YYYYMMDD_HHMMSS<ext>)`);
  return {
    primary: paths.primary,
    backups: paths.backups,
    quarantine: paths.quarantine ?? path.join(primary.dir, 'quarantine'),
  };
}

function parseRecoverySettings(
  where: string,
  value: Record<string, unknown>,
  target: TargetConfig,
  base: string,
  problems: string[],
): void {
  if (value.driverStore !== undefined)
    target.driverStore = parseDriverStore(
      `${where}.driverStore`,
      value.driverStore,
      base,
      target.commands,
      problems,
    );
  if (value.configFile !== undefined)
    target.configFile = parseConfigFile(`${where}.configFile`, value.configFile, base, problems);
  if (value.auditChain !== undefined)
    target.auditChain = parseAuditChain(`${where}.auditChain`, value.auditChain, base, problems);
  if (value.panic !== undefined) target.panic = parsePanic(`${where}.panic`, value.panic, base, problems);
  if (value.health !== undefined)
    target.health = parseHealthEndpoint(`${where}.health`, value.health, problems);
  if (value.objectives !== undefined)
    target.objectives = parseObjectives(`${where}.objectives`, value.objectives, problems);
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
  const base = path.dirname(source);
  const problems: string[] = [];
  if (!isObject(raw))
    throw new ConfigError(source, ['the file must hold a JSON object with "auditLedger" and "targets"']);
  unknownKeys('config', raw, ['auditLedger', 'catalog', 'targets', 'notify', 'selfBackup'], problems);

  let auditLedger = '';
  if (typeof raw.auditLedger !== 'string' || raw.auditLedger.trim() === '') {
    problems.push('auditLedger must be the path of the audit ledger database (string)');
  } else {
    auditLedger = path.resolve(base, raw.auditLedger);
  }

  const targets: Record<string, TargetConfig> = {};
  if (!isObject(raw.targets) || Object.keys(raw.targets).length === 0) {
    problems.push('targets must be an object with at least one target, e.g. {"demo": {"store": {...}}}');
  } else {
    for (const [name, value] of Object.entries(raw.targets)) {
      const where = `targets.${name}`;
      if (!TARGET_NAME.test(name)) {
        problems.push(`${where}: a target name may hold letters, digits, '.', '_' and '-' (at most 64)`);
      }
      if (name === SELF_TARGET) {
        problems.push(
          `${where}: the name is reserved for Lifeboat's own stores; configure their backups in the top-level "selfBackup" section`,
        );
        continue;
      }
      if (!isObject(value)) {
        problems.push(`${where} must be an object`);
        continue;
      }
      unknownKeys(where, value, TARGET_KEYS, problems);
      const target: TargetConfig = {
        name,
        gates: {},
        commands: {},
        restoreInto: {},
        healthCheck: parseHealthThresholds(`${where}.healthCheck`, value.healthCheck ?? {}, problems),
        objectives: {},
      };
      if (value.description !== undefined) {
        if (typeof value.description === 'string') target.description = value.description;
        else problems.push(`${where}.description must be a string`);
      }
      if (value.store !== undefined) target.store = parseStore(`${where}.store`, value.store, base, problems);
      parseBackupSettings(where, value, target, base, problems);
      parseRecoverySettings(where, value, target, base, problems);
      if (value.drill !== undefined)
        target.drill = parseDrill(`${where}.drill`, value.drill, target, base, problems);
      if (value.gates !== undefined) {
        if (!isObject(value.gates)) problems.push(`${where}.gates must be an object of gate name to policy`);
        else
          for (const [gate, policy] of Object.entries(value.gates)) {
            target.gates[gate] = parseGate(`${where}.gates.${gate}`, policy, problems);
          }
      }
      targets[name] = target;
    }
  }
  let catalog = auditLedger ? path.join(path.dirname(auditLedger), 'catalog.sqlite') : '';
  if (raw.catalog !== undefined) catalog = parsePath('catalog', raw.catalog, base, problems) ?? '';
  if (raw.selfBackup !== undefined && auditLedger && catalog) {
    const self = parseSelfBackup(raw.selfBackup, { auditLedger, catalog }, base, problems);
    if (self) targets[SELF_TARGET] = self;
  }
  const notify = raw.notify === undefined ? undefined : parseNotify('notify', raw.notify, problems);
  if (problems.length > 0) throw new ConfigError(source, problems);
  return { source, auditLedger, catalog, targets, notify };
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
