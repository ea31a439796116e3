/**
 * Bytes in arrival order, taken from the front: a view where the bytes lie in one piece, else a
 * copy. The archive reader (archiveReader.ts) and the SEIPDv2 reader (seipd2.ts) parse with it.
 */
export class ByteQueue {
  private parts: Buffer[] = [];
  length = 0;

  push(b: Buffer): void {
    if (b.length) this.parts.push(b);
    this.length += b.length;
  }

  take(n: number): Buffer {
    if (n === 0) return Buffer.alloc(0);
    const first = this.parts[0];
    this.length -= n;
    if (first.length >= n) {
      if (first.length === n) this.parts.shift();
      else this.parts[0] = first.subarray(n);
      return first.subarray(0, n);
    }
    const out = Buffer.allocUnsafe(n);
    for (let done = 0; done < n;) {
      const part = this.parts[0];
      const k = Math.min(part.length, n - done);
      part.copy(out, done, 0, k);
      done += k;
      if (k === part.length) this.parts.shift();
      else this.parts[0] = part.subarray(k);
    }
    return out;
  }

  /** Up to `max` bytes from the first piece, without copying. */
  takePiece(max: number): Buffer {
    return this.take(Math.min(max, this.parts[0].length));
  }

  /** The first `n` bytes (or all there are) as one buffer, left in place. */
  peek(n: number): Buffer {
    const k = Math.min(n, this.length);
    const out = this.take(k);
    this.parts.unshift(out);
    this.length += k;
    return out;
  }
}
