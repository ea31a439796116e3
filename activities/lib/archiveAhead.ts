/**
 * Reading, hashing and compressing an archive's files ahead of its writer (archive.ts), in worker
 * threads, so that the cores work at once: the workers read, hash (SHA-256 of the original bytes)
 * and zstd-compress (zstd.ts) chunk by chunk while the main thread frames, encrypts and writes.
 *
 * Each file goes to one worker (in turn, asked for in batches); a worker handles its files one
 * after another and sends their chunks to the main thread, many small files to a message. A worker
 * may be at most WINDOW_UNITS × UNIT bytes ahead of the writer (credits in shared memory, waited on
 * with Atomics.wait, after sending what it gathered), so memory stays bounded whatever the sizes,
 * and the writer, which takes files in order, never waits for a worker that waits for it.
 *
 * The worker's code is a string run with `eval: true`: it then runs the same under jest, tsx and
 * the compiled dist/, none of which would otherwise agree on a worker file's path and language.
 */
import * as os from 'node:os';
import { MessageChannel, Worker } from 'node:worker_threads';
import { CHUNK_SIZE, THREAD_LIMITS, type Codec, type SourceEntry } from './archiveFormat';
import { withGc } from './youngGc';
import { ZSTD_LEVEL, zstdBinding } from './zstd';

/** What a worker may send before the writer has taken it, in units of UNIT bytes (a chunk is at least one). */
const UNIT = 64 * 1024;
const WINDOW_UNITS = 64;
/** Files asked for ahead of the one being written. */
const AHEAD_FILES = 256;
/** A slot holds a chunk, raw or compressed (zstd adds a few bytes to what does not compress). */
const SLOT = CHUNK_SIZE + 4096;

/** The workers' count: the cores, at least 1, at most 4 (the main thread has its own work). */
export function aheadWorkers(): number {
  return Math.max(1, Math.min(4, os.availableParallelism()));
}

/** Bytes besides the largest file that make another worker worth its start. */
const WORKER_BYTES = 8 * 1024 * 1024;

/**
 * The workers `entries` need when their sizes are known: none for no file, and one more than
 * the largest file's (one file is one worker's) only for every WORKER_BYTES of the others. A
 * worker costs its start (40-150 ms of a core, the most of it when the cores are busy): a small
 * incremental, one changed 39 MB database and a few small files, waited longer with two than with one.
 */
export function workersFor(entries: readonly SourceEntry[], most = aheadWorkers()): number {
  if (entries.length === 0) return 0;
  if (entries.some((e) => e.size === undefined)) return most;
  const sizes = entries.map((e) => e.size!);
  const others = sizes.reduce((n, s) => n + s, 0) - Math.max(...sizes);
  return Math.max(1, Math.min(most, entries.length, 1 + Math.floor(others / WORKER_BYTES)));
}

// Runs in the worker. `credits[0]`: units (64 KiB, at least one per chunk) it may still send;
// `credits[1]`: 1 when told to stop. A large chunk travels in a slot, a buffer of SLOT bytes
// transferred to the main thread and back (on `slots`), so that the worker allocates a few and no
// memory is freed by a thread that did not allocate it; small chunks travel packed into one such
// slot (the message's \`pack\`), with their other events, in one message for many files (100,000
// small files are not 300,000 messages), the pack coming back once the writer has copied them all.
const WORKER_SOURCE = `
const { parentPort, workerData, receiveMessageOnPort } = require('node:worker_threads');
const fs = require('node:fs');
const { createHash } = require('node:crypto');
const zstd = require(workerData.zstdBinding);
const { chunkSize, slotSize, unit, credits: sab, slots, level } = workerData;
const credits = new Int32Array(sab);
const spare = [];
let events = [];
let transfer = [];
let pending = 0;
let pack, packUsed = 0;
function flush() {
  if (pack) transfer.push(pack.buffer);
  if (events.length) parentPort.postMessage({ events, pack: pack && pack.buffer }, transfer);
  events = []; transfer = []; pending = 0; pack = undefined; packUsed = 0;
}
function emit(event, bytes) {
  events.push(event);
  pending += bytes;
  if (pending >= slotSize || events.length >= 512) flush();
}
// A small chunk's bytes into the message's pack (a slot); where they do not fit, the message goes first.
function packChunk(event, bytes) {
  if (pack && packUsed + bytes.length > pack.length) flush();
  if (!pack) pack = slot();
  bytes.copy(pack, packUsed);
  event.offset = packUsed;
  event.length = bytes.length;
  packUsed += bytes.length;
  emit(event, bytes.length);
}
function stopped() { return Atomics.load(credits, 1) === 1; }
function take(n) {
  for (;;) {
    if (stopped()) return false;
    const now = Atomics.load(credits, 0);
    if (now >= n) { if (Atomics.compareExchange(credits, 0, now, now - n) === now) return true; continue; }
    flush(); // what is gathered must reach the writer before this waits for it
    Atomics.wait(credits, 0, now, 1000);
  }
}
function slot() {
  for (let m; (m = receiveMessageOnPort(slots)); ) spare.push(m.message);
  return Buffer.from(spare.pop() || new ArrayBuffer(slotSize));
}
// One compression context and one output buffer for the thread's life: the result is a view of
// it, copied into the message or the slot before the next chunk is compressed.
const cctx = new zstd.CCtx();
cctx.setParameter(zstd.CParameter.compressionLevel, level);
const packedBuf = Buffer.allocUnsafe(zstd.compressBound(chunkSize));
function compress(raw) {
  return packedBuf.subarray(0, cctx.compress2(packedBuf, raw));
}
function readFile(id, source, path) {
  const fd = fs.openSync(source, 'r');
  try {
    const size = fs.fstatSync(fd).size;
    const hash = createHash('sha256');
    let codec = 'store';
    for (let position = 0; position < size; ) {
      const want = Math.min(chunkSize, size - position);
      const units = Math.max(1, Math.ceil(want / unit));
      if (!take(units)) return;
      const buf = slot();
      const raw = buf.subarray(0, want);
      for (let got = 0; got < want; ) {
        const n = fs.readSync(fd, raw, got, want - got, position + got);
        if (n === 0) throw new Error(path + ' shrank while it was being backed up; run the backup again (a quiesce command prevents this)');
        got += n;
      }
      hash.update(raw);
      let packed;
      if (position === 0) {
        packed = want < 512 ? undefined : compress(raw);
        if (packed && packed.length < want * 0.9) codec = 'zstd';
        emit({ id, type: 'open', size, codec }, 0);
      } else if (codec === 'zstd') packed = compress(raw);
      position += want;
      const stored = codec === 'zstd' ? packed : raw;
      if (stored.length <= unit) {
        // Small: copied into the message's pack; the slot it was read into stays here.
        packChunk({ id, type: 'chunk', raw: want, units, packed: true }, stored);
        spare.push(buf.buffer);
      } else {
        let data = buf.buffer;
        if (stored !== raw) {
          if (stored.length <= slotSize) stored.copy(buf);
          else data = new Uint8Array(stored).buffer;
        }
        transfer.push(data);
        emit({ id, type: 'chunk', raw: want, units, data, length: stored.length }, slotSize);
      }
    }
    if (size === 0) emit({ id, type: 'open', size, codec }, 0);
    emit({ id, type: 'end', sha256: hash.digest('hex'), size }, 0);
  } finally {
    fs.closeSync(fd);
  }
}
parentPort.on('message', (files) => {
  for (const { id, source, path } of files) {
    try { readFile(id, source, path); }
    catch (err) { emit({ id, type: 'error', message: err.message, code: err.code }, 0); }
  }
  flush();
});
`;

type FromWorker =
  | { id: number; type: 'open'; size: number; codec: Codec }
  | { id: number; type: 'chunk'; raw: number; units: number; data: ArrayBuffer; length: number }
  | {
      id: number;
      type: 'chunk';
      raw: number;
      units: number;
      packed: true;
      offset: number;
      length: number;
      /** Set on arrival. */
      pack?: Pack;
    }
  | { id: number; type: 'end'; sha256: string; size: number }
  | { id: number; type: 'error'; message: string; code?: string };

export interface ReadChunk {
  /** The chunk's length before compression. */
  raw: number;
  /**
   * The bytes the archive stores for it. A small chunk's (64 KiB or less) are a view of its
   * message's pack, which goes back to the worker to be filled again once the next chunk is asked
   * for: whoever keeps them copies them first (archive.ts's Batcher does).
   */
  stored: Buffer;
}

/** A message's pack of small chunks, back to its worker once every chunk in it has been taken. */
interface Pack {
  buffer: ArrayBuffer;
  chunks: number;
}

/** One file read by a worker: its size and codec once opened, its chunks, and its digest at the end. */
export class FileAhead {
  size!: number;
  codec!: Codec;
  digest: { sha256: string; size: number } | undefined;
  private readonly messages: FromWorker[] = [];
  private wake: (() => void) | undefined;

  constructor(
    readonly entry: SourceEntry,
    private readonly credit: (units: number, slot?: ArrayBuffer) => void,
  ) {}

  deliver(message: FromWorker): void {
    this.messages.push(message);
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }

  private async next(): Promise<FromWorker> {
    while (this.messages.length === 0) await new Promise<void>((resolve) => (this.wake = resolve));
    return this.messages.shift()!;
  }

  private failed(message: Extract<FromWorker, { type: 'error' }>): Error {
    return Object.assign(new Error(message.message), message.code ? { code: message.code } : {});
  }

  /** Waits until the worker has opened the file and judged its first chunk. */
  async open(): Promise<void> {
    const first = await this.next();
    if (first.type === 'error') throw this.failed(first);
    if (first.type !== 'open') throw new Error(`archive reader: unexpected ${first.type} before open`);
    this.size = first.size;
    this.codec = first.codec;
  }

  /** The file's chunks in order; a read that failed throws here; `digest` is set at the end. */
  async *read(): AsyncGenerator<ReadChunk> {
    for (;;) {
      const message = await this.next();
      if (message.type === 'chunk') {
        if ('packed' in message) {
          const { pack } = message;
          this.credit(message.units);
          yield { raw: message.raw, stored: Buffer.from(pack!.buffer, message.offset, message.length) };
          // Asked for the next: the consumer is done with this one (ReadChunk.stored).
          if (--pack!.chunks === 0) this.credit(0, pack!.buffer);
          continue;
        }
        const stored = Buffer.allocUnsafe(message.length);
        stored.set(new Uint8Array(message.data, 0, message.length));
        this.credit(message.units, message.data);
        yield { raw: message.raw, stored };
      } else if (message.type === 'end') {
        this.digest = { sha256: message.sha256, size: message.size };
        return;
      } else if (message.type === 'error') throw this.failed(message);
      else throw new Error(`archive reader: unexpected ${message.type}`);
    }
  }
}

class AheadWorker {
  private readonly credits = new Int32Array(new SharedArrayBuffer(8));
  private readonly slots = new MessageChannel();
  private readonly worker: Worker;
  private readonly files = new Map<number, FileAhead>();
  private crashed: Error | undefined;

  constructor(binding: string) {
    Atomics.store(this.credits, 0, WINDOW_UNITS);
    this.worker = withGc(
      () =>
        new Worker(WORKER_SOURCE, {
          eval: true,
          resourceLimits: THREAD_LIMITS,
          workerData: {
            chunkSize: CHUNK_SIZE,
            slotSize: SLOT,
            unit: UNIT,
            credits: this.credits.buffer,
            slots: this.slots.port2,
            zstdBinding: binding,
            level: ZSTD_LEVEL,
          },
          transferList: [this.slots.port2],
        }),
    );
    this.worker.on('message', ({ events, pack }: { events: FromWorker[]; pack?: ArrayBuffer }) => {
      const packOf: Pack | undefined = pack && { buffer: pack, chunks: 0 };
      for (const event of events) {
        if (packOf && event.type === 'chunk' && 'packed' in event) {
          event.pack = packOf;
          packOf.chunks += 1;
        }
        this.files.get(event.id)?.deliver(event);
      }
    });
    this.worker.on('error', (err) => this.fail(err));
    this.worker.on('exit', (code) => this.fail(new Error(`archive reader thread exited (${code})`)));
  }

  private fail(err: Error): void {
    this.crashed ??= err;
    for (const [id, file] of this.files) file.deliver({ id, type: 'error', message: err.message });
  }

  private requests: { id: number; source: string; path: string }[] = [];

  /** A file for this worker to read; `send` passes on what was asked since the last time. */
  read(id: number, entry: SourceEntry): FileAhead {
    const file = new FileAhead(entry, (units, slot) => {
      // The slot goes back before the credit, so the worker finds it when it takes the credit.
      if (slot?.byteLength === SLOT) this.slots.port1.postMessage(slot, [slot]);
      Atomics.add(this.credits, 0, units);
      Atomics.notify(this.credits, 0);
    });
    this.files.set(id, file);
    if (this.crashed) file.deliver({ id, type: 'error', message: this.crashed.message });
    else this.requests.push({ id, source: entry.source, path: entry.path });
    return file;
  }

  send(): void {
    if (this.requests.length && !this.crashed) this.worker.postMessage(this.requests);
    this.requests = [];
  }

  done(id: number): void {
    this.files.delete(id);
  }

  async stop(): Promise<void> {
    Atomics.store(this.credits, 1, 1);
    Atomics.notify(this.credits, 0);
    this.crashed ??= new Error('stopped');
    this.slots.port1.close();
    await this.worker.terminate();
  }
}

/**
 * The files of `entries`, read ahead by worker threads, in order. The workers end with the
 * generator (also when its consumer stops early).
 */
export async function* readAhead(
  entries: Iterable<SourceEntry> | AsyncIterable<SourceEntry>,
  workers = Array.isArray(entries) ? workersFor(entries) : aheadWorkers(),
): AsyncGenerator<FileAhead> {
  if (workers === 0) return;
  const binding = zstdBinding();
  if (!binding)
    throw new Error('writing a backup needs the zstd-napi module: run npm ci (node scripts/setup.js)');
  const pool = Array.from({ length: workers }, () => new AheadWorker(binding));
  // Files are asked for in batches, up to AHEAD_FILES ahead: a worker always has the next ones,
  // and memory is bounded by the credits, not by how many files wait.
  const queued: { file: FileAhead; worker: AheadWorker; id: number }[] = [];
  const source = (async function* () {
    yield* entries;
  })();
  let id = 0;
  let exhausted = false;
  try {
    for (;;) {
      if (queued.length < AHEAD_FILES / 2) {
        while (!exhausted && queued.length < AHEAD_FILES) {
          const next = await source.next();
          if (next.done) exhausted = true;
          else {
            const worker = pool[id % workers];
            queued.push({ file: worker.read(id, next.value), worker, id });
            id += 1;
          }
        }
        for (const worker of pool) worker.send();
      }
      const head = queued.shift();
      if (!head) return;
      await head.file.open();
      yield head.file;
      head.worker.done(head.id);
    }
  } finally {
    await Promise.all(pool.map((w) => w.stop()));
  }
}
