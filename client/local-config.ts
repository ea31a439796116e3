/**
 * The worker config as the CLI finds it on this machine, for commands that read local files (the
 * audit ledger, the backup catalog): --config, else $LIFEBOAT_CONFIG, else ./lifeboat.config.json,
 * else ./.data/lifeboat.config.json (what `npm run up` writes).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  openLedgerStore,
  openRecordStore,
  type LedgerStore,
  type RecordStore,
} from '../activities/lib/stores';
import { SqliteLedgerStore } from '../activities/lib/stores/sqlite';
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

/**
 * The audit ledger, read-only: --ledger <file>, else the config's (in its `database`, or the
 * `auditLedger` file). A store that cannot be opened is exit 1 with what to fix.
 */
export async function openLedger(
  flags: { ledger?: string; config?: string },
  env = process.env,
): Promise<{ ledger: LedgerStore; close(): Promise<void> }> {
  try {
    if (flags.ledger) {
      const ledger = new SqliteLedgerStore(path.resolve(flags.ledger), { readonly: true });
      return { ledger, close: () => ledger.close() };
    }
    return await openLedgerStore(localConfig(flags, env), { readonly: true });
  } catch (err) {
    if (err instanceof CliError) throw err;
    throw new CliError((err as Error).message, 1);
  }
}

/**
 * The worker config's catalog of record (in its `database`, or the catalog file), opened read-only,
 * for the list commands; `target` (if given) must be a target of the config or of an agent. `none`
 * says what a missing catalog means, e.g. "no backup has been made yet?".
 */
export async function openRecords(
  flags: { config?: string; target?: string },
  none: string,
): Promise<{ records: RecordStore; target?: string; close(): Promise<void> }> {
  const config = localConfig(flags);
  const target = flags.target;
  if (target !== undefined && !config.targets[target]) {
    const known = (await readRegistry(config).catch(() => ({ targets: [] }))).targets.map((t) => t.target);
    if (!known.includes(target))
      throw badInput(`unknown target '${target}'; the config and its agents have: ${known.join(', ')}`);
  }
  try {
    return { ...(await openRecordStore(config, { readonly: true })), target };
  } catch (err) {
    throw new CliError(`${(err as Error).message}${config.database ? '' : ` (${none})`}`, 1);
  }
}
