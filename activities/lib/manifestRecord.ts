/**
 * A verification's short way (verification.ts), when the catalog holds the manifest recorded when
 * the backup was made: the archive's entries are held to that text's files as they are read, and
 * the archive's manifest entry to the SHA-256 of that text as the archive holds it (pretty-printed:
 * `PrettyDigest`), so the reader keeps no entry's digest and parses no manifest. 100,000 files:
 * about 6 MB held (the recorded files' paths in one string, their sizes, kinds and SHA-256s in
 * arrays) where the full way held some 50 MB of objects at its end; the verification's peak RSS
 * 260 -> 226 MiB, its time the same (reading the recorded text, 0.7-0.9 s, is what the full way
 * spent on the archive's manifest and on collecting 100,000 entries' garbage).
 *
 * What it vouches for is what the full way checks: the archive's manifest is byte for byte the
 * recorded text pretty-printed (so JSON equal to it); that text is a usable manifest of this backup (its version, fields and shape, each
 * item as manifestProblems checks it, one `files` array); and the archive's entries are exactly its
 * files stored in this archive, in its order, with their path, kind, size and SHA-256. Whenever it
 * cannot say so — a text that is not such a manifest, entries in another order, any difference —
 * the caller reads the archive the full way, which words the problem (or accepts what this way
 * does not, such as a row serialised by other code).
 */
import { createHash } from 'node:crypto';
import type { EntryDigest } from './archiveFormat';
import { fileShapeChecker, manifestProblems, type Manifest, type ManifestFile } from './manifest';
import { JSON_BYTES, ManifestJsonError, ManifestParser } from './manifestParse';

const SHA_BYTES = 32;
const { QUOTE, BACKSLASH, COMMA, COLON, OPEN_OBJECT, CLOSE_OBJECT, OPEN_ARRAY, CLOSE_ARRAY } = JSON_BYTES;
const NEWLINE = 0x0a;
const SPACE = 0x20;

/**
 * The SHA-256 of `JSON.stringify(JSON.parse(text), null, 1)` — the manifest as an archive holds it
 * (manifest.ts, prettyManifestPieces) — taken from `text` as it streams by, without parsing it:
 * whitespace outside strings is dropped, and a newline and the indent put after an opening bracket
 * (unless it closes at once), after a comma and before a closing bracket, a space after a colon.
 * Only whitespace between tokens changes, so the result is JSON equal to `text` whatever that is;
 * for the catalog's texts (JSON.stringify's) it is byte for byte what the archive's manifest is.
 */
export class PrettyDigest {
  private readonly hash = createHash('sha256');
  private readonly out = Buffer.allocUnsafe(64 * 1024);
  private used = 0;
  private depth = 0;
  private inString = false;
  private escaped = false;
  /** An opening bracket was the last token: an empty object or array stays on its line. */
  private opened = false;

  write(piece: Buffer): void {
    // Locals in the loop, fields between pieces: a field read and written per byte was 15 ns a byte.
    const { out } = this;
    let { used, depth, inString, escaped, opened } = this;
    const room = out.length - 1024;
    for (let i = 0; i < piece.length; i++) {
      const b = piece[i];
      if (used > room) {
        this.hash.update(out.subarray(0, used));
        used = 0;
      }
      if (inString) {
        out[used++] = b;
        if (escaped) escaped = false;
        else if (b === BACKSLASH) escaped = true;
        else if (b === QUOTE) inString = false;
        continue;
      }
      if (b === SPACE || b === NEWLINE || b === 0x09 || b === 0x0d) continue;
      const closing = b === CLOSE_OBJECT || b === CLOSE_ARRAY;
      let indent = -1;
      if (opened) {
        opened = false;
        if (!closing) indent = ++depth;
      } else if (closing) indent = --depth;
      if (indent >= 0) used = this.newline(used, indent);
      out[used++] = b;
      if (b === QUOTE) inString = true;
      else if (b === OPEN_OBJECT || b === OPEN_ARRAY) opened = true;
      else if (b === COMMA) used = this.newline(used, depth);
      else if (b === COLON) out[used++] = SPACE;
    }
    Object.assign(this, { used, depth, inString, escaped, opened });
  }

  digest(): string {
    this.flush();
    return this.hash.digest('hex');
  }

  /** A newline and `depth` spaces at `used`; returns where the next byte goes. */
  private newline(used: number, depth: number): number {
    const { out } = this;
    out[used++] = NEWLINE;
    for (let d = 0; d < depth; d++) {
      // Deeper than a manifest nests (an item's fields are at 3): written in pieces.
      if (used === out.length) {
        this.hash.update(out);
        used = 0;
      }
      out[used++] = SPACE;
    }
    return used;
  }

  private flush(): void {
    this.hash.update(this.out.subarray(0, this.used));
    this.used = 0;
  }
}

export class RecordedFiles {
  /** Entries checked so far. */
  private at = 0;
  private differs = false;

  private constructor(
    /** SHA-256 of the recorded text pretty-printed: what the archive's manifest entry must hash to. */
    readonly manifestSha256: string,
    /** The files stored in this archive, in the manifest's order: their paths end to end. */
    private readonly paths: string,
    /** Where each path starts in `paths` (and the end after the last). */
    private readonly offsets: Uint32Array,
    private readonly sizes: Float64Array,
    private readonly sqlite: Uint8Array,
    private readonly shas: Buffer,
  ) {}

  get count(): number {
    return this.sizes.length;
  }

  /**
   * The recorded manifest of `backupId`, read from `pieces` (Catalog.manifestPieces); undefined
   * when there is none, or it is not a usable manifest of that backup (the full way says why).
   */
  static read(
    pieces: (each: (piece: Buffer) => void) => boolean,
    backupId: string,
  ): RecordedFiles | undefined {
    const pretty = new PrettyDigest();
    const paths: string[] = [];
    const sizes: number[] = [];
    const sqlite: number[] = [];
    let shas = Buffer.allocUnsafe(SHA_BYTES * 4096);
    let problem = false;
    const shape = fileShapeChecker();
    const parser = new ManifestParser((items) => {
      for (const item of items) {
        if (problem || shape(item)) {
          problem = true;
          return;
        }
        const f = item as ManifestFile;
        if (f.storedIn !== backupId) continue;
        const at = sizes.length * SHA_BYTES;
        if (at + SHA_BYTES > shas.length) {
          const more = Buffer.allocUnsafe(shas.length * 2);
          shas.copy(more, 0, 0, at);
          shas = more;
        }
        shas.write(f.sha256, at, SHA_BYTES, 'hex');
        paths.push(f.path);
        sizes.push(f.size);
        sqlite.push(f.kind === 'sqlite' ? 1 : 0);
      }
    });
    let skeleton: Manifest;
    try {
      const found = pieces((piece) => {
        pretty.write(piece);
        parser.write(piece);
      });
      if (!found) return undefined;
      skeleton = parser.end() as Manifest;
    } catch (err) {
      if (err instanceof ManifestJsonError) return undefined;
      throw err;
    }
    // One `files` array, read as items (JSON.parse keeps the last of duplicate keys: not this way's).
    if (problem || parser.filesArrays !== 1 || typeof skeleton !== 'object' || skeleton === null)
      return undefined;
    if (!Array.isArray(skeleton.files) || skeleton.files.length || skeleton.backupId !== backupId)
      return undefined;
    // Its version, fields, kind and lists (the files were checked one by one above).
    const { unusable, mismatched } = manifestProblems(skeleton, []);
    if (unusable.length || mismatched.length) return undefined;
    const offsets = new Uint32Array(paths.length + 1);
    for (let i = 0; i < paths.length; i++) offsets[i + 1] = offsets[i] + paths[i].length;
    return new RecordedFiles(
      pretty.digest(),
      paths.join(''),
      offsets,
      Float64Array.from(sizes),
      Uint8Array.from(sqlite),
      shas.subarray(0, sizes.length * SHA_BYTES),
    );
  }

  /** The archive's next entry, judged: it must be the next file stored in this archive. */
  check(d: EntryDigest): void {
    const i = this.at;
    this.at += 1;
    if (this.differs) return;
    if (i >= this.count) {
      this.differs = true;
      return;
    }
    const start = this.offsets[i];
    this.differs = !(
      d.path.length === this.offsets[i + 1] - start &&
      this.paths.startsWith(d.path, start) &&
      d.size === this.sizes[i] &&
      (d.kind === 'sqlite') === (this.sqlite[i] === 1) &&
      this.shas.toString('hex', i * SHA_BYTES, (i + 1) * SHA_BYTES) === d.sha256
    );
  }

  /** Every entry was its file, and every file had its entry. */
  get matched(): boolean {
    return !this.differs && this.at === this.count;
  }
}
