/**
 * Target sections of the worker's config for the recovery runbooks of issue 4 (driver store, config
 * file, audit chain, panic recovery, HTTP health, health thresholds, objectives) and the top-level
 * `notify` section. Each parser pushes every problem it finds, naming the setting and what is allowed.
 */
import * as path from 'node:path';

export type Problems = string[];

export interface DriverStoreSettings {
  /** `pnputil` (Windows) or `directory` (a folder of driver packages and a device-status file). */
  adapter: 'pnputil' | 'directory';
  /** Pre-update backups (`pre-update/`), full driver backup sets (`sets/`), restore points. */
  backups: string;
  /** Driver packages an update may install, one folder each; `driverUpdate` input names a folder. */
  updates: string;
  /** Free space the backups folder must have before a backup or an update. */
  minFreeBytes: number;
  /** Full driver backup sets kept by `driverBackup` (the procedure: at least the last 2). */
  keepSets: number;
  /** Time limit of one pnputil / PowerShell call. */
  timeoutSeconds: number;
  /** How long a device may take after an install to report problem code 0. */
  settleSeconds: number;
  /** pnputil adapter: the programs (found on PATH unless a path is given). */
  pnputil: string;
  powershell: string;
  /** directory adapter: the package folder and the device-status file (JSON). */
  store?: string;
  devices?: string;
  /** directory adapter: a command (in the target's `commands`) that refreshes the device-status file. */
  rescan?: string;
}

export interface ConfigFileSettings {
  /** The application's config file (TOML or JSON, by extension). */
  file: string;
  format: 'toml' | 'json';
  /** `<config_dir>/backups/<timestamp>.toml` by default. */
  backups: string;
  /** The compiled-in default config, used when no backup parses. */
  default?: string;
  /** Where a corrupt config is kept (never deleted). */
  quarantine: string;
  /** Backups kept after a recovery (the procedure: 10). */
  keep: number;
}

export interface AuditChainSettings {
  /** The hash-chained log, one JSON entry per line, each with `prevHash` and `hash`. */
  file: string;
  /** `<data_dir>/chain_backups/` by default. */
  backups: string;
  quarantine: string;
}

export interface PanicSettings {
  /** The file whose presence means panic mode. */
  flag: string;
  /** The ledger database and the folder of its backups (SQLite files). */
  ledger: string;
  ledgerBackups: string;
  /** The daily proof files whose Merkle roots form a chain. */
  proofs: string;
  /** Where recovery proofs are written; `<flag folder>/recovery-proofs` by default. */
  recoveryProofs: string;
}

export interface HealthEndpointSettings {
  url: string;
  attempts: number;
  intervalSeconds: number;
  timeoutSeconds: number;
}

export interface HealthThresholds {
  minBackups: number;
  minValidBackups: number;
  minFreeBytes: number;
}

export interface Objectives {
  rtoMinutes?: number;
  rpoMinutes?: number;
}

export interface NotifySettings {
  /** URLs that receive a JSON POST (Slack-compatible `text` plus structured fields). */
  webhooks: string[];
  /** The Temporal Web UI, for links to the run. */
  uiUrl: string;
  timeoutSeconds: number;
}

export const GIB = 1024 * 1024 * 1024;

export function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function unknownKeys(
  where: string,
  obj: Record<string, unknown>,
  known: string[],
  problems: Problems,
): void {
  for (const key of Object.keys(obj)) {
    if (!known.includes(key))
      problems.push(`${where}.${key} is not a known setting; known: ${known.join(', ')}`);
  }
}

/** Whether `p` is `dir` or lies below it (both absolute). */
export function isWithin(p: string, dir: string): boolean {
  return p === dir || p.startsWith(`${dir}${path.sep}`);
}

/** Whether one of two folders holds the other (or they are the same). */
export function overlaps(a: string, b: string): boolean {
  return isWithin(a, b) || isWithin(b, a);
}

export function parsePath(where: string, raw: unknown, base: string, problems: Problems): string | undefined {
  if (typeof raw !== 'string' || raw.trim() === '') {
    problems.push(`${where} must be a path (string)`);
    return undefined;
  }
  return path.resolve(base, raw);
}

/** Reads the object of a section, or reports what it must be. */
function section(
  where: string,
  raw: unknown,
  known: string[],
  usage: string,
  problems: Problems,
): Record<string, unknown> | undefined {
  if (!isObject(raw)) {
    problems.push(`${where} must be an object like ${usage}`);
    return undefined;
  }
  unknownKeys(where, raw, known, problems);
  return raw;
}

function optionalPath(
  where: string,
  raw: Record<string, unknown>,
  key: string,
  base: string,
  problems: Problems,
): string | undefined {
  return raw[key] === undefined ? undefined : parsePath(`${where}.${key}`, raw[key], base, problems);
}

function requiredPath(
  where: string,
  raw: Record<string, unknown>,
  key: string,
  base: string,
  problems: Problems,
): string | undefined {
  if (raw[key] === undefined) {
    problems.push(`${where}.${key} is required (a path)`);
    return undefined;
  }
  return parsePath(`${where}.${key}`, raw[key], base, problems);
}

function number(
  where: string,
  raw: Record<string, unknown>,
  key: string,
  fallback: number,
  problems: Problems,
  opts: { integer?: boolean; min?: number } = {},
): number {
  const value = raw[key];
  if (value === undefined) return fallback;
  const min = opts.min ?? 0;
  if (
    typeof value !== 'number' ||
    !Number.isFinite(value) ||
    value < min ||
    (opts.integer && !Number.isInteger(value))
  ) {
    problems.push(`${where}.${key} must be ${opts.integer ? 'an integer' : 'a number'} of at least ${min}`);
    return fallback;
  }
  return value;
}

function url(where: string, raw: unknown, problems: Problems): string | undefined {
  if (typeof raw === 'string') {
    try {
      const parsed = new URL(raw);
      if (parsed.protocol === 'http:' || parsed.protocol === 'https:') return raw;
    } catch {
      // reported below
    }
  }
  problems.push(`${where} must be an http:// or https:// URL`);
  return undefined;
}

const DRIVER_KEYS = [
  'adapter',
  'backups',
  'updates',
  'minFreeBytes',
  'keepSets',
  'timeoutSeconds',
  'settleSeconds',
  'pnputil',
  'powershell',
  'store',
  'devices',
  'rescan',
];
const ADAPTERS = ['pnputil', 'directory'] as const;

export function parseDriverStore(
  where: string,
  raw: unknown,
  base: string,
  commands: Record<string, unknown>,
  problems: Problems,
): DriverStoreSettings | undefined {
  const value = section(
    where,
    raw,
    DRIVER_KEYS,
    '{"adapter": "pnputil", "backups": "...", "updates": "..."}',
    problems,
  );
  if (!value) return undefined;
  const adapter = value.adapter;
  if (!ADAPTERS.includes(adapter as (typeof ADAPTERS)[number])) {
    problems.push(
      `${where}.adapter is ${JSON.stringify(adapter)}; the driver store adapters are: ${ADAPTERS.join(', ')}`,
    );
  }
  const backups = requiredPath(where, value, 'backups', base, problems);
  const updates = requiredPath(where, value, 'updates', base, problems);
  const program = (key: string, fallback: string): string => {
    if (value[key] === undefined) return fallback;
    if (typeof value[key] === 'string' && (value[key] as string).trim()) return value[key] as string;
    problems.push(`${where}.${key} must be a program name or path`);
    return fallback;
  };
  const settings: DriverStoreSettings = {
    adapter: adapter as DriverStoreSettings['adapter'],
    backups: backups ?? '',
    updates: updates ?? '',
    minFreeBytes: number(where, value, 'minFreeBytes', GIB, problems, { integer: true }),
    keepSets: number(where, value, 'keepSets', 2, problems, { integer: true, min: 1 }),
    timeoutSeconds: number(where, value, 'timeoutSeconds', 300, problems, { min: 1 }),
    settleSeconds: number(where, value, 'settleSeconds', 10, problems),
    pnputil: program('pnputil', 'pnputil'),
    powershell: program('powershell', 'powershell'),
    store: optionalPath(where, value, 'store', base, problems),
    devices: optionalPath(where, value, 'devices', base, problems),
  };
  if (adapter === 'directory') {
    if (!settings.store)
      problems.push(`${where}.store is required by the directory adapter (the package folder)`);
    if (!settings.devices)
      problems.push(`${where}.devices is required by the directory adapter (the device-status JSON file)`);
  }
  if (value.rescan !== undefined) {
    if (typeof value.rescan === 'string' && commands[value.rescan] !== undefined)
      settings.rescan = value.rescan;
    else
      problems.push(
        `${where}.rescan must name a command of this target's "commands" (have: ${Object.keys(commands).join(', ') || 'none'})`,
      );
  }
  return backups && updates ? settings : undefined;
}

export function parseConfigFile(
  where: string,
  raw: unknown,
  base: string,
  problems: Problems,
): ConfigFileSettings | undefined {
  const value = section(
    where,
    raw,
    ['file', 'backups', 'default', 'quarantine', 'keep'],
    '{"file": "app/config.toml", "default": "app/default.toml"}',
    problems,
  );
  if (!value) return undefined;
  const file = requiredPath(where, value, 'file', base, problems);
  if (!file) return undefined;
  const ext = path.extname(file).toLowerCase();
  if (ext !== '.toml' && ext !== '.json') {
    problems.push(`${where}.file must end in .toml or .json (that is how Lifeboat knows how to parse it)`);
  }
  return {
    file,
    format: ext === '.json' ? 'json' : 'toml',
    backups:
      optionalPath(where, value, 'backups', base, problems) ?? path.join(path.dirname(file), 'backups'),
    default: optionalPath(where, value, 'default', base, problems),
    quarantine:
      optionalPath(where, value, 'quarantine', base, problems) ?? path.join(path.dirname(file), 'quarantine'),
    keep: number(where, value, 'keep', 10, problems, { integer: true, min: 1 }),
  };
}

export function parseAuditChain(
  where: string,
  raw: unknown,
  base: string,
  problems: Problems,
): AuditChainSettings | undefined {
  const value = section(
    where,
    raw,
    ['file', 'backups', 'quarantine'],
    '{"file": "data/chain.jsonl", "backups": "data/chain_backups"}',
    problems,
  );
  if (!value) return undefined;
  const file = requiredPath(where, value, 'file', base, problems);
  if (!file) return undefined;
  return {
    file,
    backups:
      optionalPath(where, value, 'backups', base, problems) ?? path.join(path.dirname(file), 'chain_backups'),
    quarantine:
      optionalPath(where, value, 'quarantine', base, problems) ?? path.join(path.dirname(file), 'quarantine'),
  };
}

export function parsePanic(
  where: string,
  raw: unknown,
  base: string,
  problems: Problems,
): PanicSettings | undefined {
  const value = section(
    where,
    raw,
    ['flag', 'ledger', 'ledgerBackups', 'proofs', 'recoveryProofs'],
    '{"flag": "data/PANIC", "ledger": "data/ledger.db", "ledgerBackups": "backup/data", "proofs": "proof"}',
    problems,
  );
  if (!value) return undefined;
  const flag = requiredPath(where, value, 'flag', base, problems);
  const ledger = requiredPath(where, value, 'ledger', base, problems);
  const ledgerBackups = requiredPath(where, value, 'ledgerBackups', base, problems);
  const proofs = requiredPath(where, value, 'proofs', base, problems);
  if (!flag || !ledger || !ledgerBackups || !proofs) return undefined;
  return {
    flag,
    ledger,
    ledgerBackups,
    proofs,
    recoveryProofs:
      optionalPath(where, value, 'recoveryProofs', base, problems) ??
      path.join(path.dirname(flag), 'recovery-proofs'),
  };
}

export function parseHealthEndpoint(
  where: string,
  raw: unknown,
  problems: Problems,
): HealthEndpointSettings | undefined {
  const value = section(
    where,
    raw,
    ['url', 'attempts', 'intervalSeconds', 'timeoutSeconds'],
    '{"url": "http://127.0.0.1:3000/healthz", "attempts": 5}',
    problems,
  );
  if (!value) return undefined;
  const endpoint = url(`${where}.url`, value.url, problems);
  if (!endpoint) return undefined;
  return {
    url: endpoint,
    attempts: number(where, value, 'attempts', 5, problems, { integer: true, min: 1 }),
    intervalSeconds: number(where, value, 'intervalSeconds', 2, problems),
    timeoutSeconds: number(where, value, 'timeoutSeconds', 5, problems, { min: 0.1 }),
  };
}

export function parseHealthThresholds(where: string, raw: unknown, problems: Problems): HealthThresholds {
  const value =
    section(where, raw, ['minBackups', 'minValidBackups', 'minFreeBytes'], '{"minBackups": 5}', problems) ??
    {};
  return {
    minBackups: number(where, value, 'minBackups', 5, problems, { integer: true }),
    minValidBackups: number(where, value, 'minValidBackups', 3, problems, { integer: true }),
    minFreeBytes: number(where, value, 'minFreeBytes', GIB, problems, { integer: true }),
  };
}

export function parseObjectives(where: string, raw: unknown, problems: Problems): Objectives {
  const value = section(
    where,
    raw,
    ['rtoMinutes', 'rpoMinutes'],
    '{"rtoMinutes": 30, "rpoMinutes": 60}',
    problems,
  );
  if (!value) return {};
  const objectives: Objectives = {};
  for (const key of ['rtoMinutes', 'rpoMinutes'] as const) {
    if (value[key] !== undefined) objectives[key] = number(where, value, key, 0, problems, { min: 0.01 });
  }
  return objectives;
}

export function parseNotify(where: string, raw: unknown, problems: Problems): NotifySettings | undefined {
  const value = section(
    where,
    raw,
    ['webhooks', 'uiUrl', 'timeoutSeconds'],
    '{"webhooks": ["https://hooks.example/..."], "uiUrl": "http://127.0.0.1:8233"}',
    problems,
  );
  if (!value) return undefined;
  const webhooks: string[] = [];
  if (!Array.isArray(value.webhooks)) problems.push(`${where}.webhooks must be an array of URLs`);
  else
    value.webhooks.forEach((hook, i) => {
      const ok = url(`${where}.webhooks[${i}]`, hook, problems);
      if (ok) webhooks.push(ok);
    });
  const uiUrl =
    value.uiUrl === undefined ? 'http://127.0.0.1:8233' : url(`${where}.uiUrl`, value.uiUrl, problems);
  return {
    webhooks,
    uiUrl: (uiUrl ?? 'http://127.0.0.1:8233').replace(/\/+$/, ''),
    timeoutSeconds: number(where, value, 'timeoutSeconds', 5, problems, { min: 0.1 }),
  };
}
