/**
 * The code of a reading side's worker thread (entryThreads.ts feeds it): it inflates or
 * decompresses an entry's chunks, hashes them, and writes them to the entry's file when it has one,
 * and answers each batch with what it found. A string run with `eval: true`, for the reason
 * archiveAhead.ts gives.
 */
import { THREAD_GC, type Codec } from './archiveFormat';

/**
 * An operation travels as OP_FIELDS numbers in a Float64Array — begin: 1, id, size, codec (CODECS),
 * the target's mode (-1: none) and mtimeMs; chunk: 2, id, offset, length; end: 3, id — with the
 * targets' file names beside them: cloning 300,000 small objects (100,000 files) took the main
 * thread 0.4 s, numbers take a copy.
 */
export const OP_FIELDS = 6;
/** A codec as the number an operation carries. */
export const CODECS: Record<Codec, number> = { store: 0, deflate: 1, zstd: 2 };

export const ENTRY_THREAD_SOURCE = `
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
