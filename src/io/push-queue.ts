/**
 * Turns pushed chunks (a Node Transform's _transform, a Web TransformStream's transform) into
 * the async iterable the pipeline pulls from. One chunk waits at a time: push() settles when
 * the pipeline takes the chunk, so the writer feels the ring's backpressure. Both writers
 * push serially (the next chunk only after the previous push settled).
 */
type Pull = { resolve: (r: IteratorResult<Uint8Array>) => void; reject: (e: unknown) => void };

export class PushQueue implements AsyncIterable<Uint8Array>, AsyncIterator<Uint8Array> {
  #pending: { chunk: Uint8Array; resolve: () => void; reject: (e: unknown) => void } | null = null;
  #pull: Pull | null = null;
  #ended = false;
  #failure: unknown = null;

  [Symbol.asyncIterator](): AsyncIterator<Uint8Array> {
    return this;
  }

  /** Offers a chunk; resolves once the pipeline has taken it, rejects if the pipeline failed. */
  push(chunk: Uint8Array): Promise<void> {
    if (this.#failure !== null) return Promise.reject(this.#failure);
    if (this.#pending || this.#ended) return Promise.reject(new Error('unreachable: overlapping or late push'));
    if (this.#pull) {
      const p = this.#pull;
      this.#pull = null;
      p.resolve({ value: chunk, done: false });
      return Promise.resolve();
    }
    return new Promise<void>((resolve, reject) => { this.#pending = { chunk, resolve, reject }; });
  }

  /** No more chunks: the pipeline sees the end after the pending one. */
  end(): void {
    this.#ended = true;
    if (!this.#pending && this.#pull) {
      const p = this.#pull;
      this.#pull = null;
      p.resolve({ value: undefined, done: true });
    }
  }

  /** The pipeline failed or the consumer went away: pending and future pushes reject. */
  fail(err: unknown): void {
    if (this.#failure === null) this.#failure = err;
    this.#pending?.reject(err);
    this.#pending = null;
    this.#pull?.reject(err);
    this.#pull = null;
  }

  next(): Promise<IteratorResult<Uint8Array>> {
    if (this.#failure !== null) return Promise.reject(this.#failure);
    const p = this.#pending;
    if (p) {
      this.#pending = null;
      p.resolve();
      return Promise.resolve({ value: p.chunk, done: false });
    }
    if (this.#ended) return Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve, reject) => { this.#pull = { resolve, reject }; });
  }

  return(): Promise<IteratorResult<Uint8Array>> {
    this.fail(new Error('weightseal: input closed'));
    return Promise.resolve({ value: undefined, done: true });
  }
}
