/**
 * Records the histories the replay suite replays (`npm run histories`, which runs the suite with
 * LIFEBOAT_RECORD_HISTORIES=1): whenever a test sees a run waiting, and for every run on a test
 * worker's task queue when that worker stops, its history so far is written to
 * `test/histories/<runbook>/<situation>.json` — the first one of each situation wins. A situation is
 * where the run stands: `waiting-gate-<gate>`, `waiting-failure-<step>`, `completed[-<outcome>]`,
 * `stopped`, `failed`. Off (and free) unless the variable is set.
 */
import type { Client } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { statusQuery } from '../common/messages';
import type { RunOutcome, RunStatus } from '../common/types';
import { findRunbook } from '../runbooks/registry';

/** Where histories are kept (LIFEBOAT_HISTORIES_DIR records a new set elsewhere, to add by hand). */
export const HISTORIES = path.resolve(
  process.env.LIFEBOAT_HISTORIES_DIR || path.join(__dirname, 'histories'),
);

const History = temporal.api.history.v1.History;

/**
 * A history as JSON (camelCase fields, enum names, 64-bit numbers as strings, bytes in base64).
 * Why not the SDK's historyToJSON: with the protobufjs copies this install has, it throws "type must
 * be a Type"; protobufjs' own object form round-trips the same data.
 */
export function historyToJson(workflowId: string, history: temporal.api.history.v1.IHistory): string {
  const events = History.toObject(History.fromObject(history), {
    longs: String,
    enums: String,
    bytes: String,
  });
  // The workflow id is not in a history, and a replay needs it (child workflow ids derive from it).
  return JSON.stringify({ workflowId, ...events });
}

export function historyFromJson(text: string): {
  workflowId: string;
  history: temporal.api.history.v1.History;
} {
  const { workflowId, ...events } = JSON.parse(text) as { workflowId: string } & Record<string, unknown>;
  return { workflowId, history: History.fromObject(events) };
}

export function recording(): boolean {
  return process.env.LIFEBOAT_RECORD_HISTORIES === '1';
}

const safe = (s: string) => s.replace(/[^A-Za-z0-9_-]+/g, '_');

/** Where a run stands, as a file name. */
export function situationOf(status: RunStatus, outcome?: RunOutcome): string {
  if (status.state === 'waiting' && status.waiting) {
    const w = status.waiting;
    return w.kind === 'gate' ? `waiting-gate-${safe(w.gate ?? w.step)}` : `waiting-failure-${safe(w.step)}`;
  }
  if (outcome?.state === 'stopped') return 'stopped';
  const result = outcome?.result as { outcome?: unknown } | undefined;
  if (outcome?.state === 'completed')
    return typeof result?.outcome === 'string' ? `completed-${safe(result.outcome)}` : 'completed';
  return status.state;
}

async function write(client: Client, workflowId: string, runbook: string, situation: string): Promise<void> {
  // Runs of workflow types that are not runbooks (a typo the dynamic workflow refuses) are not kept.
  if (!findRunbook(runbook)) return;
  const dir = path.join(HISTORIES, safe(runbook));
  const file = path.join(dir, `${situation}.json`);
  if (fs.existsSync(file)) return;
  const history = await client.workflow.getHandle(workflowId).fetchHistory();
  fs.mkdirSync(dir, { recursive: true });
  try {
    fs.writeFileSync(file, `${historyToJson(workflowId, history)}\n`, { flag: 'wx' });
  } catch (err) {
    // Another test file recorded this situation first.
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
}

/** A run a test saw waiting. */
export async function recordWaiting(client: Client, workflowId: string, status: RunStatus): Promise<void> {
  if (!recording() || status.state !== 'waiting') return;
  await write(client, workflowId, status.runbook, situationOf(status));
}

/** Every run on a test worker's task queue, as it stands when the worker stops. */
export async function recordQueue(client: Client, taskQueue: string): Promise<void> {
  if (!recording()) return;
  for await (const run of client.workflow.list({ query: `TaskQueue = '${taskQueue}'` })) {
    const handle = client.workflow.getHandle(run.workflowId, run.runId);
    try {
      if (run.status.name === 'COMPLETED') {
        const outcome = (await handle.result()) as RunOutcome;
        await write(client, run.workflowId, run.type, situationOf(outcome.status, outcome));
      } else if (run.status.name === 'RUNNING') {
        const status = await handle.query(statusQuery);
        if (status.state === 'waiting') await write(client, run.workflowId, run.type, situationOf(status));
      } else if (run.status.name === 'FAILED') await write(client, run.workflowId, run.type, 'failed');
    } catch {
      // A run that cannot be read now (its worker is gone) is not recorded.
    }
  }
}
