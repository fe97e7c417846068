/**
 * Node Transform streams over the pipeline, for stream.pipeline(). Written chunks feed the
 * ring through a PushQueue (a write completes when the ring takes it); each finished slot is
 * pushed as its own Buffer (the ring is reused, so the reader gets a copy) and the next slot
 * waits while the readable side is full. After an error the stream is destroyed with it.
 */
import { Transform, type TransformCallback } from 'node:stream';
import { runPipeline, type Keys, type Mode, type Tuning } from '../pipeline/engine.js';
import { invalidArg } from '../errors.js';
import { checkBytes, describe } from '../validate.js';
import { IterableSource } from './sources.js';
import { PushQueue } from './push-queue.js';

export class PipelineTransform extends Transform {
  readonly #input = new PushQueue();
  readonly #abort = new AbortController();
  #drained: (() => void) | null = null;
  #done: Promise<unknown>;

  constructor(mode: Mode, keys: Keys | null, tuning: Tuning) {
    // decodeStrings off: a string written (say, from an objectMode source) reaches _transform
    // and is refused, instead of being sealed as its UTF-8 bytes without a word.
    super({ readableHighWaterMark: tuning.slotBytes, writableHighWaterMark: tuning.slotBytes, decodeStrings: false });
    const signals = [this.#abort.signal, ...(tuning.signal ? [tuning.signal] : [])];
    const source = new IterableSource(this.#input, 'stream');
    this.#done = runPipeline(mode, keys, source, {
      write: (view) => {
        if (this.push(Buffer.from(view))) return;
        return new Promise<void>((resolve) => { this.#drained = resolve; });
      },
    }, { ...tuning, signal: AbortSignal.any(signals) });
    this.#done.then(() => {}, (e: unknown) => {
      this.#input.fail(e);
      if (!this.destroyed) this.destroy(e as Error);
    });
  }

  override _read(size: number): void {
    super._read(size);
    const d = this.#drained;
    this.#drained = null;
    d?.();
  }

  override _transform(chunk: unknown, _enc: BufferEncoding, cb: TransformCallback): void {
    let bytes: Uint8Array;
    try {
      if (!ArrayBuffer.isView(chunk)) throw invalidArg(`write Uint8Array or Buffer chunks, got ${describe(chunk)}`);
      bytes = checkBytes(chunk, 'a written chunk'); // a detached one is an error, not an empty write
    } catch (e) {
      cb(e as Error);
      return;
    }
    if (bytes.length === 0) {
      cb();
      return;
    }
    this.#input.push(bytes).then(() => cb(), () => { /* the pipeline's error destroys the stream */ });
  }

  override _flush(cb: TransformCallback): void {
    this.#input.end();
    this.#done.then(() => cb(), () => { /* destroyed with the error already */ });
  }

  override _destroy(err: Error | null, cb: (error?: Error | null) => void): void {
    this.#input.fail(err ?? new Error('weightseal: stream destroyed'));
    this.#abort.abort(err);
    cb(err);
  }
}
