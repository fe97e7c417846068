/**
 * Splitting one slot of an open into runs of whole chunks by where its output should go, for
 * sinks whose memory comes in pieces (Sink.extent: SealedSafetensors.stream(), whose tensors
 * are separate buffers). Each run is one batch call straight into the sink's memory; only
 * the chunks that straddle a boundary go through the ring and are copied out. With 4 MiB
 * slots a slot spanning two tensors would otherwise be copied whole: a quarter of the bytes of
 * a 2 GiB demo model, against a chunk (16 KiB) per tensor boundary here.
 */
import { CHUNK_BYTES, SEALED_CHUNK_BYTES } from '../cobblestone.js';
import type { Sink } from './engine.js';
import type { Executor, Region } from './pool.js';
import { NO_TAIL, OK, type SlotResult, type Tail } from './work.js';

/**
 * The shortest run worth a batch call of its own (512 KiB): each is a hand-off to the pool and
 * back, so a tensor smaller than this is cheaper copied out of the ring with its neighbours.
 */
export const MIN_DIRECT_CHUNKS = 32;

export interface Piece {
  /** First chunk of the run within the slot, and how many. */
  k: number;
  m: number;
  /** Output offset within the slot. */
  at: number;
  /** The sink's own memory (direct) or the slot's ring output. */
  output: Uint8Array;
  direct: boolean;
}

/**
 * Runs covering chunks [0, n) of a slot whose output (`outLen` bytes) starts at stream offset
 * `outAt`: a run of chunks inside one piece of sink memory goes there; neighbouring chunks that
 * fit no piece form one run into `ring` (the slot's output memory, at the same offsets).
 */
export function cutSlot(sink: Sink, outAt: number, n: number, outLen: number, ring: Uint8Array): Piece[] {
  const fits = (k: number) => {
    const left = outLen - k * CHUNK_BYTES;
    if (left <= 0) return 0;
    const e = sink.extent!(outAt + k * CHUNK_BYTES);
    const m = e >= left ? n - k : Math.floor(e / CHUNK_BYTES);
    return m === n || m >= MIN_DIRECT_CHUNKS ? m : 0;
  };
  const pieces: Piece[] = [];
  for (let k = 0; k < n;) {
    const at = k * CHUNK_BYTES;
    let m = fits(k);
    let output: Uint8Array | null = null;
    if (m > 0) output = sink.target!(outAt + at, Math.min(outLen, (k + m) * CHUNK_BYTES) - at);
    if (!output) {
      m = 1;
      while (k + m < n && !fits(k + m)) m++;
    }
    const end = Math.min(outLen, (k + m) * CHUNK_BYTES);
    pieces.push({ k, m, at, output: output ?? ring.subarray(at, end), direct: output !== null });
    k += m;
  }
  return pieces;
}

/** Runs every piece (each its own batch call), as one slot result: the first failing chunk in order. */
export async function runPieces(exec: Executor, pieces: Piece[], first: number, records: Region,
  tail: Tail): Promise<SlotResult> {
  const results = await Promise.all(pieces.map((p, i) => {
    const from = p.k * SEALED_CHUNK_BYTES;
    const to = i === pieces.length - 1 ? records.len : (p.k + p.m) * SEALED_CHUNK_BYTES;
    const src: Region = { buf: records.buf, off: records.off + from, len: to - from };
    const dst: Region = { buf: p.output.buffer, off: p.output.byteOffset, len: p.output.length };
    return exec.run(first + p.k, p.m, src, dst, tail.index < 0 ? NO_TAIL : { index: tail.index - p.k, length: tail.length });
  }));
  for (const [i, r] of results.entries()) {
    if (r.fail >= 0) return { fail: pieces[i]!.k + r.fail, trailing: r.trailing };
  }
  return OK;
}
