/**
 * Opens the control plane's stores from its config: SQLite files (`auditLedger`, `catalog`), or
 * PostgreSQL when the config names `database` (activities/lib/stores/postgres.ts). A store that
 * cannot be reached, refuses the password or holds a newer schema fails here, at start, with a
 * message naming what to fix.
 */
import type { Pool } from 'pg';
import type { DatabaseSettings, LifeboatConfig } from '../../../config';
import { SqliteLedgerStore, SqliteRecordStore } from './sqlite';
import { SchemaTooNew, StoreUnavailable, type LedgerStore, type RecordStore } from './types';

export type { LedgerStore, RecordStore } from './types';
export { SchemaTooNew, StoreUnavailable } from './types';

export interface Stores {
  engine: 'sqlite' | 'postgres';
  ledger: LedgerStore;
  records: RecordStore;
  /** PostgreSQL: marks a `store migrate` copy begun (true) or finished (false); see postgres.ts. */
  markCopy?: (unfinished: boolean) => Promise<void>;
  close(): Promise<void>;
}

type Options = { readonly?: boolean };

// Why require: the driver is loaded only when PostgreSQL is configured (the embedded default and
// most CLI commands never load it); a dynamic import() would go through the ESM loader, which the
// TypeScript hook of the CLI does not serve.
/* eslint-disable @typescript-eslint/no-require-imports */
const postgres = (): typeof import('./postgres') => require('./postgres');
const pgLedgerModule = (): typeof import('./pgLedger') => require('./pgLedger');
const pgRecordsModule = (): typeof import('./pgRecords') => require('./pgRecords');
/* eslint-enable @typescript-eslint/no-require-imports */

/** A pool that has answered once. Loaded only when used: the embedded default never loads the driver. */
async function connect(settings: DatabaseSettings): Promise<Pool> {
  const { StoreUnavailable, openPool, pgProblem } = postgres();
  const pool = openPool(settings);
  try {
    await pool.query('SELECT 1');
  } catch (err) {
    await pool.end().catch(() => undefined);
    throw new StoreUnavailable(pgProblem(settings, err));
  }
  return pool;
}

async function pgLedger(pool: Pool, settings: DatabaseSettings, options: Options) {
  const { PgLedgerStore } = pgLedgerModule();
  return PgLedgerStore.open(pool, settings, options);
}

async function pgRecords(pool: Pool, settings: DatabaseSettings, options: Options) {
  const { PgRecordStore } = pgRecordsModule();
  return PgRecordStore.open(pool, settings, options);
}

/**
 * Runs `open` on the pool, ending the pool when it fails; whatever PostgreSQL answered (a refused
 * permission, say) comes back in words, never as a bare driver error.
 */
async function onPool<T>(pool: Pool, settings: DatabaseSettings, open: () => Promise<T>): Promise<T> {
  try {
    return await open();
  } catch (err) {
    await pool.end().catch(() => undefined);
    if (err instanceof SchemaTooNew || err instanceof StoreUnavailable) throw err;
    throw new StoreUnavailable(postgres().pgProblem(settings, err));
  }
}

/** Opens both stores (the control plane); `readonly` never creates a file or a schema, nor writes one. */
export async function openStores(config: LifeboatConfig, options: Options = {}): Promise<Stores> {
  const settings = config.database;
  if (!settings) {
    const ledger = new SqliteLedgerStore(config.auditLedger, options);
    let records: SqliteRecordStore;
    try {
      records = new SqliteRecordStore(config.catalog, options);
    } catch (err) {
      await ledger.close();
      throw err;
    }
    const close = async () => {
      await ledger.close();
      await records.close();
    };
    return { engine: 'sqlite', ledger, records, close };
  }
  return openDatabaseStores(settings, options);
}

/** Both stores in the PostgreSQL database `settings` names (`lifeboat store migrate`'s target). */
export async function openDatabaseStores(settings: DatabaseSettings, options: Options = {}): Promise<Stores> {
  const pool = await connect(settings);
  return onPool(pool, settings, async () => ({
    engine: 'postgres' as const,
    ledger: await pgLedger(pool, settings, options),
    records: await pgRecords(pool, settings, options),
    markCopy: (unfinished: boolean) => postgres().markCopy(pool, settings, unfinished),
    close: () => pool.end(),
  }));
}

/** The ledger alone (`lifeboat audit …`). */
export async function openLedgerStore(
  config: LifeboatConfig,
  options: Options = {},
): Promise<{ ledger: LedgerStore; close(): Promise<void> }> {
  const settings = config.database;
  if (!settings) {
    const ledger = new SqliteLedgerStore(config.auditLedger, options);
    return { ledger, close: () => ledger.close() };
  }
  const pool = await connect(settings);
  return onPool(pool, settings, async () => ({
    ledger: await pgLedger(pool, settings, options),
    close: () => pool.end(),
  }));
}

/** The records alone (`lifeboat backups list`, `agents list`, …). */
export async function openRecordStore(
  config: LifeboatConfig,
  options: Options = {},
): Promise<{ records: RecordStore; close(): Promise<void> }> {
  const settings = config.database;
  if (!settings) {
    const records = new SqliteRecordStore(config.catalog, options);
    return { records, close: () => records.close() };
  }
  const pool = await connect(settings);
  return onPool(pool, settings, async () => ({
    records: await pgRecords(pool, settings, options),
    close: () => pool.end(),
  }));
}
