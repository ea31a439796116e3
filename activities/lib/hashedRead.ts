/**
 * Reading a file in a worker thread that takes its SHA-256 on the way, and hands the bytes to the
 * main thread without copying them (each piece's memory is transferred). An archive's reader uses
 * it: the main thread, which decrypts and parses, then neither reads nor hashes the ciphertext
 * (0.6 s of a 1 GiB set's verification), and the pieces arrive in order, hashed exactly once.
 *
 * The thread reads only as far ahead as the stream asks (WINDOW pieces). At the end of the file it
 * reports the SHA-256 and size and ends; `digest()` before that has it read and hash whatever was
 * not asked for (trailing bytes). A stream destroyed early ends the thread.
 *
 * The thread may be started before its file is known (`warmHashedRead`); it is told the file first.
 * The thread's code is a string run with `eval: true`, for the reason archiveAhead.ts gives.
 */
import { Readable } from 'node:stream';
import { Worker } from 'node:worker_threads';
import { THREAD_LIMITS } from './archiveFormat';
import { Spare } from './spare';

/** 256 KiB reads: 64 KiB left the decryptor waiting; 1 MiB was no faster and held 25 MB more. */
const PIECE = 256 * 1024;
/** Pieces asked for at once. */
const WINDOW = 4;

const THREAD_SOURCE = `
const { parentPort } = require('node:worker_threads');
const fs = require('node:fs');
const { createHash } = require('node:crypto');
const hash = createHash('sha256');
let fd;
let size = 0;
let eof = false;
function fail(err) { parentPort.postMessage({ error: err.message, code: err.code }); }
function read(buf) {
  const n = fs.readSync(fd, buf, 0, buf.length, null);
  if (n === 0) eof = true;
  else { hash.update(buf.subarray(0, n)); size += n; }
  return n;
}
function done() {
  fs.closeSync(fd);
  fd = undefined;
  parentPort.postMessage({ sha256: hash.digest('hex'), size });
}
let opened = false;
parentPort.on('message', (m) => {
  if (m.open !== undefined && !opened) {
    opened = true;
    try { fd = fs.openSync(m.open, 'r'); } catch (err) { fail(err); }
  }
  if (fd === undefined) return;
  try {
    for (const ab of m.more || []) {
      if (eof) break;
      const buf = new Uint8Array(ab);
      const n = read(buf);
      if (n) parentPort.postMessage({ data: buf.buffer, length: n }, [buf.buffer]);
      else done();
    }
    if (m.finish) {
      const buf = new Uint8Array(65536);
      while (!eof) read(buf);
      done();
    }
  } catch (err) { fail(err); }
});
`;

type Message =
  { data: ArrayBuffer; length: number } | { error: string; code?: string } | { sha256: string; size: number };

export interface HashedRead {
  /** The file's bytes, in pieces of up to 256 KiB. */
  stream: Readable;
  /** The whole file's SHA-256 and size (what was not read through `stream` is read here). */
  digest: () => Promise<{ sha256: string; size: number }>;
}

function thread(): Worker {
  const worker = new Worker(THREAD_SOURCE, { eval: true, resourceLimits: THREAD_LIMITS });
  // The thread never keeps a process alive; it is ended with the read.
  worker.unref();
  return worker;
}

/** The next read's thread, started ahead (`warmHashedRead`). */
const spare = new Spare<Worker>((worker) => void worker.terminate());

/**
 * Starts the next `hashedRead`'s thread now: its boot (some 60 ms) then overlaps the caller's own
 * preparation (reading a manifest from the catalog) instead of delaying the archive's first bytes.
 * Untaken, it ends after a while (spare.ts). One spare at a time: false when there already is one.
 */
export function warmHashedRead(): boolean {
  return spare.offer(() => {
    const worker = thread();
    // A spare that failed to start ends: it is not handed out (and its error is not thrown here).
    worker.on('error', () => undefined);
    worker.once('exit', () => spare.drop(worker));
    return worker;
  });
}

export function hashedRead(file: string): HashedRead {
  const worker = spare.take() ?? thread();
  worker.postMessage({ open: file });
  let asked = 0;
  let digest: { sha256: string; size: number } | undefined;
  let digested: ((d: { sha256: string; size: number }) => void) | undefined;
  let failed: ((err: Error) => void) | undefined;
  let ended = false;
  const end = () => {
    if (ended) return;
    ended = true;
    void worker.terminate();
  };
  // Object mode: pieces reach the reader as they are (a byte-mode stream concatenates what is
  // buffered, a copy at every read); WINDOW pieces ahead.
  const stream = new Readable({
    objectMode: true,
    highWaterMark: WINDOW,
    read() {
      // Ask again when half the window has arrived, so that the thread is rarely idle.
      if (asked <= WINDOW / 2 && !ended) {
        // Memory this thread allocates (and frees): none freed by a thread that did not allocate it.
        // Not zero-filled (`new ArrayBuffer` clears 256 KiB per piece: 0.08 s of the main thread
        // per GiB): the thread reads into it, and only the bytes it read are ever looked at.
        const more = Array.from({ length: WINDOW - asked }, () => Buffer.allocUnsafeSlow(PIECE).buffer);
        worker.postMessage({ more }, more);
        asked = WINDOW;
      }
    },
    destroy(err, cb) {
      if (!digested) end();
      cb(err);
    },
  });
  const problem = (err: Error) => {
    if (failed) failed(err);
    else stream.destroy(err);
    end();
  };
  worker.on('message', (m: Message) => {
    if ('error' in m) problem(Object.assign(new Error(m.error), { code: m.code }));
    else if ('sha256' in m) {
      // At the end of the file (the stream ends) or when asked for (digest()).
      digest = m;
      end();
      if (digested) digested(m);
      else if (!stream.destroyed) stream.push(null);
    } else if (stream.destroyed || digested) return;
    else {
      asked -= 1;
      stream.push(Buffer.from(m.data, 0, m.length));
    }
  });
  worker.on('error', (err) => problem(err));
  worker.on('exit', (code) => {
    if (!ended) problem(new Error(`the file reader thread exited (${code})`));
  });
  return {
    stream,
    digest: () =>
      new Promise((resolve, reject) => {
        if (digest) resolve(digest);
        else if (ended) {
          reject(new Error(`the read of ${file} was abandoned before its SHA-256 was taken`));
        } else {
          digested = resolve;
          failed = reject;
          worker.postMessage({ finish: true });
        }
      }),
  };
}
