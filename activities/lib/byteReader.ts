/**
 * An archive's plaintext as the archive reader (archiveReader.ts) parses it: fields taken from the
 * front of what the source has yielded, waiting for more only when they have not all arrived
 * (`now`, `uint32Now` and `byteNow` answer without a promise: most fields of 100,000 small entries
 * had arrived, and an await each was 800,000 promises). Running out inside a field is a truncated
 * archive.
 */
import { ArchiveError } from './archiveFormat';
import { ByteQueue } from './byteQueue';

export class ByteReader {
  private readonly queue = new ByteQueue();
  private done = false;
  private readonly it: AsyncIterator<Uint8Array>;
  consumed = 0;

  constructor(source: AsyncIterable<Uint8Array>) {
    this.it = source[Symbol.asyncIterator]();
  }

  private async fill(n: number): Promise<boolean> {
    while (this.queue.length < n && !this.done) {
      const next = await this.it.next();
      if (next.done) this.done = true;
      else this.queue.push(Buffer.from(next.value.buffer, next.value.byteOffset, next.value.byteLength));
    }
    return this.queue.length >= n;
  }

  /**
   * The next `n` bytes: a view into the source's chunk where it holds them all, else a copy. `what`
   * (for the error) is a function where building its text for every take would be waste.
   */
  async take(n: number, what: string | (() => string)): Promise<Buffer> {
    await this.need(n, what);
    this.consumed += n;
    return this.queue.take(n);
  }

  /** The next `n` bytes if they have arrived (no wait, no promise: most takes), else undefined. */
  now(n: number): Buffer | undefined {
    if (this.queue.length < n) return undefined;
    this.consumed += n;
    return this.queue.take(n);
  }

  /** The next four bytes as a big-endian integer, if they have arrived. */
  uint32Now(): number | undefined {
    if (this.queue.length < 4) return undefined;
    this.consumed += 4;
    return this.queue.uint32();
  }

  async uint32(what: string | (() => string)): Promise<number> {
    await this.need(4, what);
    this.consumed += 4;
    return this.queue.uint32();
  }

  async byte(what: string): Promise<number> {
    await this.need(1, what);
    this.consumed += 1;
    return this.queue.byte();
  }

  byteNow(): number | undefined {
    if (this.queue.length < 1) return undefined;
    this.consumed += 1;
    return this.queue.byte();
  }

  /**
   * A field of a four-byte length and that many bytes, handed to `parse`: without a promise when
   * all of it has arrived (a header and a trailer per entry, 200,000 fields for 100,000 files).
   * A length over `max` throws `tooLong()`.
   */
  field<T>(
    max: number,
    what: string | (() => string),
    tooLong: () => Error,
    parse: (bytes: Buffer) => T,
  ): T | Promise<T> {
    const length = this.uint32Now();
    if (length === undefined)
      return this.uint32(what).then((n) => this.fieldOf(n, max, what, tooLong, parse));
    return this.fieldOf(length, max, what, tooLong, parse);
  }

  private fieldOf<T>(
    length: number,
    max: number,
    what: string | (() => string),
    tooLong: () => Error,
    parse: (bytes: Buffer) => T,
  ): T | Promise<T> {
    if (length > max) throw tooLong();
    const bytes = this.now(length);
    return bytes ? parse(bytes) : this.take(length, what).then(parse);
  }

  private async need(n: number, what: string | (() => string)): Promise<void> {
    if (!(await this.fill(n)))
      throw new ArchiveError(
        `the archive is truncated (it ends inside ${typeof what === 'string' ? what : what()})`,
        'damaged',
      );
  }

  async atEnd(): Promise<boolean> {
    return !(await this.fill(1));
  }
}
