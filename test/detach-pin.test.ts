/**
 * The addon's threads read an ordinary (non-shared) input and write `into` in place, across
 * awaits. A caller transferring that memory mid-call would free it under them, and a
 * resizable buffer could shrink under them: pipeline/pin.ts keeps lent memory attached and
 * never lends what can shrink. Each case starts a call, then attacks the memory before the
 * call settles.
 */
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { WeightsealError } from '../src/errors.js';
import { open, plaintextSize, seal } from '../src/index.js';
import { nativePoolAvailable } from '../src/pipeline/native-pool.js';

const KEY = new Uint8Array(randomBytes(32));
const N = 8 << 20; // above the inline limit: the pipeline and, with the addon, its threads

function filled(n: number, byte: number): Uint8Array {
  return new Uint8Array(n).fill(byte);
}

describe('memory lent to the threads stays attached', () => {
  it.skipIf(!nativePoolAvailable())('a transfer of the input during seal leaves it attached and the result right', async () => {
    const pt = filled(N, 7);
    const pending = seal(KEY, pt, { threads: 2 });
    const moved = structuredClone(pt.buffer, { transfer: [pt.buffer as ArrayBuffer] }); // copies instead of moving
    expect(pt.byteLength).toBe(N);
    expect(moved.byteLength).toBe(N);
    const back = await open(KEY, await pending);
    expect(back.every((b) => b === 7)).toBe(true);
  });

  // Without the addon's threads the input is copied into the ring, never lent: a transfer
  // detaches it, and the next read says so.
  it.skipIf(nativePoolAvailable())('without the addon a transferred input is ERR_INVALID_ARG', async () => {
    const pt = filled(N, 7);
    const pending = seal(KEY, pt, { threads: 2 });
    structuredClone(pt.buffer, { transfer: [pt.buffer as ArrayBuffer] });
    expect(pt.byteLength).toBe(0);
    await expect(pending).rejects.toMatchObject({ code: 'ERR_INVALID_ARG' });
  });

  it('a transfer of into during open leaves it attached and filled', async () => {
    const sealed = await seal(KEY, filled(N, 9));
    const into = new Uint8Array(plaintextSize(sealed.length));
    const pending = open(KEY, sealed, { threads: 2, into });
    structuredClone(into.buffer, { transfer: [into.buffer as ArrayBuffer] });
    expect(await pending).toBe(into);
    expect(into.byteLength).toBe(N);
    expect(into.every((b) => b === 9)).toBe(true);
  });

  it('fresh outputs stay transferable: they are never lent to anyone before they are returned', async () => {
    const out = await open(KEY, await seal(KEY, filled(N, 1)));
    structuredClone(out.buffer, { transfer: [out.buffer as ArrayBuffer] });
    expect(out.byteLength).toBe(0);
  });

  it('shared memory is left as it is', async () => {
    const pt = new Uint8Array(new SharedArrayBuffer(N)).fill(3);
    const back = await open(KEY, await seal(KEY, pt, { threads: 2 }));
    expect(back.every((b) => b === 3)).toBe(true);
  });
});

describe('resizable memory is never lent', () => {
  const Resizable = ArrayBuffer as unknown as new (n: number, o: object) => ArrayBuffer & { resize(n: number): void };

  it('an input that shrinks mid-call is ERR_INVALID_ARG, not a short or wrong message', async () => {
    const ab = new Resizable(N, { maxByteLength: N });
    const pending = seal(KEY, new Uint8Array(ab), { threads: 2 });
    ab.resize(0);
    const e = await pending.catch((x: unknown) => x);
    expect(e).toBeInstanceOf(WeightsealError);
    expect((e as WeightsealError).code).toBe('ERR_INVALID_ARG');
  });

  it('an input that does not shrink seals as usual', async () => {
    const ab = new Resizable(N, { maxByteLength: 2 * N });
    const back = await open(KEY, await seal(KEY, new Uint8Array(ab).fill(5), { threads: 2 }));
    expect(back.length).toBe(N);
    expect(back.every((b) => b === 5)).toBe(true);
  });

  it('a resizable into is refused up front with what to pass instead', async () => {
    const sealed = await seal(KEY, filled(1024, 2));
    const ab = new Resizable(1024, { maxByteLength: 4096 });
    const e = await open(KEY, sealed, { into: new Uint8Array(ab) }).catch((x: unknown) => x);
    expect((e as WeightsealError).code).toBe('ERR_INVALID_ARG');
    expect((e as Error).message).toMatch(/resizable.*fixed-length/);
  });
});
