/**
 * Minor garbage collections on demand, for code that streams chunks: each chunk is a buffer outside
 * V8's heap with a small JavaScript object, the young generation fills too slowly for them to be
 * collected soon, and V8 lets such memory reach 64 MB per thread before it collects. Measured on the
 * 1 GiB bench set: a verify's peak RSS 260–282 → about 230 MiB with these collections, as fast.
 * A full one instead when the process is large and buffers have piled up (`fullCollectionDue`), and
 * a full collection after an activity that left much in the heap (`collectingAfter`).
 *
 * V8's `gc` exists only in contexts made while --expose-gc is set. This thread gets its own from a
 * context made at load; an archive thread gets one when it is created through `withGc`, which sets
 * the flag until the thread is online (its context made) and unsets it once no thread is starting.
 * The flag is never set inside a thread: a thread ended early could leave it set. A process started
 * with --expose-gc keeps it.
 */
import * as v8 from 'node:v8';
import * as vm from 'node:vm';
import type { Worker } from 'node:worker_threads';

/** V8's `gc`: a full collection without options (`{ type: 'major' }` freed next to nothing in Node 20). */
type Collect = (options?: { type: 'minor' }) => void;

const EVERY = 16 * 1024 * 1024;
/** The process was started with --expose-gc: the flag is left alone. */
const startedWith = vm.runInNewContext('typeof gc') === 'function';
let starting = 0;

function hold(): void {
  if (starting++ === 0 && !startedWith) v8.setFlagsFromString('--expose-gc');
}

function release(): void {
  if (--starting === 0 && !startedWith) v8.setFlagsFromString('--no-expose-gc');
}

const collect: Collect | undefined = (() => {
  hold();
  try {
    return vm.runInNewContext('gc') as Collect;
  } catch {
    return undefined;
  } finally {
    release();
  }
})();

/** Creates a thread whose context has `gc` (THREAD_GC in archiveFormat.ts uses it). */
export function withGc(create: () => Worker): Worker {
  hold();
  let held = true;
  const done = () => {
    if (!held) return;
    held = false;
    release();
  };
  let worker: Worker;
  try {
    worker = create();
  } catch (err) {
    done();
    throw err;
  }
  worker.once('online', done);
  worker.once('error', done);
  worker.once('exit', done);
  return worker;
}

let bytes = 0;

/** The process's RSS above which streaming collects fully, when buffers have piled up since the last time. */
const RSS_GUARD = 240 * 1024 * 1024;
/** This thread's ArrayBuffer memory grown since the last full collection that makes another worth it. */
const BUFFERS_WORTH = 16 * 1024 * 1024;
/** This thread's ArrayBuffer memory after its last full collection here (or less, seen since). */
let buffersAfterFull = 0;

/**
 * Whether the collection now should be a full one. Chunks that lived through two minor collections
 * (in flight in a pipeline) are promoted, and then wait for a full collection, which V8 starts only
 * once 64 MB more is outside its heap: a 100,000-file backup and its verification peaked at 265-285
 * MiB with such garbage, 249-267 with a full collection when the process is above RSS_GUARD (a few
 * per run, as fast; none in a 1 GiB one, which stays near 200). A full collection costs, and frees
 * nothing when the buffers are live: it is worth it only above the guard, and only for buffers that
 * are new since the last one.
 */
export function fullCollectionDue(memory: { rss: number; arrayBuffers: number }, afterLast: number): boolean {
  return memory.rss > RSS_GUARD && memory.arrayBuffers - afterLast > BUFFERS_WORTH;
}

/**
 * Counts `n` bytes streamed on this thread; every 16 MB, collects the young generation, or all of
 * the heap when the process is large and buffers have piled up (`fullCollectionDue`).
 */
export function streamed(n: number): void {
  bytes += n;
  if (bytes < EVERY) return;
  bytes = 0;
  const memory = process.memoryUsage();
  buffersAfterFull = Math.min(buffersAfterFull, memory.arrayBuffers);
  if (collect && fullCollectionDue(memory, buffersAfterFull)) {
    collect();
    buffersAfterFull = process.memoryUsage().arrayBuffers;
    return;
  }
  collect?.({ type: 'minor' });
}

/** The bytes of V8's heap in use on this thread (live and garbage not yet collected). */
function heapUsed(): number {
  return v8.getHeapStatistics().used_heap_size;
}

/** What an activity may leave in the heap before a full collection follows it. */
const LEFT = 32 * 1024 * 1024;

/**
 * `activities` each followed by a full collection when it left more than 32 MB more in the heap
 * than it found. A manifest of 100,000 files is 30 MB of objects, parsed again by each step of a
 * restore (inspect, plan, stage, check the tree): V8 grows the heap before it collects, so each
 * step's garbage was still there at the next one's peak (the restore with its checks: 327 MB; with
 * a collection after each step, 288). A full collection of such a heap takes tens of milliseconds;
 * it runs once the activity's result is handed over (the next turn of the event loop), not before.
 * `full` collects (a test gives its own).
 */
export function collectingAfter<T extends object>(activities: T, full = (): void => collect?.()): T {
  return Object.fromEntries(
    Object.entries(activities).map(([name, act]) => {
      if (typeof act !== 'function') return [name, act];
      const wrapped = (...args: unknown[]): unknown => {
        const before = heapUsed();
        const after = () => {
          if (heapUsed() - before > LEFT) setImmediate(full);
        };
        const result = (act as (...a: unknown[]) => unknown)(...args);
        if (!(result instanceof Promise)) {
          after();
          return result;
        }
        void result.then(after, after);
        return result;
      };
      return [name, wrapped];
    }),
  ) as T;
}
