/** The shape of one CLI command (one per file in client/commands/) and the flags most share. */
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
