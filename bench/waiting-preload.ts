/**
 * Loaded into the worker of `npm run bench:waiting` with `--require` (transpiled to plain JavaScript
 * by bench/waiting-procs.ts, so no TypeScript compiler enters the compiled worker) only when the
 * bench is given `--worker-options '<json>'` or `--memory-report`; production never loads it. Node
 * loads a `--require` module into every worker thread too: there it only answers the memory report.
 * - LIFEBOAT_BENCH_WORKER_OPTIONS: Temporal WorkerOptions (maxCachedWorkflows,
 *   maxConcurrentWorkflowTaskExecutions, pollers, workflowBundle…) laid over the ones
 *   worker/worker.ts passes, so that a setting can be measured before anyone changes the worker.
 *   One key is not the SDK's: `workflowThreadResourceLimits` (Node's Worker `resourceLimits`, e.g.
 *   `{"maxOldGenerationSizeMb": 96}`) is laid over the ones worker/worker.ts gives the SDK's
 *   workflow thread.
 * - SIGWINCH (ignored by default; the SDK shuts the worker down on SIGUSR2) prints one line
 *   `bench memory: <json>`: the main isolate's heap (process.memoryUsage and V8's heap statistics)
 *   and each worker thread's (asked over a BroadcastChannel), so the bench can tell the heaps from
 *   the rest of the resident set; then each isolate collects its garbage (`liveMB`: what it holds).
 */
import { Worker, type WorkerOptions } from '@temporalio/worker';
import * as v8 from 'node:v8';
import * as vm from 'node:vm';
import type * as WorkerThreads from 'node:worker_threads';

// The module object itself (an `import *` is a copy with getters): its `Worker` can be replaced.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const workerThreads = require('node:worker_threads') as typeof WorkerThreads;

const CHANNEL = 'lifeboat-bench-memory';
const mb = (n: number) => Math.round((n / 2 ** 20) * 10) / 10;
// A full collection on demand, in this isolate only: what the heap holds live, garbage aside.
v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;
const heapOf = () => {
  const heap = v8.getHeapStatistics();
  // Each space's committed size before the collection: where a heap's total goes (new space's
  // semi-spaces, old, code, large objects).
  const spacesMB = Object.fromEntries(
    v8
      .getHeapSpaceStatistics()
      .filter((s) => s.space_size > 0)
      .map((s) => [s.space_name.replace(/_space$/, ''), mb(s.space_size)]),
  );
  gc();
  const live = v8.getHeapStatistics();
  return {
    liveMB: mb(live.used_heap_size),
    heapUsedMB: mb(heap.used_heap_size),
    heapTotalMB: mb(heap.total_heap_size),
    heapLimitMB: mb(heap.heap_size_limit),
    mallocedMB: mb(heap.malloced_memory),
    externalMB: mb(heap.external_memory),
    spacesMB,
  };
};

if (!workerThreads.isMainThread) {
  // A worker thread (the SDK's workflow thread, an archive thread): its heap, when asked.
  const channel = new workerThreads.BroadcastChannel(CHANNEL);
  channel.unref();
  channel.onmessage = (e) => {
    if ((e as { data?: unknown }).data === 'report')
      channel.postMessage({
        threadId: workerThreads.threadId,
        resourceLimits: workerThreads.resourceLimits,
        ...heapOf(),
      });
  };
} else {
  const raw = process.env.LIFEBOAT_BENCH_WORKER_OPTIONS;
  if (raw) {
    const { workflowThreadResourceLimits, ...overrides } = JSON.parse(raw) as Partial<WorkerOptions> & {
      workflowThreadResourceLimits?: WorkerThreads.ResourceLimits;
    };
    if (workflowThreadResourceLimits) {
      const workflowThread = require.resolve('@temporalio/worker/lib/workflow/workflow-worker-thread');
      const Base = workerThreads.Worker;
      // threaded-vm.js reads `Worker` off the module at each `new`: this class is what it gets.
      // worker/worker.ts may wrap it again; its limits go first, these are laid over them.
      workerThreads.Worker = class extends Base {
        constructor(filename: string | URL, options?: WorkerThreads.WorkerOptions) {
          const ours = String(filename) === workflowThread;
          super(
            filename,
            ours
              ? {
                  ...options,
                  resourceLimits: { ...options?.resourceLimits, ...workflowThreadResourceLimits },
                }
              : options,
          );
        }
      };
    }
    const create = Worker.create.bind(Worker);
    Worker.create = (options: WorkerOptions) => {
      console.error(`bench preload: worker options overridden: ${raw}`);
      return create({ ...options, ...overrides });
    };
  }

  process.on('SIGWINCH', () => {
    const usage = process.memoryUsage();
    const threads: unknown[] = [];
    const channel = new workerThreads.BroadcastChannel(CHANNEL);
    channel.onmessage = (e) => threads.push((e as { data?: unknown }).data);
    channel.postMessage('report');
    setTimeout(() => {
      channel.close();
      const report = {
        rssMB: mb(usage.rss),
        mainHeapUsedMB: mb(usage.heapUsed),
        mainHeapTotalMB: mb(usage.heapTotal),
        externalMB: mb(usage.external),
        arrayBuffersMB: mb(usage.arrayBuffers),
        main: heapOf(),
        threads,
      };
      console.error(`bench memory: ${JSON.stringify(report)}`);
    }, 1000);
  });
}
