/**
 * The early minor GCs that keep dead chunk buffers from piling up (youngGc.ts on the main thread,
 * THREAD_GC in the archive threads): a minor collection does run, and --expose-gc, set while a
 * thread starts to give it V8's `gc`, is unset again (a context made afterwards has no `gc`), also
 * when threads are ended while they start. And the full collection after an activity that left
 * much in the heap.
 */
import { PerformanceObserver, constants } from 'node:perf_hooks';
import * as v8 from 'node:v8';
import * as vm from 'node:vm';
import { Worker } from 'node:worker_threads';
import { THREAD_GC } from '../activities/lib/archiveFormat';
import { collectingAfter, fullCollectionDue, streamed, withGc } from '../activities/lib/youngGc';

async function collections(
  run: () => unknown,
  kind: number = constants.NODE_PERFORMANCE_GC_MINOR,
): Promise<number> {
  let found = 0;
  const observer = new PerformanceObserver((list) => {
    for (const entry of list.getEntries())
      if ((entry as { detail?: { kind?: number } }).detail?.kind === kind) found += 1;
  });
  observer.observe({ entryTypes: ['gc'] });
  await run();
  await new Promise((r) => setTimeout(r, 100));
  observer.disconnect();
  return found;
}
const minorCollections = (run: () => void) => collections(run);

test('the main thread collects every 16 MB streamed, and leaves --expose-gc unset', async () => {
  // Five in a row, with nothing allocated between them to make the young generation collect itself.
  // Each is a minor collection, or a full one when this process is large (jest's worker, late in a
  // run: fullCollectionDue): counted together.
  const run = () => {
    for (let i = 0; i < 5; i += 1) streamed(16 * 1024 * 1024);
  };
  let minor = 0;
  const major = await collections(async () => {
    minor = await minorCollections(run);
  }, constants.NODE_PERFORMANCE_GC_MAJOR);
  expect(minor + major).toBeGreaterThanOrEqual(5);
  expect(vm.runInNewContext('typeof gc')).toBe('undefined');
});

test('an archive thread collects every 8 MB its zlib calls allocated, and leaves --expose-gc unset', async () => {
  const source = `
const { parentPort } = require('node:worker_threads');
const { PerformanceObserver, constants } = require('node:perf_hooks');
${THREAD_GC}
let minor = 0;
const observer = new PerformanceObserver((list) => {
  for (const e of list.getEntries()) if (e.detail && e.detail.kind === constants.NODE_PERFORMANCE_GC_MINOR) minor += 1;
});
observer.observe({ entryTypes: ['gc'] });
setTimeout(() => {
  for (let i = 0; i < 5; i += 1) spent(8 * 1024 * 1024);
  setTimeout(() => parentPort.postMessage({ minor, gcLeft: require('node:vm').runInNewContext('typeof gc') }), 100);
}, 100);
`;
  const worker = withGc(() => new Worker(source, { eval: true }));
  const found = await new Promise<{ minor: number; gcLeft: string }>((resolve, reject) => {
    worker.once('message', resolve);
    worker.once('error', reject);
  });
  await worker.terminate();
  expect(found.minor).toBeGreaterThanOrEqual(5);
  expect(found.gcLeft).toBe('undefined');
});

test('threads ended while they start leave --expose-gc unset', async () => {
  const ending: Promise<number>[] = [];
  for (let i = 0; i < 20; i += 1) {
    const worker = withGc(() => new Worker('for (;;) {}', { eval: true }));
    if (i % 2) await new Promise((r) => setTimeout(r, i));
    ending.push(worker.terminate());
  }
  await Promise.all(ending);
  await new Promise((r) => setTimeout(r, 50));
  expect(vm.runInNewContext('typeof gc')).toBe('undefined');
});

test('an activity that left more than 32 MB in the heap is followed by a full collection; others are not', async () => {
  // A real collection behind the count, so that each activity starts from what is live.
  v8.setFlagsFromString('--expose-gc');
  const gc = vm.runInNewContext('gc') as () => void;
  v8.setFlagsFromString('--no-expose-gc');
  gc();
  let collected = 0;
  let kept: unknown;
  const acts = collectingAfter(
    {
      // 60 MB of objects, garbage once it returns.
      wasteful: async (n: number) => {
        const objects = Array.from({ length: 600_000 }, (_, i) => ({ i, text: `item ${i} of ${n}` }));
        await new Promise((r) => setImmediate(r));
        return objects.length;
      },
      frugal: (n: number) => n + 1,
      failing: async () => {
        kept = Array.from({ length: 600_000 }, (_, i) => ({ i, text: `kept ${i}` }));
        throw new Error('refused');
      },
    },
    () => {
      collected += 1;
      gc();
    },
  );
  const turn = () => new Promise((r) => setImmediate(r));
  // A failure is passed on as it was, and collected after too (what it kept stays).
  await expect(acts.failing()).rejects.toThrow('refused');
  await turn();
  expect(collected).toBe(1);
  expect(Array.isArray(kept)).toBe(true);
  expect(await acts.wasteful(3)).toBe(600_000);
  // Once the result is handed over, not before.
  expect(collected).toBe(1);
  await turn();
  expect(collected).toBe(2);
  // Synchronous stays synchronous, and what is small leaves no collection behind.
  expect(acts.frugal(1)).toBe(2);
  await turn();
  expect(collected).toBe(2);
});

test("the full collection frees what an activity left: V8's gc() with no options", async () => {
  let before = 0;
  const acts = collectingAfter({
    wasteful: async () => {
      before = v8.getHeapStatistics().used_heap_size;
      return Array.from({ length: 600_000 }, (_, i) => ({ i, text: `item ${i}` })).length;
    },
  });
  const observed = collections(async () => {
    await acts.wasteful();
    await new Promise((r) => setImmediate(r));
  }, constants.NODE_PERFORMANCE_GC_MAJOR);
  expect(await observed).toBeGreaterThanOrEqual(1);
  expect(v8.getHeapStatistics().used_heap_size).toBeLessThan(before + 16 * 1024 * 1024);
});

test('fullCollectionDue: only above the RSS guard, and only for buffers new since the last full collection', () => {
  const MiB = 1024 * 1024;
  expect(fullCollectionDue({ rss: 200 * MiB, arrayBuffers: 150 * MiB }, 0)).toBe(false);
  expect(fullCollectionDue({ rss: 260 * MiB, arrayBuffers: 40 * MiB }, 0)).toBe(true);
  expect(fullCollectionDue({ rss: 260 * MiB, arrayBuffers: 40 * MiB }, 30 * MiB)).toBe(false);
  expect(fullCollectionDue({ rss: 260 * MiB, arrayBuffers: 50 * MiB }, 30 * MiB)).toBe(true);
});

test('a large process streaming collects fully once for new buffers, and not again while they are live', async () => {
  // Full collections that started during `run` (V8's own, later, are not counted).
  const fullDuring = async (run: () => void): Promise<number> => {
    const starts: number[] = [];
    const observer = new PerformanceObserver((list) => {
      for (const entry of list.getEntries())
        if ((entry as { detail?: { kind?: number } }).detail?.kind === constants.NODE_PERFORMANCE_GC_MAJOR)
          starts.push(entry.startTime);
    });
    observer.observe({ entryTypes: ['gc'] });
    const from = performance.now();
    run();
    const to = performance.now();
    await new Promise((r) => setTimeout(r, 100));
    observer.disconnect();
    return starts.filter((t) => t >= from && t <= to).length;
  };
  // 280 MiB of live buffers, written (so resident): the process is above the guard.
  const live = Array.from({ length: 28 }, () => Buffer.alloc(10 * 1024 * 1024, 1));
  expect(process.memoryUsage().rss).toBeGreaterThan(240 * 1024 * 1024);
  // A full collection first, so that no marking V8 started on its own is finished by the next one.
  v8.setFlagsFromString('--expose-gc');
  const gc = vm.runInNewContext('gc') as () => void;
  v8.setFlagsFromString('--no-expose-gc');
  gc();
  expect(await fullDuring(() => streamed(16 * 1024 * 1024))).toBeGreaterThanOrEqual(1);
  // The buffers are still live: another full collection would free nothing.
  expect(await fullDuring(() => streamed(16 * 1024 * 1024))).toBe(0);
  expect(live.length).toBe(28);
});
