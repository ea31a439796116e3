/**
 * Which STOP a damaged archive becomes: an ArchiveError's code decides it, never the words of its
 * message (a file in the root may be called manifest.json, and its name is part of the message).
 * Archives are built frame by frame in memory; no server.
 */
import { createHash } from 'node:crypto';
import { archiveFailure } from '../activities/backupShared';
import {
  ArchiveError,
  END,
  MAGIC,
  frameChunk,
  frameHeader,
  frameTrailer,
  readArchive,
  type ArchiveErrorCode,
} from '../activities/lib/archive';

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** One framed entry; `trailer` overrides what the trailer claims. */
function entry(
  path: string,
  body: Buffer,
  kind = 'file',
  trailer = { sha256: sha(body), size: body.length },
) {
  return Buffer.concat([
    frameHeader({ path, kind, mode: 0o644, mtimeMs: 0, size: body.length, codec: 'store' }),
    frameChunk(body),
    frameTrailer(trailer.sha256, trailer.size),
  ]);
}

function manifestEntry(manifest: object | string): Buffer {
  const body = Buffer.from(typeof manifest === 'string' ? manifest : JSON.stringify(manifest));
  return entry('manifest.json', body, 'manifest');
}

const manifest = (files: object[]) => ({
  specVersion: 1,
  backupId: 'b1',
  kind: 'full',
  target: 't',
  createdAt: '2026-11-21T00:00:00Z',
  createdBy: 'test',
  engineVersion: '1.0.0',
  modules: [],
  files,
  deleted: [],
});

async function readError(...parts: Buffer[]): Promise<ArchiveError> {
  const bytes = Buffer.concat([MAGIC, ...parts, END]);
  async function* source() {
    yield bytes;
  }
  const err = await readArchive(source(), async () => undefined).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ArchiveError);
  // The reader threads (which inflate and hash every entry) find the same, in the same words.
  async function* again() {
    yield bytes;
  }
  const threaded = await readArchive(again(), async () => undefined, undefined, { threadsAfter: 0 }).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(threaded).toBeInstanceOf(ArchiveError);
  expect((threaded as ArchiveError).code).toBe((err as ArchiveError).code);
  expect((threaded as ArchiveError).message).toBe((err as ArchiveError).message);
  return err as ArchiveError;
}

const hello = Buffer.from('hello');
const listed = {
  path: 'a.txt',
  kind: 'file',
  size: 5,
  sha256: sha(hello),
  mode: 0o644,
  mtimeMs: 0,
  storedIn: 'b1',
};

test.each<[string, ArchiveErrorCode, string, () => Promise<ArchiveError>]>([
  [
    'a file named manifest.json whose bytes do not match its trailer',
    'damaged',
    'ChecksumMismatch',
    () => readError(entry('config/manifest.json', hello, 'file', { sha256: sha(Buffer.from('x')), size: 5 })),
  ],
  [
    'an entry whose path climbs out (its name mentions the manifest)',
    'refusedEntry',
    'ChecksumMismatch',
    () => readError(entry('../manifest.json', hello)),
  ],
  ['an archive without a manifest', 'noManifest', 'MissingManifest', () => readError(entry('a.txt', hello))],
  [
    'a manifest that is not JSON',
    'badManifest',
    'MissingManifest',
    () => readError(entry('a.txt', hello), manifestEntry('{"torn')),
  ],
  [
    'a manifest without a file list',
    'badManifest',
    'MissingManifest',
    () => readError(manifestEntry({ ...manifest([]), files: undefined })),
  ],
  [
    'a manifest listing a file the archive lacks',
    'manifestMismatch',
    'ChecksumMismatch',
    () => readError(manifestEntry(manifest([listed]))),
  ],
  [
    'an entry the manifest does not list',
    'manifestMismatch',
    'ChecksumMismatch',
    () => readError(entry('a.txt', hello), entry('b.txt', hello), manifestEntry(manifest([listed]))),
  ],
])('%s: code %s, a %s STOP', async (_what, code, stop, read) => {
  const err = await read();
  expect(err.code).toBe(code);
  const failure = archiveFailure(err, 'b1');
  expect(failure.type).toBe(stop);
  expect(failure.message).toBe(`backup b1: ${err.message}`);
});

test('an intact archive reads without an error', async () => {
  async function* source() {
    yield Buffer.concat([MAGIC, entry('a.txt', hello), manifestEntry(manifest([listed])), END]);
  }
  const result = await readArchive(source(), async () => undefined);
  expect(result.entries.map((e) => e.path)).toEqual(['a.txt']);
});
