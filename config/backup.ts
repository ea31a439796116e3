/**
 * The backup settings of the worker's config: a target's root, repository, offsite copy, encryption
 * and signing keys, retention, versions, commands and inspection folders; and the top-level
 * `selfBackup` section, which makes the built-in target `lifeboat-self` that backs up Lifeboat's own
 * stores (the audit ledger and the catalog). Every parser pushes each problem it finds, naming the
 * setting and what is allowed.
 */
import * as path from 'node:path';
import { validateRetention } from '../common/retention';
import { SELF_TARGET } from '../common/constants';
import type { CommandSettings, TargetConfig } from './index';
import { isObject, isWithin, overlaps, parsePath, unknownKeys, parseHealthThresholds } from './sections';

/**
 * Who signs a target's backup sidecars, and whose signatures a restore accepts (see sidecar.ts):
 * the signing key's own public key always, plus `trustedSigners` (retired or other hosts' keys).
 */
export interface SigningSettings {
  signingKey?: string;
  signingKeyPassphraseEnv?: string;
  trustedSigners?: string[];
}

export type EncryptionSettings = (
  | { recipients: string[]; privateKeys?: string[]; privateKeyPassphraseEnv?: string }
  | { passphraseEnv: string }
) &
  SigningSettings;

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const COMMAND_NAME = /^[A-Za-z][A-Za-z0-9_-]{0,63}$/;
const SIGNING_KEYS = ['signingKey', 'signingKeyPassphraseEnv', 'trustedSigners'];

export function parseCommands(
  where: string,
  raw: unknown,
  problems: string[],
): Record<string, CommandSettings> {
  const commands: Record<string, CommandSettings> = {};
  if (!isObject(raw)) {
    problems.push(`${where} must be an object of name to {"argv": [...], "timeoutSeconds": n}`);
    return commands;
  }
  for (const [name, value] of Object.entries(raw)) {
    const at = `${where}.${name}`;
    if (!COMMAND_NAME.test(name))
      problems.push(`${at}: a command name may hold letters, digits, '_' and '-'`);
    if (!isObject(value)) {
      problems.push(`${at} must be {"argv": ["program", "arg"], "timeoutSeconds": 60}`);
      continue;
    }
    unknownKeys(at, value, ['argv', 'timeoutSeconds'], problems);
    const argv = value.argv;
    if (!Array.isArray(argv) || argv.length === 0 || argv.some((a) => typeof a !== 'string')) {
      problems.push(`${at}.argv must be a non-empty array of strings (run without a shell)`);
      continue;
    }
    const timeout = value.timeoutSeconds ?? 60;
    if (typeof timeout !== 'number' || timeout <= 0) {
      problems.push(`${at}.timeoutSeconds must be a positive number`);
      continue;
    }
    commands[name] = { argv: argv as string[], timeoutSeconds: timeout };
  }
  return commands;
}

function keyFiles(
  where: string,
  raw: unknown,
  base: string,
  problems: string[],
  usage: string,
): string[] | undefined {
  if (!Array.isArray(raw) || raw.length === 0 || raw.some((f) => typeof f !== 'string' || f.trim() === '')) {
    problems.push(usage);
    return undefined;
  }
  return (raw as string[]).map((f) => path.resolve(base, f));
}

function envName(where: string, raw: unknown, problems: string[], what: string): string | undefined {
  if (raw === undefined) return undefined;
  if (typeof raw === 'string' && ENV_NAME.test(raw)) return raw;
  problems.push(`${where} must name an environment variable (${what} itself never goes in the config)`);
  return undefined;
}

/** `signingKey`, `signingKeyPassphraseEnv`, `trustedSigners` of an encryption section. */
function parseSigning(
  where: string,
  raw: Record<string, unknown>,
  base: string,
  problems: string[],
): SigningSettings {
  const signing: SigningSettings = {};
  if (raw.signingKey !== undefined)
    signing.signingKey = parsePath(`${where}.signingKey`, raw.signingKey, base, problems);
  signing.signingKeyPassphraseEnv = envName(
    `${where}.signingKeyPassphraseEnv`,
    raw.signingKeyPassphraseEnv,
    problems,
    'the passphrase',
  );
  if (raw.trustedSigners !== undefined) {
    signing.trustedSigners = keyFiles(
      `${where}.trustedSigners`,
      raw.trustedSigners,
      base,
      problems,
      `${where}.trustedSigners must be a non-empty array of armored public key files (signing keys whose backups a restore accepts, retired ones included)`,
    );
  }
  if (signing.signingKeyPassphraseEnv && !signing.signingKey)
    problems.push(`${where}.signingKeyPassphraseEnv is set but ${where}.signingKey is not`);
  return Object.fromEntries(Object.entries(signing).filter(([, v]) => v !== undefined));
}

export function parseEncryption(
  where: string,
  raw: unknown,
  base: string,
  problems: string[],
): EncryptionSettings | undefined {
  const usage = `${where} must be {"recipients": ["<public key file>"], "privateKeys": ["<private key file>"], "signingKey": "<private key file>"} or {"passphraseEnv": "<ENV_VAR>"}`;
  if (!isObject(raw)) {
    problems.push(usage);
    return undefined;
  }
  if (raw.passphraseEnv !== undefined) {
    unknownKeys(where, raw, ['passphraseEnv', ...SIGNING_KEYS], problems);
    const passphraseEnv = envName(`${where}.passphraseEnv`, raw.passphraseEnv, problems, 'the passphrase');
    const signing = parseSigning(where, raw, base, problems);
    return passphraseEnv ? { passphraseEnv, ...signing } : undefined;
  }
  unknownKeys(
    where,
    raw,
    ['recipients', 'privateKeys', 'privateKeyPassphraseEnv', ...SIGNING_KEYS],
    problems,
  );
  const recipients = keyFiles(where, raw.recipients, base, problems, usage);
  const privateKeys =
    raw.privateKeys === undefined
      ? undefined
      : keyFiles(
          `${where}.privateKeys`,
          raw.privateKeys,
          base,
          problems,
          `${where}.privateKeys must be a non-empty array of key files`,
        );
  const privateKeyPassphraseEnv = envName(
    `${where}.privateKeyPassphraseEnv`,
    raw.privateKeyPassphraseEnv,
    problems,
    'the passphrase',
  );
  const signing = parseSigning(where, raw, base, problems);
  if (raw.signingKey === undefined) {
    problems.push(
      `${where}.signingKey is required with recipients: anyone who holds a public key can write an archive that decrypts cleanly, so each backup is signed (an armored OpenPGP private key file; its passphrase, if any, in the variable signingKeyPassphraseEnv names)`,
    );
  }
  if (!recipients) return undefined;
  const settings: EncryptionSettings = { recipients, ...signing };
  if (privateKeys) settings.privateKeys = privateKeys;
  if (privateKeyPassphraseEnv) settings.privateKeyPassphraseEnv = privateKeyPassphraseEnv;
  return settings;
}

/** root, repository, offsite, encryption, retention, versions, modules, commands, restoreInto. */
export function parseBackupSettings(
  where: string,
  value: Record<string, unknown>,
  target: TargetConfig,
  base: string,
  problems: string[],
): void {
  for (const key of ['root', 'repository', 'offsite'] as const) {
    if (value[key] !== undefined) target[key] = parsePath(`${where}.${key}`, value[key], base, problems);
  }
  if (target.root && target.repository) {
    if (overlaps(target.repository, target.root)) {
      problems.push(
        `${where}.repository must be outside ${where}.root (and the root outside the repository)`,
      );
    }
  }
  if (target.repository && target.offsite && overlaps(target.repository, target.offsite))
    problems.push(`${where}.offsite must be a folder apart from ${where}.repository (it is the second copy)`);
  if (value.encryption !== undefined)
    target.encryption = parseEncryption(`${where}.encryption`, value.encryption, base, problems);
  if (value.retention !== undefined) {
    const { policy, problems: found } = validateRetention(value.retention, `${where}.retention`);
    problems.push(...found);
    target.retention = policy;
  }
  for (const key of ['engineVersion', 'storageSpecVersion'] as const) {
    if (value[key] === undefined) continue;
    if (typeof value[key] === 'string' && (value[key] as string).trim()) target[key] = value[key] as string;
    else problems.push(`${where}.${key} must be a version string`);
  }
  if (value.modules !== undefined) {
    if (Array.isArray(value.modules) && value.modules.every((m) => typeof m === 'string'))
      target.modules = [...(value.modules as string[])].sort();
    else problems.push(`${where}.modules must be an array of module names`);
  }
  if (value.commands !== undefined)
    target.commands = parseCommands(`${where}.commands`, value.commands, problems);
  if (value.restoreInto !== undefined) {
    if (!isObject(value.restoreInto))
      problems.push(`${where}.restoreInto must be an object of name to folder`);
    else
      for (const [name, dir] of Object.entries(value.restoreInto)) {
        const resolved = parsePath(`${where}.restoreInto.${name}`, dir, base, problems);
        if (resolved && target.root && isWithin(resolved, target.root)) {
          problems.push(`${where}.restoreInto.${name} must be outside the root`);
        } else if (resolved) target.restoreInto[name] = resolved;
      }
  }
}

/**
 * The built-in target `lifeboat-self`: Lifeboat's own stores (the audit ledger and the catalog, each
 * snapshotted like any database) backed up into `repository` and copied to `offsite`. Temporal's own
 * database and the targets' repositories are not part of it. `lifeboat self restore` brings it back
 * on a new host.
 */
export function parseSelfBackup(
  raw: unknown,
  stores: { auditLedger: string; catalog: string },
  base: string,
  problems: string[],
): TargetConfig | undefined {
  const where = 'selfBackup';
  if (!isObject(raw)) {
    problems.push(
      `${where} must be an object like {"repository": "/srv/lifeboat-self", "offsite": "/mnt/offsite/lifeboat-self", "encryption": {...}}`,
    );
    return undefined;
  }
  unknownKeys(where, raw, ['repository', 'offsite', 'encryption', 'retention'], problems);
  const target: TargetConfig = {
    name: SELF_TARGET,
    description: "Lifeboat's own stores: the audit ledger and the backup catalog",
    gates: {},
    commands: {},
    restoreInto: {},
    healthCheck: parseHealthThresholds(`${where}.healthCheck`, {}, problems),
    objectives: {},
    sources: { 'audit.sqlite': stores.auditLedger, 'catalog.sqlite': stores.catalog },
  };
  parseBackupSettings(where, raw, target, base, problems);
  if (!target.repository) problems.push(`${where}.repository must be the folder the backups are written to`);
  if (raw.encryption === undefined) problems.push(`${where}.encryption is required (as for any target)`);
  for (const folder of [target.repository, target.offsite]) {
    if (!folder) continue;
    for (const [name, file] of Object.entries(target.sources ?? {})) {
      if (isWithin(file, folder))
        problems.push(`${where}: ${folder} must not hold the store it backs up (${name}: ${file})`);
    }
  }
  return target;
}
