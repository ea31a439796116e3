/**
 * Runs writeBackup in a MockActivityEnvironment in a process of its own, cancels it at its first
 * heartbeat past half of the archive's bytes (or at its first archive heartbeat, when
 * LIFEBOAT_PROBE_CANCEL_AT is `start`), and prints one JSON line: how the activity ended, its
 * heartbeats, what the repository held when the cancellation came, and errors thrown outside it.
 * Run by test/activity-heartbeats.test.ts with LIFEBOAT_CONFIG, LIFEBOAT_PROBE_TARGET and
 * LIFEBOAT_PROBE_BACKUP set.
 *
 * Why a process of its own: an error thrown outside the activity (Node 20's Readable.toWeb threw an
 * uncaught ERR_INVALID_STATE when its stream was cancelled while a read was pending, which ended the
 * worker; encryptStream no longer uses it) would fail whichever jest test was running. Here it is
 * collected, so the probe always reports.
 */
import { MockActivityEnvironment } from '@temporalio/testing';
import { DefaultLogger } from '@temporalio/worker';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createStorageActivities } from '../../activities';
import { Catalog } from '../../activities/lib/catalog';
import { loadConfig } from '../../config';

export interface CancelledBackupReport {
  /** The error the activity ended with (undefined: it completed). */
  error?: { name: string; message: string; cause?: string };
  beats: Record<string, unknown>[];
  /** The repository's files and their sizes when the cancellation came. */
  atCancel: Record<string, number>;
  /** Errors thrown outside the activity while it ran (in a worker they would end the process). */
  uncaught: string[];
}

async function main(): Promise<void> {
  const uncaught: string[] = [];
  process.on('uncaughtException', (err) => uncaught.push(err.message));
  // The heartbeater sends at most one beat a second; a clock that moves a second per reading lets
  // every beat through, so the cancellation lands at a known point of a run this short.
  const realNow = Date.now;
  let skew = 0;
  Date.now = () => realNow() + (skew += 1001);

  const config = loadConfig(process.env.LIFEBOAT_CONFIG!);
  const catalog = new Catalog(config.catalog);
  const acts = createStorageActivities(config, catalog);
  const env = new MockActivityEnvironment(undefined, { logger: new DefaultLogger('ERROR') });
  const beats: Record<string, unknown>[] = [];
  const repository = config.targets[process.env.LIFEBOAT_PROBE_TARGET!].repository!;
  const report: CancelledBackupReport = { beats, atCancel: {}, uncaught };
  env.on('heartbeat', (beat: Record<string, unknown>) => {
    beats.push(beat);
    // Past half: by then the archive has flowed through every stream's buffer into its partial file.
    const atStart = process.env.LIFEBOAT_PROBE_CANCEL_AT === 'start';
    const due = (b: Record<string, unknown>) =>
      b.phase === 'archive' && (atStart || Number(b.bytes) > Number(b.totalBytes) / 2);
    if (due(beat) && beats.filter(due).length === 1) {
      for (const name of fs.readdirSync(repository))
        report.atCancel[name] = fs.statSync(path.join(repository, name)).size;
      env.cancel();
    }
  });
  try {
    await env.run<Parameters<typeof acts.writeBackup>, unknown, typeof acts.writeBackup>(
      acts.writeBackup,
      process.env.LIFEBOAT_PROBE_TARGET!,
      {
        backupId: process.env.LIFEBOAT_PROBE_BACKUP!,
        kind: 'full',
        createdBy: 'cancel-backup probe',
      },
    );
  } catch (err) {
    const e = err as Error;
    report.error = { name: e.name, message: e.message, cause: (e.cause as Error | undefined)?.name };
  }
  // Late stream events come within a few ticks.
  await new Promise((r) => setTimeout(r, 100));
  catalog.close();
  Date.now = realNow;
  console.log(JSON.stringify(report));
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
