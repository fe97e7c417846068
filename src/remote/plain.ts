/** A plaintext object (an unsealed .safetensors, a plaintext index) read by byte ranges. */
import { WeightsealError } from '../errors.js';
import type { RangedObject } from './object.js';

export class RemotePlain {
  constructor(readonly object: RangedObject) {}

  get size(): number {
    return this.object.size;
  }

  async read(position: number, length: number): Promise<Uint8Array> {
    const buf = new Uint8Array(length);
    await this.readInto(buf, position);
    return buf;
  }

  async readInto(buffer: Uint8Array, position: number): Promise<number> {
    const n = await this.object.readAt(buffer, position);
    if (n < buffer.length) {
      throw new WeightsealError('ERR_TRUNCATED', `${this.object.name} ends at byte ${position + n}, ` +
        `before byte ${position + buffer.length}`, { path: this.object.name });
    }
    return n;
  }

  /** The object belongs to the load that opened it; that load closes it. */
  async close(): Promise<void> {}
}
