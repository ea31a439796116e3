/**
 * A minor GC on this (the main) thread every 16 MB of archive bytes it streamed. Each chunk an
 * archive's reader or writer handles is a buffer outside the heap with a small JavaScript object:
 * the young generation fills too slowly for them to be collected soon, and V8 lets such memory
 * reach 64 MB before it collects. Measured on the 1 GiB bench set: a verify's peak RSS 261–282 →
 * about 230 MB with this and the archive threads' own (archiveFormat.ts, THREAD_GC), as fast.
 *
 * `gc` comes from a context made while --expose-gc is set, unset again at once (a process started
 * with --expose-gc keeps it). Where that fails, nothing is collected early.
 */
import * as v8 from 'node:v8';
import * as vm from 'node:vm';

const EVERY = 16 * 1024 * 1024;

type Collect = (options: { type: 'minor' }) => void;

let collect: Collect | undefined | null = null;
let bytes = 0;

function collector(): Collect | undefined {
  const own = (globalThis as { gc?: Collect }).gc;
  if (typeof own === 'function') return own;
  try {
    v8.setFlagsFromString('--expose-gc');
    try {
      return vm.runInNewContext('gc') as Collect;
    } finally {
      v8.setFlagsFromString('--no-expose-gc');
    }
  } catch {
    return undefined;
  }
}

/** Counts `n` bytes streamed; every 16 MB, collects the young generation. */
export function streamed(n: number): void {
  bytes += n;
  if (bytes < EVERY) return;
  bytes = 0;
  if (collect === null) collect = collector();
  collect?.({ type: 'minor' });
}
