/**
 * A bounded hand-off from a producer callback (the pipeline's onSlot) to an async iterator:
 * push() waits while `limit` items are queued, which is how a slow consumer stops the pipeline
 * reading ahead. close(err) wakes both sides; after it, push() rejects so the producer unwinds.
 */
export class Channel<T> {
  private readonly items: T[] = [];
  private readonly takers: ((r: IteratorResult<T>) => void)[] = [];
  private failTaker: ((e: unknown) => void) | null = null;
  private readonly spaceWaiters: { resolve: () => void; reject: (e: unknown) => void }[] = [];
  private closed = false;
  private error: unknown = null;

  constructor(private readonly limit = 1) {}

  async push(item: T): Promise<void> {
    if (this.closed) throw this.error ?? new Error('channel closed');
    const taker = this.takers.shift();
    if (taker) {
      this.failTaker = null;
      taker({ value: item, done: false });
      return;
    }
    this.items.push(item);
    while (this.items.length > this.limit) {
      await new Promise<void>((resolve, reject) => this.spaceWaiters.push({ resolve, reject }));
    }
  }

  /** Ends the stream: consumers get the remaining items, then done (or `err`). */
  close(err?: unknown): void {
    if (this.closed) return;
    this.closed = true;
    if (err !== undefined) this.error = err;
    const stop = this.error ?? new Error('channel closed');
    for (const w of this.spaceWaiters.splice(0)) w.reject(stop);
    if (this.items.length === 0) {
      if (this.error !== null && this.failTaker) this.failTaker(this.error);
      else for (const t of this.takers.splice(0)) t({ value: undefined, done: true });
      this.takers.length = 0;
    }
  }

  /** Abandons the stream from the consumer side: queued items are dropped. */
  cancel(reason: unknown): void {
    this.items.length = 0;
    this.close(reason);
  }

  next(): Promise<IteratorResult<T>> {
    const item = this.items.shift();
    if (item !== undefined) {
      this.spaceWaiters.shift()?.resolve();
      return Promise.resolve({ value: item, done: false });
    }
    if (this.closed) {
      return this.error !== null ? Promise.reject(this.error) : Promise.resolve({ value: undefined, done: true });
    }
    return new Promise((resolve, reject) => {
      this.takers.push(resolve);
      this.failTaker = reject;
    });
  }
}
