/**
 * The control plane's stores, one interface each with two engines (SQLite files, the embedded
 * default; PostgreSQL, when the config names `database`): the audit ledger, and the records — the
 * catalog of record (every backup and drill of the fleet) with the registry of agents and targets.
 * Written only by control-plane activities (and `lifeboat store migrate`, into an empty store).
 */
import type { Announcement } from '../../../common/agents';
import type { DrillRecord } from '../../../common/drill';
import type { AuditEventInput } from '../../../common/types';
import type { CatalogEntry } from '../catalog';
import type { AuditRow, VerifyResult } from '../ledger';
import type { AgentRow, DrillTargetRow, TargetRow } from '../registry';

export interface ForgottenAgent {
  name: string;
  key: string;
  at: string;
  actor: string;
}

export interface LedgerStore {
  /** Where it is, for messages: a file, or `postgres://user@host:port/db`. */
  readonly where: string;
  /** Appends in order, serialised with every other writer; an event whose key is present is skipped. */
  append(events: AuditEventInput[]): Promise<{ appended: number; present: number }>;
  has(eventKey: string): Promise<boolean>;
  head(): Promise<AuditRow | undefined>;
  count(): Promise<number>;
  rowsOf(event: string): Promise<AuditRow[]>;
  forWorkflow(workflowId: string): Promise<AuditRow[]>;
  /** Rows in order from `afterSeq` (exclusive), at most `limit` (what `store migrate` copies by). */
  page(afterSeq: number, limit: number): Promise<AuditRow[]>;
  /** Copies rows as they are (hashes unchanged): only `store migrate`, only into an empty ledger. */
  importRows(rows: AuditRow[]): Promise<void>;
  claimNonce(nonce: string, holder: string, at: string): Promise<boolean>;
  keepSignerKey(fingerprint: string, identity: string, armored: string, at: string): Promise<void>;
  signerKey(fingerprint: string): Promise<{ identity: string; armored: string } | undefined>;
  signedRows(): Promise<AuditRow[]>;
  /** The kept signer keys and claimed nonces, as they are (what `store migrate` copies with the rows). */
  keptKeysAndNonces(): Promise<{
    keys: { fingerprint: string; identity: string; armored: string; firstSeen: string }[];
    nonces: { nonce: string; holder: string; at: string }[];
  }>;
  verify(): Promise<VerifyResult>;
  close(): Promise<void>;
}

export interface RecordStore {
  readonly where: string;
  /** Records a backup as its holder reported it (`agent` null: the control plane's own target). */
  putBackup(entry: CatalogEntry, agent: string | null): Promise<void>;
  getBackup(backupId: string): Promise<CatalogEntry | undefined>;
  /** Backups present (not removed), newest first; all targets when `target` is undefined. */
  listBackups(target?: string): Promise<CatalogEntry[]>;
  /** Every backup, removed ones too, oldest first (what `store migrate` copies). */
  allBackups(): Promise<CatalogEntry[]>;
  putDrill(record: DrillRecord): Promise<void>;
  listDrills(target?: string): Promise<DrillRecord[]>;

  announce(
    a: Announcement,
    key: string | null,
    reserved: Map<string, string>,
  ): Promise<{ conflicts: string[] }>;
  forget(agent: string, actor: string, at: string): Promise<{ forgotten: boolean; targets: string[] }>;
  agents(): Promise<AgentRow[]>;
  targets(): Promise<TargetRow[]>;
  target(name: string): Promise<(TargetRow & { agentRow?: AgentRow }) | undefined>;
  standsBy(agent: string, target: string): Promise<boolean>;
  recordDrillTarget(row: DrillTargetRow): Promise<void>;
  drillTarget(name: string): Promise<DrillTargetRow | undefined>;
  /** Agents forgotten with the key they had (never let back with it): what `store migrate` carries over. */
  forgottenAgents(): Promise<ForgottenAgent[]>;
  putForgotten(row: ForgottenAgent): Promise<void>;
  /** Whether it holds any row (`store migrate` copies only into an empty store). */
  isEmpty(): Promise<boolean>;
  close(): Promise<void>;
}

/** A store's schema is newer than this Lifeboat knows: it refuses to start. */
export class SchemaTooNew extends Error {
  constructor(what: string, where: string, found: number, known: number) {
    super(
      `the ${what} at ${where} has schema version ${found}, newer than this Lifeboat knows (${known}): upgrade Lifeboat on this host, or point it at the store of its own version`,
    );
    this.name = 'SchemaTooNew';
  }
}

/** A store that cannot be reached or refuses the connection (the message says what; never a password). */
export class StoreUnavailable extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StoreUnavailable';
  }
}
