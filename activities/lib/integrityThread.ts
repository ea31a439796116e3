/**
 * A database's `PRAGMA integrity_check`, run in a worker thread: checking a large database takes
 * its time (tenths of a second per 100 MB), and on the main thread it stalled what runs there — a
 * verification's decryption, a restore check's hashing, the activity's heartbeats. Checks run one
 * after another in one thread, started when first needed and ended once idle for a while.
 *
 * The thread's code is a string run with `eval: true`, for the reason archiveAhead.ts gives; it loads
 * the same better-sqlite3 as the main thread, by its resolved path.
 */
import { Worker } from 'node:worker_threads';
import { THREAD_LIMITS } from './archiveFormat';

const THREAD_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.sqlite);
parentPort.on('message', ({ id, file }) => {
  try {
    const db = new Database(file, { readonly: true, fileMustExist: true });
    try {
      const rows = db.pragma('integrity_check');
      parentPort.postMessage({ id, result: rows.map((r) => r.integrity_check).join('; ') });
    } finally {
      db.close();
    }
  } catch (err) {
    parentPort.postMessage({ id, error: String(err && err.message), code: err && err.code });
  }
});
`;

/** How long an idle thread waits for another check before it ends. */
const IDLE_MS = 2000;

type Answer = { id: number; result?: string; error?: string; code?: string };

let thread: Worker | undefined;
let nextId = 0;
let idle: NodeJS.Timeout | undefined;
const pending = new Map<number, { resolve: (r: string) => void; reject: (e: Error) => void }>();

function failAll(err: Error): void {
  for (const p of pending.values()) p.reject(err);
  pending.clear();
}

function start(): Worker {
  const worker = new Worker(THREAD_SOURCE, {
    eval: true,
    workerData: { sqlite: require.resolve('better-sqlite3') },
    resourceLimits: THREAD_LIMITS,
  });
  worker.on('message', (a: Answer) => {
    const p = pending.get(a.id);
    pending.delete(a.id);
    // A new Error of this realm: callers (and jest) see an ordinary error with SQLite's words and code.
    if (a.error !== undefined) p?.reject(Object.assign(new Error(a.error), a.code ? { code: a.code } : {}));
    else p?.resolve(a.result ?? '');
    if (pending.size === 0) {
      worker.unref();
      idle = setTimeout(() => {
        if (thread === worker && pending.size === 0) {
          thread = undefined;
          void worker.terminate();
        }
      }, IDLE_MS);
      idle.unref();
    }
  });
  // Only the current thread's end fails what is pending: a thread ended for being idle had nothing
  // pending, and what is pending now belongs to the one started after it.
  worker.on('error', (err) => {
    if (thread !== worker) return;
    thread = undefined;
    failAll(new Error(`the integrity check thread failed: ${err.message}`));
  });
  worker.on('exit', () => {
    if (thread !== worker) return;
    thread = undefined;
    failAll(new Error('the integrity check thread ended before it answered'));
  });
  return worker;
}

/** `PRAGMA integrity_check` of the database `file`: 'ok', or SQLite's findings joined with '; '. */
export function integrityCheck(file: string): Promise<string> {
  if (idle) clearTimeout(idle);
  idle = undefined;
  thread ??= start();
  // Held while a check is out (a script would otherwise end before its answer), let go when idle.
  thread.ref();
  const id = nextId++;
  const answer = new Promise<string>((resolve, reject) => pending.set(id, { resolve, reject }));
  thread.postMessage({ id, file });
  return answer;
}
