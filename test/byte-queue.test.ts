/**
 * ByteQueue (activities/lib/byteQueue.ts), which the archive reader and the SEIPDv2 reader parse
 * with, against a model: the same bytes in one buffer and a cursor. Random pieces (empty ones too)
 * and random operations, so that takes, peeks, integers and bytes fall on every kind of boundary:
 * inside a piece, at its end, across two or more.
 */
import { randomBytes } from 'node:crypto';
import { ByteQueue } from '../activities/lib/byteQueue';
import { prng } from '../bench/data';

function run(seed: number): void {
  const random = prng(seed);
  const int = (n: number) => Math.floor(random() * n);
  const q = new ByteQueue();
  let model = Buffer.alloc(0);
  let at = 0;
  const have = () => model.length - at;
  for (let step = 0; step < 2000; step += 1) {
    const op = int(7);
    if (op === 0 || have() < 8) {
      const piece = randomBytes([0, 1, 3, 4, 5, 17, 300][int(7)]);
      q.push(piece);
      model = Buffer.concat([model, piece]);
    } else if (op === 1) {
      const n = int(Math.min(have(), 40) + 1);
      expect(q.take(n)).toEqual(model.subarray(at, at + n));
      at += n;
    } else if (op === 2) {
      expect(q.uint32()).toBe(model.readUInt32BE(at));
      at += 4;
    } else if (op === 3) {
      expect(q.byte()).toBe(model[at]);
      at += 1;
    } else if (op === 4) {
      const piece = q.takePiece(int(50) + 1);
      expect(piece.length).toBeGreaterThan(0);
      expect(piece).toEqual(model.subarray(at, at + piece.length));
      at += piece.length;
    } else {
      // A peek leaves the bytes in place, whether or not it had to join pieces.
      const n = int(Math.min(have(), 12) + 1);
      expect(q.peek(n)).toEqual(model.subarray(at, at + n));
    }
    expect(q.length).toBe(have());
  }
  expect(q.take(have())).toEqual(model.subarray(at));
  expect(q.length).toBe(0);
}

test.each([1, 2, 3, 4, 5, 6, 7, 8])(
  'takes, integers, bytes, pieces and peeks read what was pushed, in order (seed %i)',
  (seed) => run(seed),
);

test('a take that was a view stays valid after the queue moves on', () => {
  const q = new ByteQueue();
  q.push(Buffer.from('abcdef'));
  q.push(Buffer.from('ghij'));
  const ab = q.take(2);
  const cdefgh = q.take(6);
  expect(ab.toString()).toBe('ab');
  expect(cdefgh.toString()).toBe('cdefgh');
  expect(q.peek(10).toString()).toBe('ij');
  expect(q.take(2).toString()).toBe('ij');
});
