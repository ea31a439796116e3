/**
 * The thing started ahead and held for its taker (spare.ts): one at a time, ended when untaken
 * after its time, and neither ended nor held once taken or dropped.
 */
import { Spare } from '../activities/lib/spare';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('Spare', () => {
  test('holds one at a time and hands it to the next taker only', () => {
    const ended: number[] = [];
    const spare = new Spare<number>((n) => ended.push(n), 50);
    let started = 0;
    expect(spare.offer(() => (started += 1))).toBe(true);
    expect(spare.offer(() => (started += 1))).toBe(false);
    expect(started).toBe(1);
    expect(spare.take()).toBe(1);
    expect(spare.take()).toBeUndefined();
    expect(spare.offer(() => (started += 1))).toBe(true);
    expect(spare.take()).toBe(2);
    expect(ended).toEqual([]);
  });

  test('ends what is not taken in time, and not what was taken or dropped', async () => {
    const ended: string[] = [];
    const spare = new Spare<string>((s) => ended.push(s), 30);
    spare.offer(() => 'untaken');
    await sleep(80);
    expect(ended).toEqual(['untaken']);
    expect(spare.take()).toBeUndefined();

    spare.offer(() => 'taken');
    expect(spare.take()).toBe('taken');
    spare.offer(() => 'dropped');
    spare.drop('another');
    expect(spare.offer(() => 'not started')).toBe(false);
    spare.drop('dropped');
    expect(spare.take()).toBeUndefined();
    // A new one may be held once the last was dropped, and it is the one ended in time.
    expect(spare.offer(() => 'next')).toBe(true);
    await sleep(80);
    expect(ended).toEqual(['untaken', 'next']);
  });
});
