/**
 * The reading side's worker threads (archiveReader.ts): they inflate, hash and write an archive's
 * entries while the main thread decrypts and parses the framing, so that a restore or a
 * verification uses every core. The main thread keeps every judgement: a thread reports what it
 * found (the entry's SHA-256 and size, or that it inflated into more than the header allows, or
 * did not inflate) and the reader compares and words the errors as before.
 *
 * Work travels in batches: a slot (a buffer transferred to a thread and back) holding several
 * operations, so that ten thousand small files cost a few hundred messages, and the threads
 * allocate nothing per chunk. Each entry goes to one thread; at most `WINDOW` slots per thread
 * are out at once, which bounds memory whatever the sizes.
 *
 * A file an entry is written to is created with `wx` (never over an existing file), given its
 * mode and mtime, and closed without an fsync: whoever wrote files this way makes them durable
 * (unpack.ts syncs the file system once at the end). The thread's code is entryThreadSource.ts.
 *
 * A pool's first thread may be started ahead (`warmEntryThread`), so that its boot overlaps the
 * caller's preparation.
 */
import * as os from 'node:os';
import { Worker } from 'node:worker_threads';
import { withGc } from './youngGc';
import { CHUNK_SIZE, MAX_CHUNK, THREAD_LIMITS, type Codec } from './archiveFormat';
import { CODECS, ENTRY_THREAD_SOURCE, OP_FIELDS } from './entryThreadSource';
import { zstdBinding } from './zstd';
import { Spare } from './spare';

const WINDOW = 4;
const SLOT = CHUNK_SIZE + 8192;
/**
 * Operations in a batch at most: a batch goes out at this count, so that a thread has its next
 * small files' work while the reader is still a few hundred entries ahead of its judging (100,000
 * small files: some 3,000 messages, where one per file took the main thread 0.4 s).
 */
const MAX_OPS = 96;

export interface FileTarget {
  file: string;
  mode: number;
  mtimeMs: number;
}

/** What a thread found for an entry. */
export type EntryOutcome =
  | { ok: true; sha256: string; size: number }
  | { ok: false; problem: 'tooLarge' | 'corrupt' }
  | { ok: false; problem: 'io'; message: string; code?: string };

type Op =
  | { op: 'begin'; id: number; codec: Codec; size: number; target?: FileTarget }
  | { op: 'chunk'; id: number; offset: number; length: number }
  | { op: 'end'; id: number };

interface Deferred {
  promise: Promise<EntryOutcome>;
  resolve: (o: EntryOutcome) => void;
}

class EntryThread {
  private readonly worker: Worker;
  private readonly free: ArrayBuffer[] = [];
  private out = 0;
  /** Flows waiting for a slot to come back: all are woken by each answer. */
  private readonly waiting: (() => void)[] = [];
  private codes = new Float64Array(MAX_OPS * OP_FIELDS);
  private count = 0;
  private files: string[] = [];
  /** Batches sent so far. */
  batches = 0;
  private batch: Buffer | undefined;
  private used = 0;
  readonly pending = new Map<number, Deferred>();
  private crashed: Error | undefined;

  constructor() {
    this.worker = withGc(
      () =>
        new Worker(ENTRY_THREAD_SOURCE, {
          eval: true,
          workerData: {
            maxChunk: MAX_CHUNK,
            slotSize: SLOT,
            chunkSize: CHUNK_SIZE,
            zstdBinding: zstdBinding(),
          },
          resourceLimits: THREAD_LIMITS,
        }),
    );
    this.worker.on(
      'message',
      (m: { results: { id: number; outcome: EntryOutcome }[]; slot?: ArrayBuffer }) => {
        this.out -= 1;
        if (m.slot) this.free.push(m.slot);
        for (const r of m.results) {
          this.pending.get(r.id)?.resolve(r.outcome);
          this.pending.delete(r.id);
        }
        this.wake();
      },
    );
    this.worker.on('error', (err) => this.crash(err));
    this.worker.on('exit', (code) => this.crash(new Error(`archive reader thread exited (${code})`)));
  }

  /** Whether the thread keeps the process alive (a spare does not). */
  hold(held: boolean): void {
    if (held) this.worker.ref();
    else this.worker.unref();
  }

  /** Whether the thread has failed or ended (a spare that did is not handed out). */
  get ended(): boolean {
    return this.crashed !== undefined;
  }

  /** Wakes every flow waiting for a slot to come back (each checks again). */
  private wake(): void {
    const waiting = this.waiting.splice(0);
    for (const w of waiting) w();
  }

  /** Whether a slot must come back before another batch may go out. */
  private full(): boolean {
    return this.out >= WINDOW && !this.crashed;
  }

  private async slotBack(): Promise<void> {
    while (this.full()) await new Promise<void>((r) => this.waiting.push(r));
  }

  private crash(err: Error): void {
    this.crashed ??= err;
    for (const d of this.pending.values())
      d.resolve({ ok: false, problem: 'io', message: `archive reader thread failed: ${err.message}` });
    this.pending.clear();
    this.out = 0;
    this.wake();
  }

  /**
   * Queues an operation, with `data` copied into the current batch. Returns a promise only when it
   * had to wait (for room, or for a slot to come back): most operations of 100,000 small files are
   * queued without one.
   */
  push(op: Op, data?: Buffer): Promise<void> | undefined {
    if (data && (this.batch ? this.used + data.length > this.batch.length : this.full()))
      return this.pushLater(op, data);
    this.place(op, data);
    return this.count >= MAX_OPS ? this.flush() : undefined;
  }

  private async pushLater(op: Op, data: Buffer): Promise<void> {
    // Checked again after each wait: placing is synchronous from the moment both hold.
    for (;;) {
      if (this.batch && this.used + data.length > this.batch.length) await this.flush();
      else if (!this.batch && this.full()) await this.slotBack();
      else break;
    }
    this.place(op, data);
    if (this.count >= MAX_OPS) await this.flush();
  }

  private place(op: Op, data: Buffer | undefined): void {
    if (data && !this.batch) {
      this.batch =
        data.length > SLOT
          ? Buffer.from(new ArrayBuffer(data.length))
          : Buffer.from(this.free.pop() ?? new ArrayBuffer(SLOT));
      this.used = 0;
    }
    if (data && op.op === 'chunk') {
      data.copy(this.batch!, this.used);
      op.offset = this.used;
      op.length = data.length;
      this.used += data.length;
    }
    this.encode(op);
  }

  private encode(op: Op): void {
    const k = this.count * OP_FIELDS;
    this.count += 1;
    const c = this.codes;
    c[k + 1] = op.id;
    if (op.op === 'begin') {
      c[k] = 1;
      c[k + 2] = op.size;
      c[k + 3] = CODECS[op.codec];
      c[k + 4] = op.target ? op.target.mode : -1;
      c[k + 5] = op.target ? op.target.mtimeMs : 0;
      if (op.target) this.files.push(op.target.file);
    } else if (op.op === 'chunk') {
      c[k] = 2;
      c[k + 2] = op.offset;
      c[k + 3] = op.length;
    } else c[k] = 3;
  }

  /** Sends what is queued. */
  async flush(): Promise<void> {
    if (this.count === 0) return;
    if (!this.batch) await this.slotBack();
    const data = this.batch?.buffer as ArrayBuffer | undefined;
    const codes = this.codes.slice(0, this.count * OP_FIELDS);
    const files = this.files;
    this.count = 0;
    this.files = [];
    this.batch = undefined;
    if (this.crashed) return;
    this.out += 1;
    this.batches += 1;
    this.worker.postMessage({ codes, files, data }, data ? [data] : []);
  }

  async stop(): Promise<void> {
    this.crashed ??= new Error('stopped');
    await this.worker.terminate();
  }
}

/** The next pool's first thread, started ahead (`warmEntryThread`). */
const spare = new Spare<EntryThread>((thread) => void thread.stop());

/**
 * Starts the next pool's first thread now: its boot (some 80 ms: Node's modules, the zstd binding)
 * then overlaps the caller's preparation (a manifest read from the catalog, the archive's key)
 * instead of holding up the first entries. Untaken, it ends after a while (spare.ts); it never
 * keeps the process alive while spare. One spare at a time: false when there already is one.
 */
export function warmEntryThread(): boolean {
  return spare.offer(() => {
    const thread = new EntryThread();
    thread.hold(false);
    return thread;
  });
}

/** The spare thread, if there is a sound one; else a new thread. */
function entryThread(): EntryThread {
  const taken = spare.take();
  if (!taken || taken.ended) {
    if (taken) void taken.stop();
    return new EntryThread();
  }
  taken.hold(true);
  return taken;
}

/** A pool of reader threads for one archive read. */
export class EntryThreads {
  private readonly threads: EntryThread[] = [];
  private next = 0;

  /**
   * Up to `count` threads, each started only when those running all have two entries or more
   * under way: an archive of one large file (and a few small ones) reads with one thread, about
   * 10 MB less, and many small files get every thread at once. By default one fewer than the
   * cores (the main thread, which decrypts and parses, keeps one): on 2 cores a second reader
   * thread made nothing faster (1 GiB verify 3.85 s median either way, 100,000 files' 5.8 s
   * against 5.45 with one) and cost 5-20 MB and its compilations.
   */
  constructor(private readonly count = Math.max(1, Math.min(4, os.availableParallelism() - 1))) {}

  private pick(): EntryThread {
    if (this.threads.length < this.count && this.threads.every((t) => t.pending.size >= 2))
      this.threads.push(entryThread());
    return this.threads[this.next++ % this.threads.length];
  }

  /** Starts an entry; returns how to feed it and its outcome (which settles after `end`). */
  begin(
    id: number,
    header: { codec: Codec; size: number },
    target: FileTarget | undefined,
  ): {
    /** Queues a chunk; a promise only when it must wait (see EntryThread.push). */
    chunk: (stored: Buffer) => Promise<void> | undefined;
    /**
     * Ends the entry: `queued` settles once its end is in a batch (from then on `sent` tells whether
     * that batch has gone; undefined: it is already), `outcome` once the thread has judged it.
     * Whoever waits for the outcome waits for `queued` first: a flush before the end was queued
     * would leave it unsent.
     */
    end: () => { queued: Promise<void> | undefined; outcome: Promise<EntryOutcome> };
    /** The entry's end has gone to its thread (its outcome needs no flush to come). */
    sent: () => boolean;
  } {
    const thread = this.pick();
    let resolve!: (o: EntryOutcome) => void;
    const promise = new Promise<EntryOutcome>((r) => (resolve = r));
    thread.pending.set(id, { promise, resolve });
    let endBatch = -1;
    // Its operations follow the begin: after it, once a wait for it (if any) is over.
    let begun = thread.push({ op: 'begin', id, codec: header.codec, size: header.size, target });
    const after = <T>(then: () => T): T | Promise<T> => {
      if (!begun) return then();
      return begun.then(() => {
        begun = undefined;
        return then();
      });
    };
    const queueEnd = () => {
      endBatch = thread.batches;
      return thread.push({ op: 'end', id });
    };
    return {
      chunk: (stored) => {
        const pushed = after(() => thread.push({ op: 'chunk', id, offset: 0, length: 0 }, stored));
        return pushed instanceof Promise ? pushed.then(() => undefined) : pushed;
      },
      end: () => {
        const queued = after(queueEnd);
        return {
          queued: queued instanceof Promise ? queued.then(() => undefined) : queued,
          outcome: promise,
        };
      },
      sent: () => endBatch >= 0 && thread.batches > endBatch,
    };
  }

  /** Sends every queued operation (before waiting for an outcome). */
  async flush(): Promise<void> {
    await Promise.all(this.threads.map((t) => t.flush()));
  }

  async stop(): Promise<void> {
    await Promise.all(this.threads.map((t) => t.stop()));
  }
}
