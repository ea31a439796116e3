/**
 * The shape of one CLI command (one per file in client/commands/) and the flags most share.
 *
 * Loading the CLI loads every command file (for the help), so a command file imports only light
 * modules at its top: what reads local stores (the audit ledger, the catalog, the agents' registry,
 * and so the native SQLite module), parses the worker config, or opens archives and keys, it takes
 * from lazy.ts when it runs. `lifeboat status` and `lifeboat --help` never load it
 * (test/cli-lazy.test.ts).
 */
import type { Client } from '@temporalio/client';
import type { ParseArgsConfig } from 'node:util';
import { badInput } from './runs';

export type OptionSpec = NonNullable<ParseArgsConfig['options']>[string] & {
  description: string;
  value?: string;
};

export interface CommandContext {
  values: Record<string, string | boolean | undefined>;
  positionals: string[];
  out: (line: string) => void;
  err: (line: string) => void;
  /** Connects to Temporal (flags over the environment over the Temporal profile: config/temporalProfile.ts). */
  connect: () => Promise<Client>;
  taskQueue: string;
}

export interface Command {
  name: string;
  summary: string;
  /** e.g. `<workflowId> --as <name>` */
  usage: string;
  examples: string[];
  options: Record<string, OptionSpec>;
  /** Names of the positional arguments; a name ending in `?` is optional. */
  positionals: string[];
  /** Whether the command talks to the Temporal server (and so takes --address / --namespace / --profile). */
  server: boolean;
  run: (ctx: CommandContext) => Promise<number>;
}

export const SERVER_OPTIONS: Record<string, OptionSpec> = {
  address: {
    type: 'string',
    value: 'host:port',
    description: "Temporal server (default $TEMPORAL_ADDRESS, the profile's, or localhost:7233)",
  },
  namespace: {
    type: 'string',
    value: 'name',
    description: "Temporal namespace (default $TEMPORAL_NAMESPACE, the profile's, or default)",
  },
  profile: {
    type: 'string',
    value: 'name',
    description:
      'temporal.toml profile with the address, namespace, TLS and API key (default $TEMPORAL_PROFILE or default)',
  },
};

export const JSON_OPTION: Record<string, OptionSpec> = {
  json: { type: 'boolean', description: 'print JSON instead of text' },
};

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

/** The key flags of the break-glass commands (`archive list`, `archive extract`, `self restore`). */
export const KEY_OPTIONS: Record<string, OptionSpec> = {
  key: {
    type: 'string',
    value: 'file',
    description: 'the armored OpenPGP private key the archive is encrypted to',
  },
  'key-passphrase-env': {
    type: 'string',
    value: 'VARIABLE',
    description: "the environment variable holding that key's passphrase, if it has one",
  },
  'passphrase-env': {
    type: 'string',
    value: 'VARIABLE',
    description: 'for a passphrase-mode archive: the environment variable holding the passphrase',
  },
  'trusted-key': {
    type: 'string',
    multiple: true,
    value: 'file',
    description: "an armored public signing key to check the sidecar's signature against (repeatable)",
  },
};

export const ACTOR_OPTION: Record<string, OptionSpec> = {
  as: {
    type: 'string',
    value: 'name',
    description: 'who decides (recorded in the status and the audit ledger)',
  },
};

/** A required string flag, or a usage error naming it. */
export function requireFlag(ctx: CommandContext, name: string, what: string): string {
  const value = ctx.values[name];
  if (typeof value !== 'string' || value.trim() === '') {
    throw badInput(`--${name} is required: ${what}`);
  }
  return value.trim();
}
