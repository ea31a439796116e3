/**
 * One thing started ahead of its use (a worker thread booting while the caller prepares) and held
 * for the next taker. Untaken, it is ended after a while; one is held at a time. The reading
 * side's threads use it (entryThreads.ts, hashedRead.ts).
 */

/** How long a thing started ahead waits to be taken before it is ended. */
const SPARE_MS = 10_000;

export class Spare<T> {
  private held: { item: T; timer: NodeJS.Timeout } | undefined;

  constructor(
    private readonly end: (item: T) => void,
    private readonly ms = SPARE_MS,
  ) {}

  /** Starts one and holds it; false (nothing started) when one is already held. */
  offer(start: () => T): boolean {
    if (this.held) return false;
    const item = start();
    const timer = setTimeout(() => {
      if (this.held?.item !== item) return;
      this.held = undefined;
      this.end(item);
    }, this.ms);
    timer.unref();
    this.held = { item, timer };
    return true;
  }

  /** The held one, no longer held, if there is one. */
  take(): T | undefined {
    const taken = this.held;
    this.held = undefined;
    if (!taken) return undefined;
    clearTimeout(taken.timer);
    return taken.item;
  }

  /** Lets go of `item` if it is the one held (it ended on its own). */
  drop(item: T): void {
    if (this.held?.item === item) this.take();
  }
}
