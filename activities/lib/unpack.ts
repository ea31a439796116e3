/**
 * Unpacking a backup's chain into a folder: each archive of the chain (oldest first) is read, and
 * every entry the manifest wants from it is checked against the manifest (size, kind, path shape)
 * before its bytes go anywhere, written with `wx` (never over an existing file), checked against the
 * manifest's SHA-256, and given its mode and mtime. Used by restore (staging beside the root), by
 * `lifeboat archive extract` and by `lifeboat self restore`.
 */
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import type { Readable } from 'node:stream';
import { ArchiveError, CHUNK_SIZE, readArchive, type EntryDigest, type ManifestFile } from './archive';

/** Runs tasks with at most `limit` in flight; `add` waits for a free place, `drain` for all (first error wins). */
export class Bounded {
  private readonly running = new Set<Promise<void>>();
  private error: unknown;
  constructor(private readonly limit: number) {}

  async add(task: () => Promise<void>): Promise<void> {
    if (this.error) throw this.error;
    while (this.running.size >= this.limit) await Promise.race(this.running);
    const p: Promise<void> = task()
      .catch((err: unknown) => {
        this.error ??= err;
      })
      .finally(() => this.running.delete(p));
    this.running.add(p);
  }

  async drain(): Promise<void> {
    await Promise.all(this.running);
    if (this.error) throw this.error;
  }
}

/** One archive of a chain: opening it yields its plaintext and a check to run once it has been read. */
export interface ChainArchive {
  backupId: string;
  open: () => Promise<{ plain: Readable; check: () => Promise<void> }>;
}

export interface UnpackProgress {
  files: number;
  total: number;
  bytes: number;
  totalBytes: number;
}

/** Which files to take, by path: a manifest's, all or some. */
export function wantedFiles(files: ManifestFile[], paths?: string[]): Map<string, ManifestFile> {
  return new Map(
    files
      .filter((f) => !paths || paths.some((p) => f.path === p || f.path.startsWith(`${p}/`)))
      .map((f) => [f.path, f]),
  );
}

/**
 * Unpacks `wanted` from `chain` into `dest` (which exists). Throws at the first problem, with
 * `failure(err, backupId)` applied to errors of reading an archive; the caller removes what was
 * written. Resolves when every wanted file is written and synced; a file the chain lacks is an
 * ArchiveError naming it.
 */
export async function unpackChain(options: {
  chain: ChainArchive[];
  wanted: Map<string, ManifestFile>;
  dest: string;
  progress?: (p: UnpackProgress) => void;
  failure?: (err: unknown, backupId: string) => Error;
  /** Mode bits a file may get (default all of 0o7777). */
  modeMask?: number;
}): Promise<{ files: number; bytes: number }> {
  const modeMask = options.modeMask ?? 0o7777;
  const { wanted, dest } = options;
  const failure = options.failure ?? ((err: unknown) => err as Error);
  const written = new Set<string>();
  const finishing = new Bounded(16);
  const made = new Set<string>();
  const totalBytes = [...wanted.values()].reduce((n, f) => n + f.size, 0);
  let bytes = 0;
  const report = () => options.progress?.({ files: written.size, total: wanted.size, bytes, totalBytes });
  for (const { backupId: id, open } of options.chain) {
    try {
      const { plain, check } = await open();
      await readArchive(plain, async (header) => {
        const want = wanted.get(header.path);
        if (!want || want.storedIn !== id) return undefined;
        if (want.size !== header.size || want.kind !== header.kind) {
          throw new ArchiveError(
            `entry ${JSON.stringify(header.path)} does not match the manifest (${header.size} bytes, expected ${want.size})`,
            'manifestMismatch',
          );
        }
        const file = path.join(dest, ...header.path.split('/'));
        if (!file.startsWith(`${dest}${path.sep}`))
          throw new ArchiveError(
            `entry ${JSON.stringify(header.path)} would leave the folder ${dest}`,
            'refusedEntry',
          );
        const dir = path.dirname(file);
        if (!made.has(dir)) {
          await fsp.mkdir(dir, { recursive: true });
          made.add(dir);
        }
        const finish = async (out: fsp.FileHandle) => {
          await out.sync();
          await out.close();
          await fsp.chmod(file, want.mode & modeMask);
          // Seconds as a number keep the sub-millisecond part (a Date would drop it).
          await fsp.utimes(file, want.mtimeMs / 1000, want.mtimeMs / 1000);
          written.add(header.path);
        };
        const checked = (digest: EntryDigest) => {
          if (digest.sha256 !== want.sha256)
            throw new ArchiveError(
              `${JSON.stringify(header.path)} does not match the manifest's checksum`,
              'manifestMismatch',
            );
        };
        if (header.size <= CHUNK_SIZE) {
          // A small file is kept in memory and written whole in the background (a few at a
          // time), so decryption does not wait for its open, write, fsync, mode and mtime.
          const parts: Buffer[] = [];
          return {
            write: async (chunk) => {
              parts.push(chunk);
              bytes += chunk.length;
            },
            close: async (digest) => {
              checked(digest);
              await finishing.add(async () => {
                const out = await fsp.open(file, 'wx');
                try {
                  await out.writeFile(Buffer.concat(parts));
                } catch (err) {
                  await out.close();
                  throw err;
                }
                await finish(out);
              });
              report();
            },
          };
        }
        const out = await fsp.open(file, 'wx');
        return {
          write: async (chunk) => {
            await out.write(chunk);
            bytes += chunk.length;
            report();
          },
          close: async (digest) => {
            try {
              checked(digest);
            } catch (err) {
              await out.close();
              throw err;
            }
            // fsync, mode and mtime run while the next entries are decrypted.
            await finishing.add(() => finish(out));
          },
        };
      });
      await check();
    } catch (err) {
      await finishing.drain().catch(() => undefined);
      throw failure(err, id);
    }
  }
  await finishing.drain();
  const missing = [...wanted.keys()].filter((p) => !written.has(p));
  if (missing.length) {
    throw new ArchiveError(
      `the chain lacks ${missing.length} file(s) its manifest lists: ${missing.slice(0, 5).join(', ')}`,
      'manifestMismatch',
    );
  }
  return { files: written.size, bytes };
}
