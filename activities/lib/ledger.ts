/**
 * The audit ledger: an append-only, hash-chained SQLite table. Each row's `hash` is the SHA-256 of
 * the row's fields and the previous row's hash, so an edited, inserted or deleted row breaks the
 * chain from that row on. Appends are idempotent by `event_key` (activity retries write once).
 * Triggers refuse UPDATE and DELETE; `verify()` catches changes made around them.
 */
import type Database from 'better-sqlite3';
import { openDatabase } from './sqlite';
import { createHash } from 'node:crypto';
import type { AuditEventInput } from '../../common/types';

export const GENESIS_HASH = '0'.repeat(64);

export interface AuditRow {
  seq: number;
  eventKey: string;
  at: string;
  workflowId: string;
  runId: string;
  runbook: string;
  target: string;
  step: string | null;
  event: string;
  actor: string;
  details: string;
  prevHash: string;
  hash: string;
}

export type VerifyResult =
  { ok: true; rows: number } | { ok: false; rows: number; brokenSeq: number; problem: string };

const SCHEMA = `
CREATE TABLE IF NOT EXISTS audit_events (
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
CREATE INDEX IF NOT EXISTS audit_events_workflow ON audit_events (workflow_id, seq);
CREATE TRIGGER IF NOT EXISTS audit_events_no_update BEFORE UPDATE ON audit_events
  BEGIN SELECT RAISE(ABORT, 'the audit ledger is append-only'); END;
CREATE TRIGGER IF NOT EXISTS audit_events_no_delete BEFORE DELETE ON audit_events
  BEGIN SELECT RAISE(ABORT, 'the audit ledger is append-only'); END;
-- Signed decisions: each statement's nonce counts once; the public key of every signer is kept so
-- that \`audit verify\` re-checks signatures after a key left the config.
CREATE TABLE IF NOT EXISTS decision_nonces (nonce TEXT PRIMARY KEY, holder TEXT NOT NULL, at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS signer_keys (fingerprint TEXT PRIMARY KEY, identity TEXT NOT NULL, armored TEXT NOT NULL, first_seen TEXT NOT NULL);
`;

const COLUMNS =
  'seq, event_key AS eventKey, at, workflow_id AS workflowId, run_id AS runId, runbook, target, step, event, actor, details, prev_hash AS prevHash, hash';

export function rowHash(row: Omit<AuditRow, 'hash'>): string {
  const fields = [
    row.seq,
    row.eventKey,
    row.at,
    row.workflowId,
    row.runId,
    row.runbook,
    row.target,
    row.step,
    row.event,
    row.actor,
    row.details,
    row.prevHash,
  ];
  return createHash('sha256').update(JSON.stringify(fields)).digest('hex');
}

export class AuditLedger {
  private readonly db: Database.Database;

  /** Opens (creating if needed) the ledger; `readonly` opens an existing file without creating it. */
  constructor(
    readonly file: string,
    options: { readonly?: boolean } = {},
  ) {
    this.db = openDatabase(file, 'audit ledger', SCHEMA, options, { store: 'ledger', current: 1 });
  }

  /** Appends events in order; an event whose key is already present is not written again. */
  append(events: AuditEventInput[]): { appended: number; present: number } {
    const exists = this.db.prepare('SELECT 1 FROM audit_events WHERE event_key = ?');
    const last = this.db.prepare('SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1');
    const insert = this.db.prepare(
      `INSERT INTO audit_events (seq, event_key, at, workflow_id, run_id, runbook, target, step, event, actor, details, prev_hash, hash)
       VALUES (@seq, @eventKey, @at, @workflowId, @runId, @runbook, @target, @step, @event, @actor, @details, @prevHash, @hash)`,
    );
    const write = this.db.transaction((batch: AuditEventInput[]) => {
      let appended = 0;
      for (const e of batch) {
        if (exists.get(e.eventKey)) continue;
        const tail = last.get() as { seq: number; hash: string } | undefined;
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
        insert.run({ ...row, hash: rowHash(row) });
        appended += 1;
      }
      return { appended, present: batch.length - appended };
    });
    return write.immediate(events);
  }

  /** Whether an event with this key is in the ledger. */
  has(eventKey: string): boolean {
    return this.db.prepare('SELECT 1 FROM audit_events WHERE event_key = ?').get(eventKey) !== undefined;
  }

  /** The last row: what the next append links to. */
  head(): AuditRow | undefined {
    return this.db.prepare(`SELECT ${COLUMNS} FROM audit_events ORDER BY seq DESC LIMIT 1`).get() as
      AuditRow | undefined;
  }

  count(): number {
    return (this.db.prepare('SELECT COUNT(*) AS n FROM audit_events').get() as { n: number }).n;
  }

  /** The rows of one event, in order (e.g. `ledger.recovered`: where recovered history was continued). */
  rowsOf(event: string): AuditRow[] {
    return this.db
      .prepare(`SELECT ${COLUMNS} FROM audit_events WHERE event = ? ORDER BY seq`)
      .all(event) as AuditRow[];
  }

  forWorkflow(workflowId: string): AuditRow[] {
    return this.db
      .prepare(`SELECT ${COLUMNS} FROM audit_events WHERE workflow_id = ? ORDER BY seq`)
      .all(workflowId) as AuditRow[];
  }

  /**
   * Claims a signed statement's nonce for `holder` (the verifying activity): true when it is now or
   * already was that holder's (a retried activity), false when another use took it.
   */
  claimNonce(nonce: string, holder: string, at: string): boolean {
    const claim = this.db.transaction(() => {
      const row = this.db.prepare('SELECT holder FROM decision_nonces WHERE nonce = ?').get(nonce) as
        { holder: string } | undefined;
      if (row) return row.holder === holder;
      this.db
        .prepare('INSERT INTO decision_nonces (nonce, holder, at) VALUES (?, ?, ?)')
        .run(nonce, holder, at);
      return true;
    });
    return claim.immediate();
  }

  /** Keeps a signer's public key (armored) under its fingerprint; the first one kept stays. */
  keepSignerKey(fingerprint: string, identity: string, armored: string, at: string): void {
    this.db
      .prepare(
        'INSERT OR IGNORE INTO signer_keys (fingerprint, identity, armored, first_seen) VALUES (?, ?, ?, ?)',
      )
      .run(fingerprint, identity, armored, at);
  }

  /** A kept signer key by fingerprint (older ledgers have no such table: none). */
  signerKey(fingerprint: string): { identity: string; armored: string } | undefined {
    try {
      return this.db
        .prepare('SELECT identity, armored FROM signer_keys WHERE fingerprint = ?')
        .get(fingerprint) as { identity: string; armored: string } | undefined;
    } catch {
      return undefined;
    }
  }

  /** Every kept signer key and claimed nonce (what `store migrate` copies; none in older ledgers). */
  keptKeysAndNonces(): {
    keys: { fingerprint: string; identity: string; armored: string; firstSeen: string }[];
    nonces: { nonce: string; holder: string; at: string }[];
  } {
    const all = <T>(sql: string): T[] => {
      try {
        return this.db.prepare(sql).all() as T[];
      } catch {
        return [];
      }
    };
    return {
      keys: all('SELECT fingerprint, identity, armored, first_seen AS firstSeen FROM signer_keys'),
      nonces: all('SELECT nonce, holder, at FROM decision_nonces'),
    };
  }

  /** Rows whose details carry a signed decision, in order. */
  signedRows(): AuditRow[] {
    return this.db
      .prepare(`SELECT ${COLUMNS} FROM audit_events WHERE details LIKE '%"signature":%' ORDER BY seq`)
      .all() as AuditRow[];
  }

  /** Recomputes the chain and names the first row that does not fit. */
  verify(): VerifyResult {
    const rows = this.db
      .prepare(`SELECT ${COLUMNS} FROM audit_events ORDER BY seq`)
      .iterate() as IterableIterator<AuditRow>;
    const chain = new ChainCheck();
    for (const row of rows) {
      const broken = chain.next(row);
      if (broken) return broken;
    }
    return chain.result();
  }

  /** Rows after `afterSeq`, in order, at most `limit`. */
  page(afterSeq: number, limit: number): AuditRow[] {
    return this.db
      .prepare(`SELECT ${COLUMNS} FROM audit_events WHERE seq > ? ORDER BY seq LIMIT ?`)
      .all(afterSeq, limit) as AuditRow[];
  }

  /** Copies rows exactly (`lifeboat store migrate`, into an empty ledger only: the caller checks). */
  importRows(rows: AuditRow[]): void {
    const insert = this.db.prepare(
      `INSERT INTO audit_events (seq, event_key, at, workflow_id, run_id, runbook, target, step, event, actor, details, prev_hash, hash)
       VALUES (@seq, @eventKey, @at, @workflowId, @runId, @runbook, @target, @step, @event, @actor, @details, @prevHash, @hash)`,
    );
    this.db.transaction(() => rows.forEach((r) => insert.run(r))).immediate();
  }

  close(): void {
    this.db.close();
  }
}

/** The chain check row by row (both engines): the first row that does not fit, with why. */
export class ChainCheck {
  private prevHash = GENESIS_HASH;
  private expectedSeq = 1;
  private count = 0;

  /** Undefined while the chain holds; else the verdict naming the row. */
  next(row: AuditRow): VerifyResult | undefined {
    this.count += 1;
    const fail = (problem: string): VerifyResult => ({
      ok: false,
      rows: this.count,
      brokenSeq: row.seq,
      problem,
    });
    if (row.seq !== this.expectedSeq)
      return fail(`row ${this.expectedSeq} is missing (next row is ${row.seq})`);
    if (row.prevHash !== this.prevHash)
      return fail(`prev_hash does not match the hash of row ${row.seq - 1}`);
    const { hash, ...rest } = row;
    const computed = rowHash(rest);
    if (computed !== hash)
      return fail(
        `its content does not match its hash (stored ${hash.slice(0, 12)}…, computed ${computed.slice(0, 12)}…)`,
      );
    this.prevHash = hash;
    this.expectedSeq += 1;
    return undefined;
  }

  result(): VerifyResult {
    return { ok: true, rows: this.count };
  }
}
