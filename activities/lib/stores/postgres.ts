/**
 * PostgreSQL for the control plane's stores: the connection pool (the password from the variable the
 * config names, never from the config text), errors in words (unreachable host and port; a refused
 * password naming the variable, never the value), and versioned migrations run at start under an
 * advisory lock, so that several control-plane workers starting at once apply each step once. A
 * database whose schema is newer than this Lifeboat knows is refused (SchemaTooNew).
 */
import { Pool, types, type PoolClient } from 'pg';
import type { DatabaseSettings } from '../../../config';
import { SchemaTooNew, StoreUnavailable } from './types';

export { StoreUnavailable };

/** Advisory lock keys (one 64-bit space per database): migrations, and the ledger's appends. */
export const LOCKS = { migrate: 0x4c6966650001, ledger: 0x4c6966650002, registry: 0x4c6966650003 } as const;

/** Where the store is, without any password: `postgres://user@host:port/db`. */
export function describeUrl(settings: DatabaseSettings): string {
  const url = new URL(settings.url);
  return `postgres://${url.username}@${url.hostname}:${url.port || '5432'}${url.pathname}`;
}

/** What went wrong connecting or talking to PostgreSQL, in words an operator can act on. */
export function pgProblem(settings: DatabaseSettings, err: unknown): string {
  const url = new URL(settings.url);
  const at = `${url.hostname}:${url.port || '5432'}`;
  const e = err as { code?: string; message?: string };
  switch (e.code) {
    case 'ECONNREFUSED':
    case 'ENOTFOUND':
    case 'EHOSTUNREACH':
    case 'ETIMEDOUT':
    case 'EAI_AGAIN':
      return `PostgreSQL at ${at} is unreachable (${e.code}): is it running, and is database.url right?`;
    case '28P01':
    case '28000':
      return `PostgreSQL at ${at} refused user '${url.username}' (${e.code === '28P01' ? 'wrong password' : 'not allowed'}): check the password in ${settings.passwordEnv ? `the variable ${settings.passwordEnv}` : 'database.passwordEnv (none is set)'}`;
    case '42501':
      return `PostgreSQL at ${at} refused user '${url.username}' a permission (${e.message}): make it the owner of database '${url.pathname.slice(1)}' (CREATE DATABASE … OWNER ${url.username}), or GRANT it CREATE on schema public`;
    case '3D000':
      return `PostgreSQL at ${at} has no database '${url.pathname.slice(1)}': create it (createdb) or fix database.url`;
    default:
      if (/timeout/i.test(e.message ?? '')) return `PostgreSQL at ${at} did not answer in time: ${e.message}`;
      return `PostgreSQL at ${at}: ${e.message ?? String(err)}`;
  }
}

/** Whether an error is the connection's (retry later) rather than the statement's. */
export function isConnectionError(err: unknown): boolean {
  const e = err as { code?: string; message?: string };
  if (e.code && /^(08|28|3D|57P|53)/.test(e.code)) return true;
  if (e.code && /^E[A-Z]+$/.test(e.code)) return true;
  return /Connection terminated|connection timeout|timeout exceeded when trying to connect/i.test(
    e.message ?? '',
  );
}

// Sizes and counts are BIGINT columns: numbers here (exact below 2^53 bytes), not strings.
types.setTypeParser(types.builtins.INT8, (v) => Number(v));

export function openPool(settings: DatabaseSettings): Pool {
  const password = settings.passwordEnv ? process.env[settings.passwordEnv] : undefined;
  const url = new URL(settings.url);
  // TLS as libpq's sslmode says: require (encrypted), verify-ca / verify-full (and the server's
  // certificate checked against the system's CAs, or NODE_EXTRA_CA_CERTS).
  const sslmode = url.searchParams.get('sslmode');
  const ssl =
    sslmode === 'require'
      ? { rejectUnauthorized: false }
      : sslmode === 'verify-ca' || sslmode === 'verify-full'
        ? { rejectUnauthorized: true }
        : undefined;
  const pool = new Pool({
    host: url.hostname,
    port: Number(url.port || 5432),
    user: decodeURIComponent(url.username),
    database: decodeURIComponent(url.pathname.slice(1)),
    ...(password !== undefined ? { password } : {}),
    ...(ssl ? { ssl } : {}),
    max: 4,
    connectionTimeoutMillis: 5000,
    // A statement that hangs (a lock held by a dead client) fails instead of holding the activity.
    statement_timeout: 60_000,
  });
  // An idle connection the server drops: the next query opens another.
  pool.on('error', () => undefined);
  return pool;
}

/** Runs `fn` in a transaction on one connection; errors come back as StoreUnavailable when they are the connection's. */
export async function inTransaction<T>(
  pool: Pool,
  settings: DatabaseSettings,
  fn: (client: PoolClient) => Promise<T>,
): Promise<T> {
  let client: PoolClient;
  try {
    client = await pool.connect();
  } catch (err) {
    throw new StoreUnavailable(pgProblem(settings, err));
  }
  try {
    await client.query('BEGIN');
    const result = await fn(client);
    await client.query('COMMIT');
    return result;
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    if (isConnectionError(err)) throw new StoreUnavailable(pgProblem(settings, err));
    throw err;
  } finally {
    client.release();
  }
}

/** Runs a query, mapping connection failures to StoreUnavailable. */
export async function query<R extends object>(
  pool: Pool,
  settings: DatabaseSettings,
  text: string,
  values: unknown[] = [],
): Promise<R[]> {
  try {
    return (await pool.query<R>(text, values)).rows;
  } catch (err) {
    if (
      (err as { code?: string }).code &&
      /^[0-9A-Z]{5}$/.test((err as { code: string }).code) &&
      !/^(08|28|3D|57P)/.test((err as { code: string }).code)
    )
      throw err;
    throw new StoreUnavailable(pgProblem(settings, err));
  }
}

/**
 * Brings `store`'s schema to the newest of `steps` (step i makes version i + 1), each step once,
 * under an advisory lock; a schema newer than `steps` is refused.
 */
export async function migrate(
  pool: Pool,
  settings: DatabaseSettings,
  store: string,
  what: string,
  steps: string[],
  options: { readonly?: boolean } = {},
): Promise<void> {
  if (options.readonly) {
    // The CLI reads: it neither creates nor upgrades a schema.
    const rows = await query<{ version: number }>(
      pool,
      settings,
      "SELECT version FROM lifeboat_schema WHERE store = $1 AND to_regclass('lifeboat_schema') IS NOT NULL",
      [store],
    ).catch((err: { code?: string }) => {
      if (err.code === '42P01') return [];
      throw err;
    });
    const found = rows[0]?.version ?? 0;
    if (found > steps.length) throw new SchemaTooNew(what, describeUrl(settings), found, steps.length);
    await refuseUnfinishedCopy(pool, settings);
    if (found < steps.length)
      throw new StoreUnavailable(
        `the ${what} at ${describeUrl(settings)} has schema version ${found}, older than this Lifeboat's (${steps.length}): start a control-plane worker of this version first (it upgrades the schema)`,
      );
    return;
  }
  await inTransaction(pool, settings, async (client) => {
    await client.query('SELECT pg_advisory_xact_lock($1)', [LOCKS.migrate]);
    await refuseUnfinishedCopy(client, settings);
    await client.query(
      'CREATE TABLE IF NOT EXISTS lifeboat_schema (store TEXT PRIMARY KEY, version INTEGER NOT NULL, at TIMESTAMPTZ NOT NULL DEFAULT now())',
    );
    const found =
      (
        await client.query<{ version: number }>('SELECT version FROM lifeboat_schema WHERE store = $1', [
          store,
        ])
      ).rows[0]?.version ?? 0;
    if (found > steps.length) throw new SchemaTooNew(what, describeUrl(settings), found, steps.length);
    for (let v = found; v < steps.length; v += 1) await client.query(steps[v]);
    if (found !== steps.length)
      await client.query(
        'INSERT INTO lifeboat_schema (store, version) VALUES ($1, $2) ON CONFLICT (store) DO UPDATE SET version = $2, at = now()',
        [store, steps.length],
      );
  });
}

/** What both PostgreSQL stores share: the pool, where it is (no password), and a query in words. */
export abstract class PgStore {
  readonly where: string;

  protected constructor(
    protected readonly pool: Pool,
    protected readonly settings: DatabaseSettings,
  ) {
    this.where = describeUrl(settings);
  }

  protected q<R extends object>(text: string, values: unknown[] = []): Promise<R[]> {
    return query<R>(this.pool, this.settings, text, values);
  }
}

/** The marker `lifeboat store migrate` keeps while it copies (lifeboat_schema, store `copy-unfinished`). */
const COPY_MARKER = 'copy-unfinished';

/**
 * A database into which `store migrate` did not finish copying holds a shorter history that would
 * verify: every worker (and the CLI) refuses it, saying what to do.
 */
async function refuseUnfinishedCopy(db: Pool | PoolClient, settings: DatabaseSettings): Promise<void> {
  // Asked without an error when the table is not there yet (an error would abort a transaction).
  const table = await db.query<{ present: boolean }>(
    "SELECT to_regclass('lifeboat_schema') IS NOT NULL AS present",
  );
  if (!table.rows[0]?.present) return;
  const found = await db.query<{ at: string }>(
    'SELECT at::text AS at FROM lifeboat_schema WHERE store = $1',
    [COPY_MARKER],
  );
  if (found.rows[0])
    throw new StoreUnavailable(
      `lifeboat store migrate into ${describeUrl(settings)} did not finish (started ${found.rows[0].at}): it holds part of a history. Drop its tables (or the database) and run store migrate again; the SQLite stores it copies from are unchanged`,
    );
}

/** Marks the copy begun (`store migrate`, before its first row) or finished (after its last). */
export async function markCopy(pool: Pool, settings: DatabaseSettings, unfinished: boolean): Promise<void> {
  await query(
    pool,
    settings,
    unfinished
      ? 'INSERT INTO lifeboat_schema (store, version) VALUES ($1, 0) ON CONFLICT (store) DO NOTHING'
      : 'DELETE FROM lifeboat_schema WHERE store = $1',
    [COPY_MARKER],
  );
}
