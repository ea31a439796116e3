/**
 * The records in PostgreSQL: the catalog of record (every backup and drill of the fleet, as the
 * control plane and its agents reported them: no manifests, which stay with each host's catalog) and
 * the registry of agents, their targets, standbys and drill sandboxes. The same rules as the SQLite
 * engine (activities/lib/catalog.ts, registry.ts); the registry's writes are serialised by an
 * advisory lock, so two control-plane workers never let two agents claim one target.
 */
import type { Pool } from 'pg';
import type { Announcement } from '../../../common/agents';
import type { DrillRecord } from '../../../common/drill';
import type { DatabaseSettings } from '../../../config';
import type { CatalogEntry } from '../catalog';
import {
  agentOf,
  drillTargetOf,
  targetOf,
  type AgentColumns,
  type AgentRow,
  type DrillTargetColumns,
  type DrillTargetRow,
  type TargetColumns,
  type TargetRow,
} from '../registry';
import { LOCKS, PgStore, inTransaction, migrate } from './postgres';
import type { ForgottenAgent, RecordStore } from './types';

export const RECORD_MIGRATIONS = [
  `CREATE TABLE backups (
     backup_id TEXT PRIMARY KEY, target TEXT NOT NULL, kind TEXT NOT NULL, parent TEXT, created_at TEXT NOT NULL,
     archive TEXT NOT NULL, archive_size BIGINT NOT NULL, archive_sha256 TEXT NOT NULL, files BIGINT NOT NULL,
     bytes BIGINT NOT NULL, verified_at TEXT, verify_ok INTEGER, verify_report TEXT, offsite_copy TEXT,
     removed_at TEXT, origin TEXT, signed_by TEXT, manifest_sha256 TEXT, held_by TEXT);
   CREATE INDEX backups_target ON backups (target, created_at);
   CREATE TABLE drills (
     drill_id TEXT PRIMARY KEY, workflow_id TEXT NOT NULL, target TEXT NOT NULL, scenario TEXT NOT NULL,
     passed BOOLEAN NOT NULL, started_at TEXT NOT NULL, finished_at TEXT NOT NULL, rto_seconds DOUBLE PRECISION NOT NULL,
     rto_objective_minutes DOUBLE PRECISION, rpo_seconds DOUBLE PRECISION, rpo_objective_minutes DOUBLE PRECISION,
     proof_path TEXT NOT NULL);
   CREATE INDEX drills_target ON drills (target, finished_at);
   CREATE TABLE agents (
     name TEXT PRIMARY KEY, host TEXT NOT NULL, build TEXT NOT NULL, pid INTEGER NOT NULL, task_queue TEXT NOT NULL,
     timeout_seconds INTEGER NOT NULL, activities TEXT NOT NULL, announced_at TEXT NOT NULL, key TEXT);
   CREATE TABLE forgotten_agents (name TEXT NOT NULL, key TEXT NOT NULL, at TEXT NOT NULL, actor TEXT NOT NULL, PRIMARY KEY (name, key));
   CREATE TABLE agent_targets (target TEXT PRIMARY KEY, agent TEXT NOT NULL, sections TEXT NOT NULL, labels TEXT NOT NULL);
   CREATE TABLE agent_standby (target TEXT NOT NULL, agent TEXT NOT NULL, PRIMARY KEY (target, agent));
   CREATE TABLE drill_targets (
     name TEXT PRIMARY KEY, base TEXT NOT NULL, agent TEXT NOT NULL, approvals TEXT NOT NULL, gates TEXT NOT NULL,
     sections TEXT NOT NULL, at TEXT NOT NULL);`,
];

const BACKUP_COLUMNS = `backup_id AS "backupId", target, kind, parent, created_at AS "createdAt", archive,
  archive_size AS "archiveSize", archive_sha256 AS "archiveSha256", files, bytes, verified_at AS "verifiedAt",
  verify_ok AS "verifyOk", verify_report AS "verifyReport", offsite_copy AS "offsiteCopy", removed_at AS "removedAt",
  origin, signed_by AS "signedBy", manifest_sha256 AS "manifestSha256", held_by AS "heldBy"`;

interface DrillRow {
  drill_id: string;
  workflow_id: string;
  target: string;
  scenario: DrillRecord['scenario'];
  passed: boolean;
  started_at: string;
  finished_at: string;
  rto_seconds: number;
  rto_objective_minutes: number | null;
  rpo_seconds: number | null;
  rpo_objective_minutes: number | null;
  proof_path: string;
}

const drillOf = (r: DrillRow): DrillRecord => ({
  drillId: r.drill_id,
  workflowId: r.workflow_id,
  target: r.target,
  scenario: r.scenario,
  passed: r.passed,
  startedAt: r.started_at,
  finishedAt: r.finished_at,
  rtoSeconds: r.rto_seconds,
  ...(r.rto_objective_minutes !== null ? { rtoObjectiveMinutes: r.rto_objective_minutes } : {}),
  ...(r.rpo_seconds !== null ? { rpoSeconds: r.rpo_seconds } : {}),
  ...(r.rpo_objective_minutes !== null ? { rpoObjectiveMinutes: r.rpo_objective_minutes } : {}),
  proofPath: r.proof_path,
});

export class PgRecordStore extends PgStore implements RecordStore {
  static async open(
    pool: Pool,
    settings: DatabaseSettings,
    options: { readonly?: boolean } = {},
  ): Promise<PgRecordStore> {
    await migrate(pool, settings, 'records', 'catalog and registry', RECORD_MIGRATIONS, options);
    return new PgRecordStore(pool, settings);
  }

  async putBackup(e: CatalogEntry, agent: string | null) {
    await this.q(
      `INSERT INTO backups (backup_id, target, kind, parent, created_at, archive, archive_size, archive_sha256, files, bytes,
         verified_at, verify_ok, verify_report, offsite_copy, removed_at, origin, signed_by, manifest_sha256, held_by)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19)
       ON CONFLICT (backup_id) DO UPDATE SET target = $2, kind = $3, parent = $4, created_at = $5, archive = $6,
         archive_size = $7, archive_sha256 = $8, files = $9, bytes = $10, verified_at = $11, verify_ok = $12,
         verify_report = $13, offsite_copy = $14, removed_at = $15, origin = $16, signed_by = $17,
         manifest_sha256 = $18, held_by = $19`,
      [
        e.backupId,
        e.target,
        e.kind,
        e.parent,
        e.createdAt,
        e.archive,
        e.archiveSize,
        e.archiveSha256,
        e.files,
        e.bytes,
        e.verifiedAt,
        e.verifyOk,
        e.verifyReport,
        e.offsiteCopy,
        e.removedAt,
        e.origin,
        e.signedBy,
        e.manifestSha256,
        agent,
      ],
    );
  }
  async getBackup(backupId: string) {
    return (
      await this.q<CatalogEntry>(`SELECT ${BACKUP_COLUMNS} FROM backups WHERE backup_id = $1`, [backupId])
    )[0];
  }
  async listBackups(target?: string) {
    return target === undefined
      ? this.q<CatalogEntry>(
          `SELECT ${BACKUP_COLUMNS} FROM backups WHERE removed_at IS NULL ORDER BY created_at DESC, backup_id DESC`,
        )
      : this.q<CatalogEntry>(
          `SELECT ${BACKUP_COLUMNS} FROM backups WHERE removed_at IS NULL AND target = $1 ORDER BY created_at DESC, backup_id DESC`,
          [target],
        );
  }
  async allBackups() {
    return this.q<CatalogEntry>(`SELECT ${BACKUP_COLUMNS} FROM backups ORDER BY created_at, backup_id`);
  }
  async putDrill(d: DrillRecord) {
    await this.q(
      `INSERT INTO drills (drill_id, workflow_id, target, scenario, passed, started_at, finished_at, rto_seconds,
         rto_objective_minutes, rpo_seconds, rpo_objective_minutes, proof_path)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
       ON CONFLICT (drill_id) DO UPDATE SET workflow_id = $2, target = $3, scenario = $4, passed = $5, started_at = $6,
         finished_at = $7, rto_seconds = $8, rto_objective_minutes = $9, rpo_seconds = $10, rpo_objective_minutes = $11,
         proof_path = $12`,
      [
        d.drillId,
        d.workflowId,
        d.target,
        d.scenario,
        d.passed,
        d.startedAt,
        d.finishedAt,
        d.rtoSeconds,
        d.rtoObjectiveMinutes ?? null,
        d.rpoSeconds ?? null,
        d.rpoObjectiveMinutes ?? null,
        d.proofPath,
      ],
    );
  }
  async listDrills(target?: string) {
    const rows =
      target === undefined
        ? await this.q<DrillRow>('SELECT * FROM drills ORDER BY finished_at DESC, drill_id DESC')
        : await this.q<DrillRow>(
            'SELECT * FROM drills WHERE target = $1 ORDER BY finished_at DESC, drill_id DESC',
            [target],
          );
    return rows.map(drillOf);
  }

  async announce(a: Announcement, key: string | null, reserved: Map<string, string>) {
    return inTransaction(this.pool, this.settings, async (c) => {
      await c.query('SELECT pg_advisory_xact_lock($1)', [LOCKS.registry]);
      const gone = (
        await c.query<{ at: string; actor: string }>(
          'SELECT at, actor FROM forgotten_agents WHERE name = $1 AND key = $2',
          [a.agent, key ?? ''],
        )
      ).rows[0];
      if (gone)
        return {
          conflicts: [
            `agent '${a.agent}' was forgotten at ${gone.at} by ${gone.actor}, and this is the key it had: to let it back, give it a new key (agents.${a.agent}.publicKey)`,
          ],
        };
      const conflicts: string[] = [];
      for (const t of a.targets) {
        const own = reserved.get(t.name);
        if (own) {
          conflicts.push(`target '${t.name}' is held by ${own}; agent '${a.agent}' claims it too`);
          continue;
        }
        const row = (
          await c.query<{ agent: string }>('SELECT agent FROM agent_targets WHERE target = $1', [t.name])
        ).rows[0];
        if (row && row.agent !== a.agent)
          conflicts.push(
            `target '${t.name}' is held by agent '${row.agent}'; agent '${a.agent}' claims it too (if '${row.agent}' is gone for good: lifeboat agents forget ${row.agent} --as <you>)`,
          );
      }
      if (conflicts.length) return { conflicts };
      await c.query(
        `INSERT INTO agents (name, host, build, pid, task_queue, timeout_seconds, activities, announced_at, key)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
         ON CONFLICT (name) DO UPDATE SET host = $2, build = $3, pid = $4, task_queue = $5, timeout_seconds = $6,
           activities = $7, announced_at = $8, key = $9`,
        [
          a.agent,
          a.host,
          a.build,
          a.pid,
          a.taskQueue,
          a.timeoutSeconds,
          JSON.stringify(a.activities),
          a.at,
          key,
        ],
      );
      await c.query('DELETE FROM agent_targets WHERE agent = $1', [a.agent]);
      for (const t of a.targets)
        await c.query('INSERT INTO agent_targets (target, agent, sections, labels) VALUES ($1, $2, $3, $4)', [
          t.name,
          a.agent,
          JSON.stringify(t.sections),
          JSON.stringify(t.labels),
        ]);
      await c.query('DELETE FROM agent_standby WHERE agent = $1', [a.agent]);
      for (const t of a.standby ?? [])
        await c.query('INSERT INTO agent_standby (target, agent) VALUES ($1, $2)', [t, a.agent]);
      return { conflicts };
    });
  }
  async forget(agent: string, actor: string, at: string) {
    return inTransaction(this.pool, this.settings, async (c) => {
      await c.query('SELECT pg_advisory_xact_lock($1)', [LOCKS.registry]);
      const row = (await c.query<{ key: string | null }>('SELECT key FROM agents WHERE name = $1', [agent]))
        .rows[0];
      if (row)
        await c.query(
          'INSERT INTO forgotten_agents (name, key, at, actor) VALUES ($1, $2, $3, $4) ON CONFLICT (name, key) DO UPDATE SET at = $3, actor = $4',
          [agent, row.key ?? '', at, actor],
        );
      const targets = (
        await c.query<{ target: string }>(
          'SELECT target FROM agent_targets WHERE agent = $1 ORDER BY target',
          [agent],
        )
      ).rows.map((r) => r.target);
      await c.query('DELETE FROM agent_targets WHERE agent = $1', [agent]);
      await c.query('DELETE FROM agent_standby WHERE agent = $1', [agent]);
      const gone = ((await c.query('DELETE FROM agents WHERE name = $1', [agent])).rowCount ?? 0) > 0;
      return { forgotten: gone, targets };
    });
  }
  async agents(): Promise<AgentRow[]> {
    const targets = await this.targets();
    return (await this.q<AgentColumns>('SELECT * FROM agents ORDER BY name')).map((r) => agentOf(r, targets));
  }
  async targets(): Promise<TargetRow[]> {
    return (await this.q<TargetColumns>('SELECT * FROM agent_targets ORDER BY target')).map(targetOf);
  }
  async target(name: string) {
    const t = (await this.targets()).find((r) => r.target === name);
    if (!t) return undefined;
    return { ...t, agentRow: (await this.agents()).find((a) => a.name === t.agent) };
  }
  async standsBy(agent: string, target: string) {
    return (
      (await this.q('SELECT 1 FROM agent_standby WHERE target = $1 AND agent = $2', [target, agent])).length >
      0
    );
  }
  async recordDrillTarget(row: DrillTargetRow) {
    await this.q(
      `INSERT INTO drill_targets (name, base, agent, approvals, gates, sections, at) VALUES ($1, $2, $3, $4, $5, $6, $7)
       ON CONFLICT (name) DO UPDATE SET base = $2, agent = $3, approvals = $4, gates = $5, sections = $6, at = $7`,
      [
        row.name,
        row.base,
        row.agent,
        row.approvals,
        JSON.stringify(row.gates),
        JSON.stringify(row.sections),
        row.at,
      ],
    );
  }
  async drillTarget(name: string) {
    const row = (await this.q<DrillTargetColumns>('SELECT * FROM drill_targets WHERE name = $1', [name]))[0];
    return row && drillTargetOf(row);
  }
  async forgottenAgents() {
    return this.q<ForgottenAgent>('SELECT name, key, at, actor FROM forgotten_agents ORDER BY at, name');
  }
  async putForgotten(row: ForgottenAgent) {
    await this.q(
      'INSERT INTO forgotten_agents (name, key, at, actor) VALUES ($1, $2, $3, $4) ON CONFLICT (name, key) DO UPDATE SET at = $3, actor = $4',
      [row.name, row.key, row.at, row.actor],
    );
  }
  async isEmpty() {
    const [{ n }] = await this.q<{ n: number }>(
      'SELECT (SELECT COUNT(*) FROM backups) + (SELECT COUNT(*) FROM drills) + (SELECT COUNT(*) FROM agents) AS n',
    );
    return Number(n) === 0;
  }
  async close() {}
}
