/** Bounded concurrency for loops over many files. */

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
