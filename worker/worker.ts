/** Builds a Lifeboat worker from a config: used by the worker entrypoint and by the tests. */
import type { Client } from '@temporalio/client';
import { NativeConnection, Worker, type WorkerOptions } from '@temporalio/worker';
import { createActivities } from '../activities';
import { Catalog } from '../activities/lib/catalog';
import { loadIdentityKeys } from '../activities/lib/identityKeys';
import { openStores, type LedgerStore, type RecordStore } from '../activities/lib/stores';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type * as WorkerThreads from 'node:worker_threads';
import { workflowBundle } from './bundle';
import { CatalogMirror, reportingCatalog } from './catalogMirror';
import { ConfigError, type LifeboatConfig } from '../config';

/**
 * How many runs the worker keeps in memory between their workflow tasks (Temporal's
 * `maxCachedWorkflows`). A run left out is replayed from its history at its next task: correct,
 * and cheap for a run that waits at a gate. The SDK's default follows the main thread's heap limit
 * (worker-options.js: `(heap_size_limit MiB - 200) * 600 / 1024`, about 2,300 on a 4 GB limit), so
 * a thousand waiting runs all stayed, at about 0.25 MB each in the workflow thread's heap plus the
 * garbage around them. 100 against 200: the thread's heap 115-123 -> 82 MB at a thousand waiting
 * runs, as fast to all waiting, and a burst of decisions to evicted runs (each replayed) stays
 * within 400 MB (README, "Worker memory"; `npm run bench:waiting`).
 */
export const MAX_CACHED_WORKFLOWS = 100;

/**
 * Workflow tasks and activity tasks the worker takes at once (the SDK's defaults: 40 and 100).
 * The workflow tasks all run on the SDK's one workflow thread, so more in hand only queue there;
 * the activities are this host's (a backup or restore uses two cores and about 250 MB by itself).
 * What a worker has taken and not finished is held in memory (the activation, its history, the
 * activity's input and its SQLite and file work), and a thousand runs started at once filled every
 * slot: with 10 and 20 the worker's peak at a thousand waiting runs went from 433-514 to 302-325 MB,
 * all waiting as fast (the server hands out the tasks no faster). A task not taken waits on the
 * server: Lifeboat's activities on this worker set no schedule-to-start or schedule-to-close
 * timeout (their start-to-close and heartbeat timers start when a slot takes them).
 */
export const MAX_CONCURRENT_WORKFLOW_TASKS = 10;
export const MAX_CONCURRENT_ACTIVITIES = 20;

/**
 * The old-generation limit of the SDK's workflow thread, where the cached runs live (a V8 isolate
 * of its own: threaded-vm.js). By default it has the main thread's (about 4 GB), with which V8 lets
 * the heap grow up to four times what is live before a full collection; under 256 MB (V8's
 * heap-controller.h kMinSize) by at most 1.3 times, and the limit itself bounds a burst, so evicted
 * runs are collected soon. The main thread, where the activities run, keeps its own limit. 100
 * cached runs hold about 53 MB live there, 200 about 75 MB (the thread 30 MB of it with none). A
 * thread that ran out would stop the worker (ERR_WORKER_OUT_OF_MEMORY); its runs would go on,
 * replayed, at the next start. Raise both together.
 */
export const WORKFLOW_THREAD_HEAP_MB = 160;

// The module object itself (an `import *` is a copy with getters): its `Worker` can be replaced.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const workerThreads = require('node:worker_threads') as typeof WorkerThreads;
const LIMITED = Symbol.for('lifeboat.workflowThreadHeapLimit');

/**
 * The SDK creates its workflow thread as `new Worker(require.resolve('./workflow-worker-thread'))`
 * (node_modules/@temporalio/worker/lib/workflow/threaded-vm.js), with no way to pass Node's
 * `resourceLimits`, and reads `Worker` off the module at each `new`: the class put there adds the
 * limit to that thread only (the archive threads and the main thread keep theirs). Installed once
 * per process; returns the count of workflow threads it has limited.
 */
function limitWorkflowThreadHeap(): { threads: number } {
  const installed = Reflect.get(workerThreads.Worker, LIMITED) as { threads: number } | undefined;
  if (installed) return installed;
  const limited = { threads: 0 };
  const file = require.resolve('@temporalio/worker/lib/workflow/workflow-worker-thread');
  const Base = workerThreads.Worker;
  class WorkflowHeapLimited extends Base {
    constructor(filename: string | URL, options?: WorkerThreads.WorkerOptions) {
      const ours = String(filename) === file;
      if (ours) limited.threads += 1;
      super(
        filename,
        ours
          ? {
              ...options,
              resourceLimits: { maxOldGenerationSizeMb: WORKFLOW_THREAD_HEAP_MB, ...options?.resourceLimits },
            }
          : options,
      );
    }
  }
  Reflect.set(WorkflowHeapLimited, LIMITED, limited);
  workerThreads.Worker = WorkflowHeapLimited;
  return limited;
}

export interface LifeboatWorkerOptions {
  connection: NativeConnection;
  namespace: string;
  taskQueue: string;
  config: LifeboatConfig;
  /** A prebuilt workflow bundle (tests build it once); otherwise the workflows are bundled in a child process. */
  workflowBundle?: WorkerOptions['workflowBundle'];
  /** How the worker names itself to Temporal (its build: see config/build.ts). */
  identity?: string;
  /** A Temporal client, for the activities that look at runs (the stuck-run sweep). */
  client?: () => Client;
}

/**
 * Reads every identity's keys: a config whose signed approvals could not be verified stops the
 * worker at start, with a ConfigError naming the setting.
 */
export async function checkIdentityKeys(config: LifeboatConfig): Promise<void> {
  try {
    await loadIdentityKeys(config.identities);
  } catch (err) {
    throw new ConfigError(config.source, [(err as Error).message]);
  }
}

export async function createLifeboatWorker(options: LifeboatWorkerOptions): Promise<{
  worker: Worker;
  ledger: LedgerStore;
  records: RecordStore;
  catalog: Catalog;
  /** The workflow bundle: the built one's path, 'bundled at start', or 'given' (options.workflowBundle). */
  bundle: string;
  close: () => Promise<void>;
}> {
  await checkIdentityKeys(options.config);
  const stores = await openStores(options.config);
  const { ledger, records } = stores;
  // With SQLite the catalog of record is this very file; with PostgreSQL the control plane's own
  // targets' catalog stays a file (with manifests) and reports its writes, as an agent does.
  let mirror: CatalogMirror | undefined;
  const catalog = new Catalog(options.config.catalog, { onChange: (c) => mirror?.mark(c) });
  if (stores.engine === 'postgres') {
    mirror = new CatalogMirror(
      () => catalog,
      'control-plane',
      async (report) => {
        // Only the control plane's own rows: an agent's (held_by set, e.g. copied by store migrate)
        // are its agent's to report, and an old copy here must not overwrite what it reported since.
        for (const b of report.backups) if (!b.heldBy) await records.putBackup(b, null);
        for (const d of report.drills) await records.putDrill(d);
        return { ok: true, backups: report.backups.length, drills: report.drills.length, refused: [] };
      },
      (message) => console.warn(`lifeboat worker: ${message}`),
    );
    mirror.markAll();
    await mirror.flush().catch(() => undefined);
  }
  const bundle = options.workflowBundle ? undefined : await workflowBundle();
  const limited = limitWorkflowThreadHeap();
  const limitedBefore = limited.threads;
  const worker = await Worker.create({
    connection: options.connection,
    namespace: options.namespace,
    taskQueue: options.taskQueue,
    activities: createActivities({
      config: options.config,
      ledger,
      records,
      catalog,
      client: options.client,
      ...(mirror ? { wrapHost: <T extends object>(a: T) => reportingCatalog(a, mirror) } : {}),
    }),
    // Given only when set: the SDK refuses an identity that is present but undefined.
    ...(options.identity ? { identity: options.identity } : {}),
    // Why: operators follow long backups and restores live (`lifeboat watch`), so progress reaches
    // the server every second instead of at 80% of the heartbeat timeout.
    maxHeartbeatThrottleInterval: '1 second',
    defaultHeartbeatThrottleInterval: '1 second',
    workflowBundle: options.workflowBundle ?? { codePath: bundle!.file },
    // Why: a thousand runs waiting at their gates fit in 400 MB (README, "Worker memory").
    maxCachedWorkflows: MAX_CACHED_WORKFLOWS,
    maxConcurrentWorkflowTaskExecutions: MAX_CONCURRENT_WORKFLOW_TASKS,
    maxConcurrentActivityTaskExecutions: MAX_CONCURRENT_ACTIVITIES,
  });
  // TEMPORAL_DEBUG runs the workflows on the main thread; otherwise an SDK that made its thread
  // another way would leave it unlimited, and the worker says so.
  if (limited.threads === limitedBefore && !process.env.TEMPORAL_DEBUG)
    console.warn(
      `lifeboat worker: the workflow thread's heap limit (${WORKFLOW_THREAD_HEAP_MB} MB) was not applied: this SDK creates its thread another way`,
    );
  // The worker has read the bundle: a temporary one's folder goes (one was left behind at every start).
  if (bundle?.temporary) fs.rmSync(path.dirname(bundle.file), { recursive: true, force: true });
  return {
    worker,
    bundle: bundle ? (bundle.temporary ? 'bundled at start' : bundle.file) : 'given',
    ledger,
    records,
    catalog,
    close: async () => {
      await stores.close();
      catalog.close();
    },
  };
}
