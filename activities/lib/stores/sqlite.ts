/**
 * The SQLite engine of the control plane's stores (the embedded default): the ledger file, and the
 * catalog file that holds the catalog (the control plane's own targets' backups with their
 * manifests, and agents' reported rows) and the registry. Synchronous underneath (better-sqlite3);
 * the interface is the engines' common, asynchronous one.
 */
import type { Announcement } from '../../../common/agents';
import type { DrillRecord } from '../../../common/drill';
import type { AuditEventInput } from '../../../common/types';
import { Catalog, type CatalogEntry } from '../catalog';
import { AuditLedger, type AuditRow } from '../ledger';
import { Registry, type DrillTargetRow } from '../registry';
import type { ForgottenAgent, LedgerStore, RecordStore } from './types';

export class SqliteLedgerStore implements LedgerStore {
  readonly ledger: AuditLedger;

  constructor(file: string, options: { readonly?: boolean } = {}) {
    this.ledger = new AuditLedger(file, options);
  }

  get where(): string {
    return this.ledger.file;
  }
  async append(events: AuditEventInput[]) {
    return this.ledger.append(events);
  }
  async has(eventKey: string) {
    return this.ledger.has(eventKey);
  }
  async head() {
    return this.ledger.head();
  }
  async count() {
    return this.ledger.count();
  }
  async rowsOf(event: string) {
    return this.ledger.rowsOf(event);
  }
  async forWorkflow(workflowId: string) {
    return this.ledger.forWorkflow(workflowId);
  }
  async page(afterSeq: number, limit: number) {
    return this.ledger.page(afterSeq, limit);
  }
  async importRows(rows: AuditRow[]) {
    this.ledger.importRows(rows);
  }
  async claimNonce(nonce: string, holder: string, at: string) {
    return this.ledger.claimNonce(nonce, holder, at);
  }
  async keepSignerKey(fingerprint: string, identity: string, armored: string, at: string) {
    this.ledger.keepSignerKey(fingerprint, identity, armored, at);
  }
  async signerKey(fingerprint: string) {
    return this.ledger.signerKey(fingerprint);
  }
  async signedRows() {
    return this.ledger.signedRows();
  }
  async keptKeysAndNonces() {
    return this.ledger.keptKeysAndNonces();
  }
  async verify() {
    return this.ledger.verify();
  }
  async close() {
    this.ledger.close();
  }
}

export class SqliteRecordStore implements RecordStore {
  readonly catalog: Catalog;
  private registryOpened?: Registry;

  constructor(
    readonly file: string,
    private readonly options: { readonly?: boolean } = {},
  ) {
    this.catalog = new Catalog(file, options);
  }

  get where(): string {
    return this.file;
  }
  /** Opened at first use: a catalog from before agents, read-only, has no registry tables. */
  private get registry(): Registry {
    return (this.registryOpened ??= new Registry(this.file, this.options));
  }
  async putBackup(entry: CatalogEntry, agent: string | null) {
    this.catalog.mirror(entry, agent);
  }
  async getBackup(backupId: string) {
    return this.catalog.get(backupId);
  }
  async listBackups(target?: string) {
    return this.catalog.list(target);
  }
  async allBackups() {
    return this.catalog
      .backupIds()
      .map((id) => this.catalog.get(id))
      .filter((e): e is CatalogEntry => e !== undefined);
  }
  async putDrill(record: DrillRecord) {
    this.catalog.recordDrill(record);
  }
  async listDrills(target?: string) {
    return this.catalog.listDrills(target);
  }
  async announce(a: Announcement, key: string | null, reserved: Map<string, string>) {
    return this.registry.announce(a, key, reserved);
  }
  async forget(agent: string, actor: string, at: string) {
    return this.registry.forget(agent, actor, at);
  }
  async agents() {
    return this.registry.agents();
  }
  async targets() {
    return this.registry.targets();
  }
  async target(name: string) {
    return this.registry.target(name);
  }
  async standsBy(agent: string, target: string) {
    return this.registry.standsBy(agent, target);
  }
  async recordDrillTarget(row: DrillTargetRow) {
    this.registry.recordDrillTarget(row);
  }
  async drillTarget(name: string) {
    return this.registry.drillTarget(name);
  }
  async forgottenAgents() {
    return this.registry.forgottenAgents();
  }
  async putForgotten(row: ForgottenAgent) {
    this.registry.putForgotten(row);
  }
  async isEmpty() {
    return (
      this.catalog.backupIds().length === 0 &&
      this.catalog.listDrills().length === 0 &&
      this.registry.agents().length === 0
    );
  }
  async close() {
    this.catalog.close();
    this.registryOpened?.close();
  }
}
