/**
 * An agent's reports of its catalog to the control plane, whose catalog is the catalog of record
 * (`lifeboat backups list`, `drills list`, the UI): every write to the agent's catalog marks its
 * backup or drill changed; after each activity, and with each announcement, the changes are sent,
 * signed, as `catalog` Updates to the agent's session workflow (workflows/agents.ts). All rows are
 * sent when the agent starts, so a control plane that missed a report (it was down) catches up; a
 * report that could not be sent stays pending until the next. The agent's own catalog keeps what
 * only its host needs: each backup's manifest (an incremental's parent, a restore's plan).
 */
import { Context } from '@temporalio/activity';
import type { CatalogReport, MirrorResult } from '../activities/agents';
import type { Catalog, CatalogChange, CatalogEntry } from '../activities/lib/catalog';
import type { DrillRecord } from '../common/drill';

/** A report's size in JSON before it is split (Temporal keeps every Update's argument in history). */
const REPORT_BYTES = 256 * 1024;
/** How long an activity's completion waits for its report before leaving it pending. */
const FLUSH_WAIT_MS = 30_000;

export class CatalogMirror {
  private readonly backups = new Set<string>();
  private readonly drills = new Set<string>();
  private queue: Promise<void> = Promise.resolve();

  constructor(
    private readonly catalog: () => Catalog,
    private readonly agent: string,
    private readonly send: (report: CatalogReport) => Promise<MirrorResult>,
    private readonly warn: (message: string) => void,
  ) {}

  mark(change: CatalogChange): void {
    if ('backup' in change) this.backups.add(change.backup);
    else this.drills.add(change.drill);
  }

  /** Marks every row of the catalog (at start). */
  markAll(): void {
    for (const id of this.catalog().backupIds()) this.backups.add(id);
    for (const d of this.catalog().listDrills()) this.drills.add(d.drillId);
  }

  get pending(): number {
    return this.backups.size + this.drills.size;
  }

  /** Sends what is pending, one flush at a time; resolves when this flush is done (or failed: warned). */
  flush(): Promise<void> {
    const next = this.queue.then(() => this.sendPending());
    this.queue = next.catch(() => undefined);
    return next;
  }

  /**
   * As flush, waiting at most FLUSH_WAIT_MS and never failing (what runs after each activity, which
   * keeps heartbeating meanwhile: a long step's heartbeat timeout must not fire on the report).
   */
  async settle(beat: () => void = () => undefined): Promise<void> {
    if (this.pending === 0) return;
    const beating = setInterval(beat, 5000);
    let timer: NodeJS.Timeout | undefined;
    const waited = new Promise<void>((resolve) => {
      timer = setTimeout(() => {
        this.warn(`reporting the catalog took over ${FLUSH_WAIT_MS / 1000} s; it stays pending`);
        resolve();
      }, FLUSH_WAIT_MS);
    });
    try {
      await Promise.race([this.flush().catch(() => undefined), waited]);
    } finally {
      clearTimeout(timer);
      clearInterval(beating);
    }
  }

  private async sendPending(): Promise<void> {
    const catalog = this.catalog();
    const backups = [...this.backups];
    const drills = [...this.drills];
    const rows: ({ backup: CatalogEntry } | { drill: DrillRecord })[] = [];
    for (const id of backups) {
      const entry = catalog.get(id);
      if (entry) rows.push({ backup: entry });
      else this.backups.delete(id);
    }
    for (const id of drills) {
      const drill = catalog.drill(id);
      if (drill) rows.push({ drill });
      else this.drills.delete(id);
    }
    for (const chunk of chunks(rows)) {
      const report: CatalogReport = {
        kind: 'lifeboat.catalog',
        version: 1,
        agent: this.agent,
        at: new Date().toISOString(),
        backups: chunk.flatMap((r) => ('backup' in r ? [r.backup] : [])),
        drills: chunk.flatMap((r) => ('drill' in r ? [r.drill] : [])),
      };
      let result: MirrorResult;
      try {
        result = await this.send(report);
      } catch (err) {
        this.warn(`reporting the catalog failed (it stays pending): ${(err as Error).message}`);
        throw err;
      }
      if (!result.ok) {
        this.warn(`the control plane refused the catalog report (it stays pending): ${result.refusal}`);
        throw new Error(result.refusal);
      }
      for (const refused of result.refused) this.warn(`the control plane did not take ${refused}`);
      // Sent (or refused for good, row by row): no longer pending, unless written again since.
      for (const b of report.backups)
        if (sameBackup(catalog.get(b.backupId), b)) this.backups.delete(b.backupId);
      for (const d of report.drills) this.drills.delete(d.drillId);
    }
  }
}

const sameBackup = (now: CatalogEntry | undefined, sent: CatalogEntry) =>
  now !== undefined && JSON.stringify(now) === JSON.stringify(sent);

function chunks<T>(rows: T[]): T[][] {
  const out: T[][] = [];
  let current: T[] = [];
  let bytes = 0;
  for (const row of rows) {
    const size = JSON.stringify(row).length;
    if (current.length && bytes + size > REPORT_BYTES) {
      out.push(current);
      current = [];
      bytes = 0;
    }
    current.push(row);
    bytes += size;
  }
  if (current.length) out.push(current);
  return out;
}

/** The activities, each reporting the catalog's changes once it ends (before its result is returned). */
export function reportingCatalog<T extends object>(activities: T, mirror: CatalogMirror): T {
  const wrapped: Record<string, unknown> = {};
  for (const [name, fn] of Object.entries(activities)) {
    wrapped[name] = async (...args: unknown[]) => {
      try {
        return await (fn as (...a: unknown[]) => Promise<unknown>)(...args);
      } finally {
        await mirror.settle(() => {
          try {
            Context.current().heartbeat({ phase: 'reporting the catalog to the control plane' });
          } catch {
            // Not in an activity (a test calling it directly): nothing to heartbeat.
          }
        });
      }
    };
  }
  return wrapped as T;
}
