/**
 * `database`: the control plane's stores — the audit ledger, and the catalog of record with the
 * registry of agents — in PostgreSQL instead of SQLite files (activities/lib/stores). The URL names
 * host, port, user and database; the password comes from the environment variable `passwordEnv`,
 * never from the config text.
 */
import { z } from 'zod';
import { envVar, section } from './sections';

const EXAMPLE = 'postgres://lifeboat@db:5432/lifeboat';

function urlProblem(text: string): string | undefined {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return `must be a URL like ${EXAMPLE}`;
  }
  if (url.protocol !== 'postgres:' && url.protocol !== 'postgresql:')
    return `must be a postgres:// URL like ${EXAMPLE}`;
  if (url.password)
    return 'must not hold a password: put it in the environment variable that database.passwordEnv names';
  if (!url.hostname) return `must name a host, like ${EXAMPLE}`;
  if (!url.username) return `must name a user, like ${EXAMPLE}`;
  if (url.pathname.replace(/^\//, '') === '') return `must name a database, like ${EXAMPLE}`;
  return undefined;
}

export const database = section(
  `must be an object like {"url": "${EXAMPLE}", "passwordEnv": "LIFEBOAT_DB_PASSWORD"}`,
  {
    url: z.string({ error: `must be a postgres:// URL (string), like ${EXAMPLE}` }).check((ctx) => {
      const problem = urlProblem(ctx.value);
      if (problem) ctx.issues.push({ code: 'custom', message: problem, input: ctx.value });
    }),
    /** The variable that holds the password (none: the server trusts the connection, or a .pgpass). */
    passwordEnv: envVar('must name an environment variable that holds the password').optional(),
  },
);

export type DatabaseSettings = z.output<typeof database>;
