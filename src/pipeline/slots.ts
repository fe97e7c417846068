/**
 * The slot ring: preallocated SharedArrayBuffer memory that file reads land in, workers seal
 * or open from and into, and writes and bounce consumers read from. First touch of fresh
 * memory costs several memcpys here (page faults), so rings are faulted in once when
 * allocated and then kept in a small idle cache for the next stream: allocate once, touch
 * once, reuse. Whatever plaintext a stream put in a ring is zeroed before the ring is reused
 * (the engine counts only plaintext regions in usedIn/usedOut: ciphertext is not secret).
 */
import { WeightsealError } from '../errors.js';

const PAGE = 4096;
/** Idle rings kept for reuse, at most this many bytes in all, dropped after IDLE_MS unused. */
const CACHE_BYTES = 1024 * 1024 * 1024;
const IDLE_MS = 30_000;

const align = (n: number) => Math.ceil(n / PAGE) * PAGE;

export interface Slot {
  readonly index: number;
  /** Input region (read target) and output region (worker target), views of `ring.sab`. */
  readonly input: Uint8Array;
  readonly output: Uint8Array;
  /** Bytes of plaintext written to input / output this stream, zeroed at release. */
  usedIn: number;
  usedOut: number;
}

/** Touches every page once, so the kernel maps it now rather than on the hot path. */
function prefault(sab: SharedArrayBuffer): void {
  const bytes = new Uint8Array(sab);
  for (let i = 0; i < bytes.length; i += PAGE) bytes[i] = 0;
}

/**
 * Zeroes v[0, n). Uint8Array.fill on shared memory stores a byte at a time (about 3 GB/s
 * here, several ms per stream for a ring of 4 MiB slots); 8-byte words run about 6x faster.
 */
function zero(v: Uint8Array, n: number): void {
  const words = v.byteOffset % 8 === 0 ? Math.floor(n / 8) : 0;
  if (words > 0) new BigUint64Array(v.buffer, v.byteOffset, words).fill(0n);
  v.fill(0, words * 8, n);
}

const idle: SharedArrayBuffer[] = [];
let idleTimer: NodeJS.Timeout | null = null;

function takeIdle(bytes: number): SharedArrayBuffer | null {
  let best = -1;
  for (let i = 0; i < idle.length; i++) {
    const len = idle[i]!.byteLength;
    // Reuse only a buffer that fits and does not waste more than half of itself.
    if (len >= bytes && len <= 2 * bytes && (best < 0 || len < idle[best]!.byteLength)) best = i;
  }
  return best < 0 ? null : idle.splice(best, 1)[0]!;
}

function giveIdle(sab: SharedArrayBuffer): void {
  idle.push(sab);
  let total = idle.reduce((s, b) => s + b.byteLength, 0);
  while (total > CACHE_BYTES && idle.length > 0) total -= idle.shift()!.byteLength;
  if (idleTimer) clearTimeout(idleTimer);
  idleTimer = setTimeout(() => {
    idle.length = 0;
    idleTimer = null;
  }, IDLE_MS);
  idleTimer.unref();
}

/** Drops every idle ring (tests and benchmarks that measure first-touch costs). */
export function dropIdleRings(): void {
  idle.length = 0;
}

export class SlotRing {
  readonly sab: SharedArrayBuffer;
  readonly slots: Slot[];
  #free: Slot[];
  #waiters: { resolve: (s: Slot) => void; reject: (e: unknown) => void }[] = [];
  #failed: unknown = null;
  #released = false;

  /** `count` slots of `inBytes` input and `outBytes` output each (either may be 0). */
  constructor(count: number, inBytes: number, outBytes: number) {
    const inCap = align(inBytes);
    const stride = inCap + align(outBytes);
    const need = Math.max(PAGE, count * stride);
    let sab = takeIdle(need);
    if (!sab) {
      try {
        sab = new SharedArrayBuffer(need);
      } catch (e) {
        throw new WeightsealError('ERR_INVALID_ARG',
          `cannot allocate ${count} slots of ${stride} bytes (${(need / 2 ** 20).toFixed(0)} MiB): ` +
            'lower inflight or slotBytes', { cause: e });
      }
      prefault(sab);
    }
    this.sab = sab;
    this.slots = [];
    for (let i = 0; i < count; i++) {
      this.slots.push({
        index: i,
        input: new Uint8Array(sab, i * stride, inBytes),
        output: new Uint8Array(sab, i * stride + inCap, outBytes),
        usedIn: 0,
        usedOut: 0,
      });
    }
    this.#free = this.slots.slice();
  }

  /** The next free slot, waiting while every slot is in flight (this is the backpressure). */
  acquire(): Promise<Slot> {
    if (this.#failed !== null) return Promise.reject(this.#failed);
    const s = this.#free.shift();
    if (s) return Promise.resolve(s);
    return new Promise((resolve, reject) => this.#waiters.push({ resolve, reject }));
  }

  release(slot: Slot): void {
    const w = this.#waiters.shift();
    if (w) w.resolve(slot);
    else this.#free.push(slot);
  }

  /** Fails every current and future acquire (the stream failed or was aborted). */
  fail(err: unknown): void {
    if (this.#failed === null) this.#failed = err;
    for (const w of this.#waiters.splice(0)) w.reject(err);
  }

  /** Zeroes the plaintext the stream wrote and hands the memory to the idle cache. Once all users are done. */
  dispose(): void {
    if (this.#released) return;
    this.#released = true;
    this.fail(new WeightsealError('ERR_CLOSED', 'the slot ring was released'));
    for (const s of this.slots) {
      zero(s.input, s.usedIn);
      zero(s.output, s.usedOut);
    }
    giveIdle(this.sab);
  }
}
