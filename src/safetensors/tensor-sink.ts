/**
 * The pipeline sink behind SealedSafetensors.stream() of a sealed file: slots arrive in order
 * as plaintext file ranges and become tensors. Every run of whole chunks inside one tensor is
 * decrypted straight into that tensor's memory (Sink.target, pipeline/pieces.ts); only chunks
 * spanning a tensor boundary, and bytes no one asked for (the header, unselected tensors), go
 * through the ring and are copied out. Tensor memory comes from the output cache (src/output-memory.ts), so a loader
 * that drops each tensor after use has its next tensors written into pages already mapped.
 *
 * A tensor is handed on only once every byte of it is delivered, in order, verified. On
 * failure, tensors not yet handed on are wiped where they may hold plaintext.
 */
import type { Sink } from '../pipeline/engine.js';
import { freshOutput } from '../output-memory.js';
import type { TensorInfo } from './header.js';

export interface Tensor extends TensorInfo {
  data: Uint8Array;
}

export class TensorSink implements Sink {
  readonly partialTarget = true;
  /** Tensors handed on so far (index into `tensors`). */
  next = 0;
  /** Tensors started but not handed on yet, by index, and how far into each output may lie. */
  private readonly pending = new Map<number, { data: Uint8Array; end: number }>();
  /** The producer's cursor for target(): its offsets only grow. */
  private at = 0;

  /** `tensors` in file order, offsets relative to the start of the plaintext file. */
  constructor(private readonly tensors: readonly TensorInfo[], private readonly emit: (t: Tensor) => Promise<void>) {}

  /** Tensor i's memory, about to receive bytes up to `end` (relative to the tensor). */
  private memory(i: number, end: number): Uint8Array {
    let m = this.pending.get(i);
    if (!m) {
      m = { data: freshOutput(this.tensors[i]!.byteLength), end: 0 };
      this.pending.set(i, m);
    }
    m.end = Math.max(m.end, end);
    return m.data;
  }

  /** The selected tensor holding stream byte `offset`, if any (offsets asked only grow). */
  private holder(offset: number): TensorInfo | undefined {
    const ts = this.tensors;
    while (this.at < ts.length && ts[this.at]!.byteOffset + ts[this.at]!.byteLength <= offset) this.at++;
    return ts[this.at];
  }

  extent(offset: number): number {
    const t = this.holder(offset);
    return t && t.byteOffset <= offset ? t.byteOffset + t.byteLength - offset : 0;
  }

  target(offset: number, length: number): Uint8Array | null {
    const end = offset + length;
    const t = this.holder(offset);
    if (!t || length === 0 || t.byteOffset > offset || t.byteOffset + t.byteLength < end) return null;
    return this.memory(this.at, end - t.byteOffset).subarray(offset - t.byteOffset, end - t.byteOffset);
  }

  /** A slot through the ring: copies each tensor's part out of it. */
  write(view: Uint8Array, offset: number): Promise<void> {
    return this.deliver(offset, offset + view.length, view);
  }

  /** A slot written through target(): already in place. */
  written(offset: number, length: number): Promise<void> {
    return this.deliver(offset, offset + length, null);
  }

  private async deliver(offset: number, end: number, view: Uint8Array | null): Promise<void> {
    const ts = this.tensors;
    while (this.next < ts.length) {
      const t = ts[this.next]!;
      const tEnd = t.byteOffset + t.byteLength;
      if (t.byteOffset >= end && t.byteLength > 0) return;
      if (view && t.byteLength > 0) {
        const from = Math.max(offset, t.byteOffset);
        const to = Math.min(end, tEnd);
        if (to > from) this.memory(this.next, to - t.byteOffset).set(view.subarray(from - offset, to - offset), from - t.byteOffset);
      }
      if (tEnd > end) return;
      const data = t.byteLength > 0 ? this.memory(this.next, 0) : new Uint8Array(0);
      this.pending.delete(this.next);
      this.next++;
      await this.emit({ ...t, shape: [...t.shape], data });
    }
  }

  /**
   * The stream failed or stopped: no tensor still held here keeps plaintext. Only what may
   * have been written is wiped (a tensor's bytes arrive from its start, in order), so the
   * untouched rest of a large tensor is not faulted in just to be zeroed. Call it once the
   * pipeline has settled: nothing writes into these tensors any more.
   */
  wipe(): void {
    for (const m of this.pending.values()) m.data.fill(0, 0, m.end);
    this.pending.clear();
  }
}
