/** Finds the audit ledger for the CLI's `audit` commands: --ledger, else the config's `auditLedger`. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { loadConfig } from '../worker/config';
import { CliError, badInput } from './runs';

export function ledgerPath(flags: { ledger?: string; config?: string }, env = process.env): string {
  if (flags.ledger) return path.resolve(flags.ledger);
  const candidates = flags.config
    ? [flags.config]
    : env.LIFEBOAT_CONFIG
      ? [env.LIFEBOAT_CONFIG]
      : ['lifeboat.config.json', path.join('.data', 'lifeboat.config.json')];
  const file = candidates.find((c) => fs.existsSync(c));
  if (!file)
    throw badInput(
      `no config found (looked for ${candidates.join(', ')}); give --config <file> or --ledger <file>`,
    );
  try {
    return loadConfig(file).auditLedger;
  } catch (err) {
    throw new CliError((err as Error).message, 2);
  }
}

export const LEDGER_OPTIONS = {
  ledger: { type: 'string' as const, value: 'file', description: 'the audit ledger database' },
  config: {
    type: 'string' as const,
    value: 'file',
    description: 'worker config naming the ledger (default $LIFEBOAT_CONFIG)',
  },
};
