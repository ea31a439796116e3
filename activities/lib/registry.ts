/**
 * The control plane's registry of agents and the targets they hold (SQLite, in the catalog's file):
 * what `lifeboat agents` and `lifeboat targets` show, what `resolveTarget` routes by. A target is held
 * by one agent: a second agent claiming it is refused, naming both, until the first is forgotten
 * (`lifeboat agents forget`), the way a new host takes over a dead host's targets.
 */
import type Database from 'better-sqlite3';
import type { Announcement } from '../../common/agents';
import { openDatabase } from './sqlite';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS agents (
  name TEXT PRIMARY KEY,
  host TEXT NOT NULL,
  build TEXT NOT NULL,
  pid INTEGER NOT NULL,
  task_queue TEXT NOT NULL,
  timeout_seconds INTEGER NOT NULL,
  activities TEXT NOT NULL,
  announced_at TEXT NOT NULL,
  key TEXT
);
CREATE TABLE IF NOT EXISTS forgotten_agents (
  name TEXT NOT NULL,
  key TEXT NOT NULL,
  at TEXT NOT NULL,
  actor TEXT NOT NULL,
  PRIMARY KEY (name, key)
);
CREATE TABLE IF NOT EXISTS agent_standby (
  target TEXT NOT NULL,
  agent TEXT NOT NULL,
  PRIMARY KEY (target, agent)
);
CREATE TABLE IF NOT EXISTS drill_targets (
  name TEXT PRIMARY KEY,
  base TEXT NOT NULL,
  agent TEXT NOT NULL,
  approvals TEXT NOT NULL,
  gates TEXT NOT NULL,
  sections TEXT NOT NULL,
  at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS agent_targets (
  target TEXT PRIMARY KEY,
  agent TEXT NOT NULL,
  sections TEXT NOT NULL,
  labels TEXT NOT NULL
);
`;

export interface AgentRow {
  name: string;
  host: string;
  build: string;
  pid: number;
  taskQueue: string;
  timeoutSeconds: number;
  activities: string[];
  announcedAt: string;
  /** Fingerprint of the key that signed its announcement. */
  key: string | null;
  targets: string[];
}

export interface TargetRow {
  target: string;
  agent: string;
  sections: string[];
  labels: Record<string, string>;
}

/** A drill's derived target (`<target>@drill-<id>`) of a target an agent holds: its sandbox is on that agent. */
export interface DrillTargetRow {
  name: string;
  base: string;
  agent: string;
  approvals: 'automatic' | 'people';
  /** The recovery runbook's gates (all opened at once when approvals are automatic). */
  gates: string[];
  /** The derived target's sections, as its agent made them. */
  sections: string[];
  at: string;
}

/** The registry's rows as both engines store them (JSON text in TEXT columns), and as read. */
export interface AgentColumns {
  name: string;
  host: string;
  build: string;
  pid: number;
  task_queue: string;
  timeout_seconds: number;
  activities: string;
  announced_at: string;
  key: string | null;
}
export type TargetColumns = { target: string; agent: string; sections: string; labels: string };
export type DrillTargetColumns = Omit<DrillTargetRow, 'gates' | 'sections'> & {
  gates: string;
  sections: string;
};

export function agentOf(r: AgentColumns, targets: TargetRow[]): AgentRow {
  return {
    name: r.name,
    host: r.host,
    build: r.build,
    pid: r.pid,
    taskQueue: r.task_queue,
    timeoutSeconds: r.timeout_seconds,
    activities: JSON.parse(r.activities) as string[],
    announcedAt: r.announced_at,
    key: r.key,
    targets: targets.filter((t) => t.agent === r.name).map((t) => t.target),
  };
}

export function targetOf(r: TargetColumns): TargetRow {
  return {
    target: r.target,
    agent: r.agent,
    sections: JSON.parse(r.sections) as string[],
    labels: JSON.parse(r.labels) as Record<string, string>,
  };
}

export function drillTargetOf(r: DrillTargetColumns): DrillTargetRow {
  return { ...r, gates: JSON.parse(r.gates) as string[], sections: JSON.parse(r.sections) as string[] };
}

export class Registry {
  private readonly db: Database.Database;

  constructor(file: string, options: { readonly?: boolean } = {}) {
    this.db = openDatabase(file, 'registry', SCHEMA, options, { store: 'registry', current: 1 });
  }

  /**
   * Records an announcement: the agent and exactly the targets it holds now. A target another agent
   * holds is a conflict (nothing is written); `reserved` names targets no agent may claim (the
   * control plane's own).
   */
  announce(a: Announcement, key: string | null, reserved: Map<string, string>): { conflicts: string[] } {
    const write = this.db.transaction(() => {
      const conflicts: string[] = [];
      // A forgotten agent stays forgotten with the key it had: a host gone for good does not come back.
      const gone = this.db
        .prepare('SELECT at, actor FROM forgotten_agents WHERE name = ? AND key = ?')
        .get(a.agent, key ?? '') as { at: string; actor: string } | undefined;
      if (gone)
        return {
          conflicts: [
            `agent '${a.agent}' was forgotten at ${gone.at} by ${gone.actor}, and this is the key it had: to let it back, give it a new key (agents.${a.agent}.publicKey)`,
          ],
        };
      for (const t of a.targets) {
        const own = reserved.get(t.name);
        if (own) {
          conflicts.push(`target '${t.name}' is held by ${own}; agent '${a.agent}' claims it too`);
          continue;
        }
        const row = this.db.prepare('SELECT agent FROM agent_targets WHERE target = ?').get(t.name) as
          { agent: string } | undefined;
        if (row && row.agent !== a.agent)
          conflicts.push(
            `target '${t.name}' is held by agent '${row.agent}'; agent '${a.agent}' claims it too (if '${row.agent}' is gone for good: lifeboat agents forget ${row.agent} --as <you>)`,
          );
      }
      if (conflicts.length) return { conflicts };
      this.db
        .prepare(
          `INSERT INTO agents (name, host, build, pid, task_queue, timeout_seconds, activities, announced_at, key)
           VALUES (@agent, @host, @build, @pid, @taskQueue, @timeoutSeconds, @activities, @at, @key)
           ON CONFLICT(name) DO UPDATE SET host = @host, build = @build, pid = @pid, task_queue = @taskQueue,
             timeout_seconds = @timeoutSeconds, activities = @activities, announced_at = @at, key = @key`,
        )
        .run({ ...a, activities: JSON.stringify(a.activities), key });
      this.db.prepare('DELETE FROM agent_targets WHERE agent = ?').run(a.agent);
      const insert = this.db.prepare(
        'INSERT INTO agent_targets (target, agent, sections, labels) VALUES (?, ?, ?, ?)',
      );
      for (const t of a.targets)
        insert.run(t.name, a.agent, JSON.stringify(t.sections), JSON.stringify(t.labels));
      this.db.prepare('DELETE FROM agent_standby WHERE agent = ?').run(a.agent);
      const standby = this.db.prepare('INSERT INTO agent_standby (target, agent) VALUES (?, ?)');
      for (const t of a.standby ?? []) standby.run(t, a.agent);
      return { conflicts };
    });
    return write.immediate();
  }

  /** Forgets an agent and releases its targets; false when there was no such agent. */
  forget(agent: string, actor: string, at: string): { forgotten: boolean; targets: string[] } {
    const run = this.db.transaction(() => {
      const row = this.db.prepare('SELECT key FROM agents WHERE name = ?').get(agent) as
        { key: string | null } | undefined;
      if (row)
        this.db
          .prepare('INSERT OR REPLACE INTO forgotten_agents (name, key, at, actor) VALUES (?, ?, ?, ?)')
          .run(agent, row.key ?? '', at, actor);
      const targets = (
        this.db.prepare('SELECT target FROM agent_targets WHERE agent = ? ORDER BY target').all(agent) as {
          target: string;
        }[]
      ).map((r) => r.target);
      this.db.prepare('DELETE FROM agent_targets WHERE agent = ?').run(agent);
      this.db.prepare('DELETE FROM agent_standby WHERE agent = ?').run(agent);
      const gone = this.db.prepare('DELETE FROM agents WHERE name = ?').run(agent).changes > 0;
      return { forgotten: gone, targets };
    });
    return run.immediate();
  }

  agents(): AgentRow[] {
    const targets = this.targets();
    return (this.db.prepare('SELECT * FROM agents ORDER BY name').all() as AgentColumns[]).map((r) =>
      agentOf(r, targets),
    );
  }

  targets(): TargetRow[] {
    return (this.db.prepare('SELECT * FROM agent_targets ORDER BY target').all() as TargetColumns[]).map(
      targetOf,
    );
  }

  target(name: string): (TargetRow & { agentRow?: AgentRow }) | undefined {
    const t = this.targets().find((r) => r.target === name);
    if (!t) return undefined;
    return { ...t, agentRow: this.agents().find((a) => a.name === t.agent) };
  }

  forgottenAgents(): { name: string; key: string; at: string; actor: string }[] {
    return this.db.prepare('SELECT name, key, at, actor FROM forgotten_agents ORDER BY at, name').all() as {
      name: string;
      key: string;
      at: string;
      actor: string;
    }[];
  }

  putForgotten(row: { name: string; key: string; at: string; actor: string }): void {
    this.db
      .prepare(
        'INSERT OR REPLACE INTO forgotten_agents (name, key, at, actor) VALUES (@name, @key, @at, @actor)',
      )
      .run(row);
  }

  /** Whether `agent` announced that it stands by for `target` (config `standby`). */
  standsBy(agent: string, target: string): boolean {
    return !!this.db.prepare('SELECT 1 FROM agent_standby WHERE target = ? AND agent = ?').get(target, agent);
  }

  recordDrillTarget(row: DrillTargetRow): void {
    this.db
      .prepare(
        `INSERT OR REPLACE INTO drill_targets (name, base, agent, approvals, gates, sections, at)
         VALUES (@name, @base, @agent, @approvals, @gates, @sections, @at)`,
      )
      .run({ ...row, gates: JSON.stringify(row.gates), sections: JSON.stringify(row.sections) });
  }

  drillTarget(name: string): DrillTargetRow | undefined {
    const row = this.db.prepare('SELECT * FROM drill_targets WHERE name = ?').get(name) as
      DrillTargetColumns | undefined;
    return row && drillTargetOf(row);
  }

  close(): void {
    this.db.close();
  }
}
