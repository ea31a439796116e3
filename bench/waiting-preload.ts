/**
 * Loaded into the worker of `npm run bench:waiting` with `--require` (transpiled to plain JavaScript
 * by bench/waiting-procs.ts, so no TypeScript compiler enters the compiled worker) only when the
 * bench is given `--worker-options '<json>'` or `--memory-report`; production never loads it.
 * - LIFEBOAT_BENCH_WORKER_OPTIONS: Temporal WorkerOptions (maxCachedWorkflows,
 *   maxConcurrentWorkflowTaskExecutions, pollers, workflowBundle…) laid over the ones
 *   worker/worker.ts passes, so that a setting can be measured before anyone changes the worker.
 * - SIGWINCH (ignored by default; the SDK shuts the worker down on SIGUSR2) prints one line
 *   `bench memory: <json>`: the main isolate's heap (process.memoryUsage and V8's heap statistics),
 *   so the bench can tell that heap from the rest of the resident set.
 */
import { Worker, type WorkerOptions } from '@temporalio/worker';
import * as v8 from 'node:v8';

const raw = process.env.LIFEBOAT_BENCH_WORKER_OPTIONS;
if (raw) {
  const overrides = JSON.parse(raw) as Partial<WorkerOptions>;
  const create = Worker.create.bind(Worker);
  Worker.create = (options: WorkerOptions) => {
    console.error(`bench preload: worker options overridden: ${JSON.stringify(overrides)}`);
    return create({ ...options, ...overrides });
  };
}

process.on('SIGWINCH', () => {
  const mb = (n: number) => Math.round((n / 2 ** 20) * 10) / 10;
  const usage = process.memoryUsage();
  const heap = v8.getHeapStatistics();
  const report = {
    rssMB: mb(usage.rss),
    mainHeapUsedMB: mb(usage.heapUsed),
    mainHeapTotalMB: mb(usage.heapTotal),
    externalMB: mb(usage.external),
    arrayBuffersMB: mb(usage.arrayBuffers),
    heapLimitMB: mb(heap.heap_size_limit),
    mallocedMB: mb(heap.malloced_memory),
  };
  console.error(`bench memory: ${JSON.stringify(report)}`);
});
