/**
 * The audit ledger in PostgreSQL: the same rows and hash chain as the SQLite ledger (activities/lib/
 * ledger.ts), one chain whatever the number of writers. Each append takes a transaction-level
 * advisory lock, so control-plane workers on several machines append one after another; an event
 * whose key is present is skipped (activity retries write once). Triggers refuse UPDATE, DELETE and
 * TRUNCATE; a superuser who goes around them is caught by `lifeboat audit verify`.
 */
import type { Pool } from 'pg';
import type { AuditEventInput } from '../../../common/types';
import type { DatabaseSettings } from '../../../config';
import { ChainCheck, GENESIS_HASH, rowHash, type AuditRow } from '../ledger';
import { LOCKS, PgStore, inTransaction, migrate } from './postgres';
import type { LedgerStore } from './types';

/** Version 1 (index i is the step to version i + 1). */
export const LEDGER_MIGRATIONS = [
  `CREATE TABLE audit_events (
     seq INTEGER PRIMARY KEY,
     event_key TEXT NOT NULL UNIQUE,
     at TEXT NOT NULL,
     workflow_id TEXT NOT NULL,
     run_id TEXT NOT NULL,
     runbook TEXT NOT NULL,
     target TEXT NOT NULL,
     step TEXT,
     event TEXT NOT NULL,
     actor TEXT NOT NULL,
     details TEXT NOT NULL,
     prev_hash TEXT NOT NULL,
     hash TEXT NOT NULL
   );
   CREATE INDEX audit_events_workflow ON audit_events (workflow_id, seq);
   CREATE INDEX audit_events_event ON audit_events (event, seq);
   CREATE FUNCTION lifeboat_append_only() RETURNS trigger LANGUAGE plpgsql AS
     $$ BEGIN RAISE EXCEPTION 'the audit ledger is append-only'; END $$;
   CREATE TRIGGER audit_events_no_change BEFORE UPDATE OR DELETE ON audit_events
     FOR EACH ROW EXECUTE FUNCTION lifeboat_append_only();
   CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events
     FOR EACH STATEMENT EXECUTE FUNCTION lifeboat_append_only();
   CREATE TABLE decision_nonces (nonce TEXT PRIMARY KEY, holder TEXT NOT NULL, at TEXT NOT NULL);
   CREATE TABLE signer_keys (fingerprint TEXT PRIMARY KEY, identity TEXT NOT NULL, armored TEXT NOT NULL, first_seen TEXT NOT NULL);`,
];

const COLUMNS = `seq, event_key AS "eventKey", at, workflow_id AS "workflowId", run_id AS "runId", runbook, target,
  step, event, actor, details, prev_hash AS "prevHash", hash`;
const INSERT = `INSERT INTO audit_events (seq, event_key, at, workflow_id, run_id, runbook, target, step, event, actor, details, prev_hash, hash)
  VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)`;
const valuesOf = (r: AuditRow) => [
  r.seq,
  r.eventKey,
  r.at,
  r.workflowId,
  r.runId,
  r.runbook,
  r.target,
  r.step,
  r.event,
  r.actor,
  r.details,
  r.prevHash,
  r.hash,
];

export class PgLedgerStore extends PgStore implements LedgerStore {
  /** Connects and brings the schema up to date (refusing a newer one). */
  static async open(
    pool: Pool,
    settings: DatabaseSettings,
    options: { readonly?: boolean } = {},
  ): Promise<PgLedgerStore> {
    await migrate(pool, settings, 'ledger', 'audit ledger', LEDGER_MIGRATIONS, options);
    return new PgLedgerStore(pool, settings);
  }

  async append(events: AuditEventInput[]) {
    return inTransaction(this.pool, this.settings, async (c) => {
      await c.query('SELECT pg_advisory_xact_lock($1)', [LOCKS.ledger]);
      let tail = (
        await c.query<{ seq: number; hash: string }>(
          'SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1',
        )
      ).rows[0];
      let appended = 0;
      for (const e of events) {
        if ((await c.query('SELECT 1 FROM audit_events WHERE event_key = $1', [e.eventKey])).rowCount)
          continue;
        const row: Omit<AuditRow, 'hash'> = {
          seq: (tail?.seq ?? 0) + 1,
          eventKey: e.eventKey,
          at: e.at,
          workflowId: e.workflowId,
          runId: e.runId,
          runbook: e.runbook,
          target: e.target,
          step: e.step ?? null,
          event: e.event,
          actor: e.actor,
          details: JSON.stringify(e.details ?? {}),
          prevHash: tail?.hash ?? GENESIS_HASH,
        };
        const full = { ...row, hash: rowHash(row) };
        await c.query(INSERT, valuesOf(full));
        tail = { seq: full.seq, hash: full.hash };
        appended += 1;
      }
      return { appended, present: events.length - appended };
    });
  }

  async has(eventKey: string) {
    return (await this.q('SELECT 1 FROM audit_events WHERE event_key = $1', [eventKey])).length > 0;
  }
  async head() {
    return (await this.q<AuditRow>(`SELECT ${COLUMNS} FROM audit_events ORDER BY seq DESC LIMIT 1`))[0];
  }
  async count() {
    return (await this.q<{ n: number }>('SELECT COUNT(*)::int AS n FROM audit_events'))[0].n;
  }
  async rowsOf(event: string) {
    return this.q<AuditRow>(`SELECT ${COLUMNS} FROM audit_events WHERE event = $1 ORDER BY seq`, [event]);
  }
  async forWorkflow(workflowId: string) {
    return this.q<AuditRow>(`SELECT ${COLUMNS} FROM audit_events WHERE workflow_id = $1 ORDER BY seq`, [
      workflowId,
    ]);
  }
  async page(afterSeq: number, limit: number) {
    return this.q<AuditRow>(`SELECT ${COLUMNS} FROM audit_events WHERE seq > $1 ORDER BY seq LIMIT $2`, [
      afterSeq,
      limit,
    ]);
  }
  async importRows(rows: AuditRow[]) {
    await inTransaction(this.pool, this.settings, async (c) => {
      await c.query('SELECT pg_advisory_xact_lock($1)', [LOCKS.ledger]);
      for (const r of rows) await c.query(INSERT, valuesOf(r));
    });
  }
  async claimNonce(nonce: string, holder: string, at: string) {
    await this.q(
      'INSERT INTO decision_nonces (nonce, holder, at) VALUES ($1, $2, $3) ON CONFLICT (nonce) DO NOTHING',
      [nonce, holder, at],
    );
    const row = (
      await this.q<{ holder: string }>('SELECT holder FROM decision_nonces WHERE nonce = $1', [nonce])
    )[0];
    return row?.holder === holder;
  }
  async keepSignerKey(fingerprint: string, identity: string, armored: string, at: string) {
    await this.q(
      'INSERT INTO signer_keys (fingerprint, identity, armored, first_seen) VALUES ($1, $2, $3, $4) ON CONFLICT (fingerprint) DO NOTHING',
      [fingerprint, identity, armored, at],
    );
  }
  async signerKey(fingerprint: string) {
    return (
      await this.q<{ identity: string; armored: string }>(
        'SELECT identity, armored FROM signer_keys WHERE fingerprint = $1',
        [fingerprint],
      )
    )[0];
  }
  async signedRows() {
    return this.q<AuditRow>(
      `SELECT ${COLUMNS} FROM audit_events WHERE details LIKE '%"signature":%' ORDER BY seq`,
    );
  }
  async keptKeysAndNonces() {
    return {
      keys: await this.q<{ fingerprint: string; identity: string; armored: string; firstSeen: string }>(
        'SELECT fingerprint, identity, armored, first_seen AS "firstSeen" FROM signer_keys',
      ),
      nonces: await this.q<{ nonce: string; holder: string; at: string }>(
        'SELECT nonce, holder, at FROM decision_nonces',
      ),
    };
  }
  /** The chain recomputed page by page (memory does not grow with the ledger). */
  async verify() {
    const chain = new ChainCheck();
    for (let after = 0; ;) {
      const rows = await this.page(after, 1000);
      if (rows.length === 0) return chain.result();
      for (const row of rows) {
        const broken = chain.next(row);
        if (broken) return broken;
      }
      after = rows[rows.length - 1].seq;
    }
  }
  async close() {
    // The pool is the stores' (stores/index.ts closes it).
  }
}
