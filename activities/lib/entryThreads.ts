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
 * (unpack.ts syncs the file system once at the end).
 *
 * The thread's code is a string run with `eval: true`, for the reason archiveAhead.ts gives.
 */
import * as os from 'node:os';
import { Worker } from 'node:worker_threads';
import { withGc } from './youngGc';
import { CHUNK_SIZE, MAX_CHUNK, THREAD_GC, THREAD_LIMITS, type Codec } from './archiveFormat';
import { zstdBinding } from './zstd';

const WINDOW = 4;
const SLOT = CHUNK_SIZE + 8192;
/**
 * Operations in a batch at most: a batch goes out at this count, so that a thread has its next
 * small files' work while the reader is still a few hundred entries ahead of its judging (100,000
 * small files: some 3,000 messages, where one per file took the main thread 0.4 s).
 */
const MAX_OPS = 96;
/**
 * An operation travels as OP_FIELDS numbers in a Float64Array — begin: 1, id, size, codec (CODECS),
 * the target's mode (-1: none) and mtimeMs; chunk: 2, id, offset, length; end: 3, id — with the
 * targets' file names beside them: cloning 300,000 small objects (100,000 files) took the main
 * thread 0.4 s, numbers take a copy.
 */
const OP_FIELDS = 6;
/** A codec as the number an operation carries. */
const CODECS: Record<Codec, number> = { store: 0, deflate: 1, zstd: 2 };

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

const THREAD_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const fs = require('node:fs');
const { createHash } = require('node:crypto');
const zlib = require('node:zlib');
const { maxChunk, slotSize, chunkSize, zstdBinding } = workerData;
${THREAD_GC}
// zstd (zstd.ts has the same checks): one frame declaring 1..room bytes, decompressed into a buffer
// of exactly that size, this thread's own (the bytes are hashed and written before the next chunk).
let zstd, dctx, out = Buffer.alloc(0);
function unzstd(stored, room) {
  if (!dctx) { zstd = require(zstdBinding); dctx = new zstd.DCtx(); }
  let size;
  try { size = zstd.getFrameContentSize(stored); } catch { return 'corrupt'; }
  if (!size) return 'corrupt';
  if (size > room) return 'tooLarge';
  if (out.length < size) out = Buffer.allocUnsafe(Math.max(size, chunkSize));
  const into = out.subarray(0, size);
  let written;
  try { written = dctx.decompress(into, stored); }
  catch (err) { return /too small/i.test(err.message) ? 'tooLarge' : 'corrupt'; }
  return written === size ? into : 'corrupt';
}
const entries = new Map();
function fail(e, outcome) {
  e.outcome = outcome;
  if (e.fd !== undefined) { try { fs.closeSync(e.fd); } catch {} e.fd = undefined; }
}
function run(op, data) {
  if (op.op === 'begin') {
    const e = { codec: op.codec, expected: op.size, size: 0, hash: createHash('sha256'), target: op.target };
    entries.set(op.id, e);
    if (op.target) {
      try { e.fd = fs.openSync(op.target.file, 'wx', 0o600); }
      catch (err) { fail(e, { ok: false, problem: 'io', message: err.message, code: err.code }); }
    }
    return undefined;
  }
  const e = entries.get(op.id);
  if (op.op === 'chunk') {
    if (e.outcome) return undefined;
    const stored = data.subarray(op.offset, op.offset + op.length);
    let chunk = stored;
    const room = Math.max(1, Math.min(e.expected - e.size, maxChunk));
    if (e.codec === ${CODECS.zstd}) {
      chunk = unzstd(stored, room);
      if (typeof chunk === 'string') { fail(e, { ok: false, problem: chunk }); return undefined; }
    } else if (e.codec === ${CODECS.deflate}) {
      // One output buffer a byte larger than a writer's chunk: no second buffer, no concatenation.
      try { chunk = zlib.inflateRawSync(stored, { maxOutputLength: room, chunkSize: Math.max(64, Math.min(room, chunkSize) + 1) }); spent(chunk.length); }
      catch (err) { fail(e, { ok: false, problem: err.code === 'ERR_BUFFER_TOO_LARGE' ? 'tooLarge' : 'corrupt' }); return undefined; }
    }
    e.size += chunk.length;
    if (e.size > e.expected) { fail(e, { ok: false, problem: 'tooLarge' }); return undefined; }
    e.hash.update(chunk);
    if (e.fd !== undefined) {
      try { for (let done = 0; done < chunk.length; ) done += fs.writeSync(e.fd, chunk, done); }
      catch (err) { fail(e, { ok: false, problem: 'io', message: err.message, code: err.code }); }
    }
    return undefined;
  }
  entries.delete(op.id);
  if (e.outcome) return { id: op.id, outcome: e.outcome };
  if (e.fd !== undefined) {
    try {
      fs.fchmodSync(e.fd, e.target.mode);
      fs.futimesSync(e.fd, e.target.mtimeMs / 1000, e.target.mtimeMs / 1000);
      fs.closeSync(e.fd);
    } catch (err) { fail(e, { ok: false, problem: 'io', message: err.message, code: err.code }); return { id: op.id, outcome: e.outcome }; }
  }
  return { id: op.id, outcome: { ok: true, sha256: e.hash.digest('hex'), size: e.size } };
}
parentPort.on('message', ({ codes, files, data }) => {
  const buf = data ? Buffer.from(data) : undefined;
  const results = [];
  // Operations come as numbers, OP_FIELDS to an operation (and the files of those that write one).
  for (let k = 0, f = 0; k < codes.length; k += ${OP_FIELDS}) {
    const kind = codes[k], id = codes[k + 1];
    const op = kind === 1
      ? { op: 'begin', id, size: codes[k + 2], codec: codes[k + 3],
          target: codes[k + 4] >= 0 ? { file: files[f++], mode: codes[k + 4], mtimeMs: codes[k + 5] } : undefined }
      : kind === 2 ? { op: 'chunk', id, offset: codes[k + 2], length: codes[k + 3] } : { op: 'end', id };
    const r = run(op, buf); if (r) results.push(r);
  }
  parentPort.postMessage({ results, slot: data && data.byteLength === slotSize ? data : undefined }, data && data.byteLength === slotSize ? [data] : []);
});
`;

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
        new Worker(THREAD_SOURCE, {
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
      this.threads.push(new EntryThread());
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
