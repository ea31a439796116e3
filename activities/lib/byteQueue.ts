/**
 * Bytes in arrival order, taken from the front: a view where the bytes lie in one piece, else a
 * copy. The archive reader (archiveReader.ts) and the SEIPDv2 reader (seipd2.ts) parse with it.
 * The first piece is read from an offset rather than re-sliced at each take: 100,000 small entries
 * are some 800,000 takes, and each slice was one more object for the collector.
 */
export class ByteQueue {
  private parts: Buffer[] = [];
  /** Where the first piece's unread bytes start. */
  private offset = 0;
  length = 0;

  push(b: Buffer): void {
    if (b.length) this.parts.push(b);
    this.length += b.length;
  }

  /** Drops `k` bytes of the first piece, which has at least that many unread. */
  private advance(first: Buffer, k: number): void {
    this.offset += k;
    this.length -= k;
    if (this.offset === first.length) {
      this.parts.shift();
      this.offset = 0;
    }
  }

  take(n: number): Buffer {
    if (n === 0) return Buffer.alloc(0);
    const first = this.parts[0];
    const start = this.offset;
    if (first.length - start >= n) {
      this.advance(first, n);
      return first.subarray(start, start + n);
    }
    const out = Buffer.allocUnsafe(n);
    for (let done = 0; done < n;) {
      const part = this.parts[0];
      const k = Math.min(part.length - this.offset, n - done);
      part.copy(out, done, this.offset, this.offset + k);
      done += k;
      this.advance(part, k);
    }
    return out;
  }

  /** The next four bytes as a big-endian unsigned integer (the queue holds at least four). */
  uint32(): number {
    const first = this.parts[0];
    if (first.length - this.offset >= 4) {
      const value = first.readUInt32BE(this.offset);
      this.advance(first, 4);
      return value;
    }
    return this.take(4).readUInt32BE(0);
  }

  /** The next byte (the queue holds at least one). */
  byte(): number {
    const first = this.parts[0];
    const value = first[this.offset];
    this.advance(first, 1);
    return value;
  }

  /** Up to `max` bytes from the first piece, without copying. */
  takePiece(max: number): Buffer {
    return this.take(Math.min(max, this.parts[0].length - this.offset));
  }

  /** The first `n` bytes (or all there are) as one buffer, left in place. */
  peek(n: number): Buffer {
    const k = Math.min(n, this.length);
    if (k === 0) return Buffer.alloc(0);
    const first = this.parts[0];
    if (first.length - this.offset >= k) return first.subarray(this.offset, this.offset + k);
    const out = this.take(k);
    // The piece now first may be partly read: its unread bytes stay, as a piece of their own.
    if (this.offset) this.parts[0] = this.parts[0].subarray(this.offset);
    this.parts.unshift(out);
    this.offset = 0;
    this.length += k;
    return out;
  }
}
