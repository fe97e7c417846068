/**
 * Key handling and chunk arithmetic of the pipeline: the key reaches workers through a key
 * slot once per stream and is dropped everywhere at close; slot shapes follow c2sp "Message
 * chunking" and stop at the 2^38-chunk limit.
 */
import { describe, expect, it } from 'vitest';
import { nodeBackend } from '../src/backend/index.js';
import { CHUNK_BYTES, MAX_CHUNKS, SEALED_CHUNK_BYTES, TAG_BYTES } from '../src/cobblestone.js';
import { slotShape } from '../src/pipeline/engine.js';
import { broadcastClose, isLive, readKeySlot, wipeKeySlot, writeKeySlot } from '../src/pipeline/keyslot.js';
import work, { type SlotTask } from '../src/pipeline/worker.js';
import { OP_SEAL } from '../src/pipeline/work.js';
import { bytes, equal, key } from './pipeline-helpers.js';

describe('key slot', () => {
  it('carries key and base nonce, and is zero after wiping', () => {
    const k = key(), nonce = bytes(12, 4);
    const slot = writeKeySlot(k, nonce);
    const got = readKeySlot(slot)!;
    expect(equal(got.key, k) && equal(got.baseNonce, nonce)).toBe(true);
    wipeKeySlot(slot);
    expect(isLive(slot)).toBe(false);
    expect(readKeySlot(slot)).toBe(null);
    expect(new Uint8Array(slot).every((b) => b === 0)).toBe(true);
  });

  it('a worker imports the key once per stream and drops it when the stream closes', async () => {
    const k = key(), nonce = bytes(12, 5);
    const slot = writeKeySlot(k, nonce);
    const src = new SharedArrayBuffer(CHUNK_BYTES);
    const dst = new SharedArrayBuffer(CHUNK_BYTES + TAG_BYTES);
    const stream = 1e9 + Math.floor(Math.random() * 1e6);
    const task: SlotTask = { op: OP_SEAL, stream, keys: slot, backend: 'node', kernel: null, src, srcOff: 0,
      srcLen: 100, dst, dstOff: 0, dstLen: 100 + TAG_BYTES, first: 0, n: 1, tail: { index: -1, length: 0 } };
    work(task);
    const first = Uint8Array.from(new Uint8Array(dst, 0, 116));
    // Cached: it keeps working from its own imported key even with the slot wiped...
    wipeKeySlot(slot);
    work(task);
    expect(equal(new Uint8Array(dst, 0, 116), first)).toBe(true);
    // ...until the close broadcast arrives: then the key is gone.
    broadcastClose(stream);
    await new Promise((r) => setTimeout(r, 20));
    expect(() => work(task)).toThrow(/no live key/);
    const gk = nodeBackend.importKey(k);
    const want = new Uint8Array(116);
    gk.sealChunks(nonce, 0, new Uint8Array(100), CHUNK_BYTES, 1, want);
    expect(equal(first, want)).toBe(true);
  });
});

describe('slot shapes (c2sp "Message chunking")', () => {
  const per = 4; // chunks per slot
  const inSeal = per * CHUNK_BYTES;
  const inOpen = per * SEALED_CHUNK_BYTES;

  it('seal: a full slot is whole chunks; the slot the input ends in holds the short final chunk', () => {
    expect(slotShape('seal', 0, inSeal, inSeal, per)).toMatchObject({ n: per, final: false, outLen: inSeal + per * TAG_BYTES });
    expect(slotShape('seal', 1, 0, inSeal, per)).toMatchObject({ n: 1, final: true, first: per, outLen: TAG_BYTES });
    expect(slotShape('seal', 0, CHUNK_BYTES, inSeal, per)).toMatchObject({ n: 2, final: true });
  });

  it('open: a short final record ends the message; a cut record or boundary is truncation', () => {
    expect(slotShape('open', 0, inOpen, inOpen, per)).toMatchObject({ n: per, final: false, error: null });
    expect(slotShape('open', 0, SEALED_CHUNK_BYTES + 20, inOpen, per)).toMatchObject({ n: 2, final: true, outLen: CHUNK_BYTES + 4 });
    expect(slotShape('open', 1, 0, inOpen, per).error).toMatchObject({ code: 'ERR_TRUNCATED' });
    expect(slotShape('open', 0, SEALED_CHUNK_BYTES + 15, inOpen, per))
      .toMatchObject({ n: 1, inLen: SEALED_CHUNK_BYTES, error: expect.objectContaining({ code: 'ERR_TRUNCATED' }) });
  });

  it('stops at 2^38 chunks', () => {
    const last = MAX_CHUNKS / per - 1; // the slot holding chunks 2^38 - 4 .. 2^38 - 1
    expect(slotShape('seal', last, inSeal - 1, inSeal, per).error).toBe(null);
    expect(slotShape('seal', last, inSeal, inSeal, per).error).toBe(null);
    expect(slotShape('seal', last + 1, 0, inSeal, per)).toMatchObject({ n: 0, error: expect.objectContaining({ code: 'ERR_TOO_LARGE' }) });
    expect(slotShape('open', last + 1, 100, inOpen, per).error).toMatchObject({ code: 'ERR_TOO_LARGE' });
  });
});
