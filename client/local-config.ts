/**
 * The worker config as the CLI finds it on this machine, for commands that read local files (the
 * audit ledger, the backup catalog): --config, else $LIFEBOAT_CONFIG, else ./lifeboat.config.json,
 * else ./.data/lifeboat.config.json (what `npm run up` writes).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Catalog } from '../activities/lib/catalog';
import { loadConfig, type LifeboatConfig } from '../config';
import { readRegistry } from './agents';
import { CliError, badInput } from './runs';

export function localConfig(flags: { config?: string }, env = process.env): LifeboatConfig {
  const candidates = flags.config
    ? [flags.config]
    : env.LIFEBOAT_CONFIG
      ? [env.LIFEBOAT_CONFIG]
      : ['lifeboat.config.json', path.join('.data', 'lifeboat.config.json')];
  const file = candidates.find((c) => fs.existsSync(c));
  if (!file) throw badInput(`no config found (looked for ${candidates.join(', ')}); give --config <file>`);
  try {
    return loadConfig(file);
  } catch (err) {
    throw new CliError((err as Error).message, 2);
  }
}

/** The audit ledger: --ledger, else the config's `auditLedger`. */
export function ledgerPath(flags: { ledger?: string; config?: string }, env = process.env): string {
  if (flags.ledger) return path.resolve(flags.ledger);
  return localConfig(flags, env).auditLedger;
}

export const CONFIG_OPTION = {
  config: {
    type: 'string' as const,
    value: 'file',
    description: 'the worker config (default $LIFEBOAT_CONFIG)',
  },
};

export const LEDGER_OPTIONS = {
  ledger: { type: 'string' as const, value: 'file', description: 'the audit ledger database' },
  ...CONFIG_OPTION,
};

/**
 * The worker config's catalog, opened read-only, for the list commands; `target` (if given) must be
 * a target of the config or of an agent. `none` says what a missing catalog means, e.g. "no backup has been made yet?".
 */
export function openCatalog(
  flags: { config?: string; target?: string },
  none: string,
): { catalog: Catalog; target?: string } {
  const config = localConfig(flags);
  const target = flags.target;
  if (target !== undefined && !config.targets[target]) {
    const known = readRegistry(config).targets.map((t) => t.target);
    if (!known.includes(target))
      throw badInput(`unknown target '${target}'; the config and its agents have: ${known.join(', ')}`);
  }
  try {
    return { catalog: new Catalog(config.catalog, { readonly: true }), target };
  } catch (err) {
    throw new CliError(`${(err as Error).message} (${none})`, 1);
  }
}
