/**
 * Web TransformStreams over the pipeline. transform() resolves when the ring takes the chunk;
 * finished slots are enqueued as copies (the ring is reused). Backpressure runs through the
 * input: while the readable side is full the TransformStream stops calling transform(), the
 * ring stops filling, so at most `inflight` slots complete into the queue. An error errors
 * both sides for good: every later read rejects with it.
 */
import type { Transformer } from 'node:stream/web';
import { runPipeline, type Keys, type Mode, type Tuning } from '../pipeline/engine.js';
import { invalidArg } from '../errors.js';
import { checkBytes, describe } from '../validate.js';
import { IterableSource } from './sources.js';
import { PushQueue } from './push-queue.js';

export function webTransform(mode: Mode, keys: Keys | null, tuning: Tuning): TransformStream<Uint8Array, Uint8Array> {
  const input = new PushQueue();
  const abort = new AbortController();
  const signal = tuning.signal ? AbortSignal.any([abort.signal, tuning.signal]) : abort.signal;
  let done: Promise<unknown> = Promise.resolve();
  // `cancel` (reader went away) is in the Streams spec and Node 20, not yet in its types.
  const transformer: Transformer<Uint8Array, Uint8Array> & { cancel(reason: unknown): void } = {
    start(controller) {
      done = runPipeline(mode, keys, new IterableSource(input, 'stream'), {
        write: (view) => controller.enqueue(view.slice()),
      }, { ...tuning, signal });
      done.catch((e: unknown) => {
        input.fail(e);
        try {
          controller.error(e);
        } catch {
          /* already errored or closed */
        }
      });
    },
    transform(chunk) {
      if (!ArrayBuffer.isView(chunk)) {
        throw invalidArg(`write Uint8Array chunks, got ${describe(chunk)}`);
      }
      const bytes = checkBytes(chunk, 'a written chunk'); // a detached one is an error, not an empty write
      if (bytes.length === 0) return undefined;
      return input.push(bytes);
    },
    flush() {
      input.end();
      return done.then(() => undefined);
    },
    cancel(reason) {
      input.fail(reason);
      abort.abort(reason);
    },
  };
  return new TransformStream<Uint8Array, Uint8Array>(transformer, { highWaterMark: 1 }, { highWaterMark: 1 });
}
