/**
 * The safetensors header (huggingface/safetensors, docs "Format"): an 8-byte little-endian
 * length N, N bytes of UTF-8 JSON, then the data buffer. Validated here as a pure function so
 * the sealed and plaintext readers share every rule, with the same limits as the reference
 * Rust crate: header at most 100 MB, offsets inside the data, tensors packed with no overlap
 * and no hole, byte length equal to shape x dtype size, `__metadata__` a string-to-string map.
 */
import { WeightsealError } from '../errors.js';

/** Bits per element. Sub-byte types must fill whole bytes, as in the reference crate. */
export const DTYPE_BITS = {
  BOOL: 8, U8: 8, I8: 8, F8_E5M2: 8, F8_E4M3: 8, F8_E8M0: 8,
  I16: 16, U16: 16, F16: 16, BF16: 16,
  I32: 32, U32: 32, F32: 32,
  I64: 64, U64: 64, F64: 64, C64: 64,
  F4: 4, F6_E2M3: 6, F6_E3M2: 6,
} as const;

export type Dtype = keyof typeof DTYPE_BITS;

/** The reference implementation's MAX_HEADER_SIZE. */
export const MAX_HEADER_BYTES = 100_000_000;
export const LENGTH_PREFIX_BYTES = 8;

export interface TensorInfo {
  name: string;
  dtype: Dtype;
  shape: number[];
  /** [begin, end) relative to the start of the data buffer, as stored in the header. */
  dataOffsets: [number, number];
  /** Absolute position of the first byte in the (plaintext) file. */
  byteOffset: number;
  byteLength: number;
  /** The file holding the tensor (a shard, for sharded checkpoints). */
  file: string;
}

export interface ParsedHeader {
  /** Tensors in file order (by data offset). */
  tensors: TensorInfo[];
  metadata: Record<string, string>;
  /** 8 + N: where the data buffer starts. */
  dataStart: number;
}

export function bad(file: string, what: string): WeightsealError {
  return new WeightsealError('ERR_BAD_SAFETENSORS', `${file}: not a valid safetensors file: ${what}`,
    { path: file });
}

/**
 * Reads the length prefix and checks it against the file size; returns N. Called before any
 * byte of the JSON is read, so an oversized or lying prefix costs nothing.
 */
export function headerLength(prefix: Uint8Array, fileSize: number, file: string): number {
  if (fileSize < LENGTH_PREFIX_BYTES || prefix.length < LENGTH_PREFIX_BYTES) {
    throw bad(file, `${fileSize} bytes is too short for the 8-byte header length`);
  }
  const n = new DataView(prefix.buffer, prefix.byteOffset, 8).getBigUint64(0, true);
  if (n > BigInt(MAX_HEADER_BYTES)) {
    throw bad(file, `header length ${n} exceeds the ${MAX_HEADER_BYTES}-byte limit`);
  }
  const len = Number(n);
  if (len < 2) throw bad(file, `header length ${len} is too short for a JSON object`);
  if (LENGTH_PREFIX_BYTES + len > fileSize) {
    throw bad(file, `header length ${len} runs past the end of the ${fileSize}-byte file`);
  }
  return len;
}

function isNonNegInt(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

/** Parses and validates the JSON header of a file whose data buffer has `dataBytes` bytes. */
export function parseHeader(json: Uint8Array, headerBytes: number, fileSize: number,
  file: string): ParsedHeader {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(json);
  } catch {
    throw bad(file, 'header is not valid UTF-8');
  }
  if (!text.startsWith('{')) throw bad(file, 'header does not start with a JSON object');
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw bad(file, `header is not valid JSON (${(e as Error).message})`);
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw bad(file, 'header is not a JSON object');
  }
  const dataStart = LENGTH_PREFIX_BYTES + headerBytes;
  const dataBytes = fileSize - dataStart;
  const metadata: Record<string, string> = {};
  const tensors: TensorInfo[] = [];
  for (const [name, entry] of Object.entries(raw as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) {
        throw bad(file, '__metadata__ must be an object of strings');
      }
      for (const [k, v] of Object.entries(entry as Record<string, unknown>)) {
        if (typeof v !== 'string') throw bad(file, `__metadata__.${k} must be a string, got ${typeof v}`);
        metadata[k] = v;
      }
      continue;
    }
    tensors.push(tensorEntry(name, entry, dataStart, dataBytes, file));
  }
  checkLayout(tensors, dataBytes, file);
  return { tensors, metadata, dataStart };
}

function tensorEntry(name: string, entry: unknown, dataStart: number, dataBytes: number,
  file: string): TensorInfo {
  if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) {
    throw bad(file, `tensor "${name}" must be an object with dtype, shape and data_offsets`);
  }
  // Extra fields are ignored, as serde does in the reference crate.
  const { dtype, shape, data_offsets: offsets } = entry as Record<string, unknown>;
  if (typeof dtype !== 'string' || !Object.hasOwn(DTYPE_BITS, dtype)) {
    throw bad(file, `tensor "${name}" has unknown dtype ${JSON.stringify(dtype)}`);
  }
  if (!Array.isArray(shape) || !shape.every(isNonNegInt)) {
    throw bad(file, `tensor "${name}" shape must be an array of non-negative integers`);
  }
  if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isNonNegInt)) {
    throw bad(file, `tensor "${name}" data_offsets must be [begin, end] integers`);
  }
  const [begin, end] = offsets as [number, number];
  if (end < begin) throw bad(file, `tensor "${name}" data_offsets end ${end} is before begin ${begin}`);
  if (end > dataBytes) {
    throw bad(file, `tensor "${name}" data_offsets [${begin}, ${end}] run past the ${dataBytes}-byte data buffer`);
  }
  let elements = 1n;
  for (const d of shape as number[]) elements *= BigInt(d);
  const bits = elements * BigInt(DTYPE_BITS[dtype as Dtype]);
  if (bits % 8n !== 0n || bits / 8n !== BigInt(end - begin)) {
    throw bad(file, `tensor "${name}" is ${end - begin} bytes but shape [${(shape as number[]).join(', ')}] ` +
      `of ${dtype} needs ${bits % 8n === 0n ? `${bits / 8n} bytes` : `${bits} bits, not whole bytes`}`);
  }
  return {
    name, dtype: dtype as Dtype, shape: shape as number[], dataOffsets: [begin, end],
    byteOffset: dataStart + begin, byteLength: end - begin, file,
  };
}

/** Sorted by offset, each tensor must start where the previous ended, and the last end the data. */
function checkLayout(tensors: TensorInfo[], dataBytes: number, file: string): void {
  tensors.sort((a, b) => a.dataOffsets[0] - b.dataOffsets[0] || a.dataOffsets[1] - b.dataOffsets[1]);
  let at = 0;
  let prev = '';
  for (const t of tensors) {
    const [begin, end] = t.dataOffsets;
    if (begin < at) throw bad(file, `tensor "${t.name}" at [${begin}, ${end}] overlaps "${prev}" (ends at ${at})`);
    if (begin > at) throw bad(file, `hole of ${begin - at} bytes in the data buffer before "${t.name}" at ${begin}`);
    at = end;
    prev = t.name;
  }
  if (at !== dataBytes) {
    throw bad(file, at < dataBytes ?
      `${dataBytes - at} bytes after the last tensor are not covered by the header` :
      `tensors end at ${at} but the data buffer has ${dataBytes} bytes`);
  }
}

/** Bytes per element for whole-byte dtypes (sub-byte ones give a fraction). */
export function dtypeBytes(dtype: Dtype): number {
  return DTYPE_BITS[dtype] / 8;
}

/**
 * Serialises a header the way the reference crate does: tensors in the given order with
 * consecutive offsets, JSON padded with spaces to a multiple of 8 so the data is aligned.
 */
export function buildHeader(tensors: { name: string; dtype: Dtype; shape: number[] }[],
  metadata?: Record<string, string>): { header: Uint8Array; dataBytes: number; offsets: [number, number][] } {
  const obj: Record<string, unknown> = {};
  if (metadata && Object.keys(metadata).length > 0) obj.__metadata__ = metadata;
  let at = 0;
  const offsets: [number, number][] = [];
  for (const t of tensors) {
    let elements = 1;
    for (const d of t.shape) elements *= d;
    const bytes = (elements * DTYPE_BITS[t.dtype]) / 8;
    if (!Number.isSafeInteger(bytes)) throw new RangeError(`tensor ${t.name} does not fill whole bytes`);
    offsets.push([at, at + bytes]);
    obj[t.name] = { dtype: t.dtype, shape: t.shape, data_offsets: [at, at + bytes] };
    at += bytes;
  }
  let json = JSON.stringify(obj);
  const pad = (8 - (Buffer.byteLength(json) % 8)) % 8;
  json += ' '.repeat(pad);
  const body = new TextEncoder().encode(json);
  const header = new Uint8Array(8 + body.length);
  new DataView(header.buffer).setBigUint64(0, BigInt(body.length), true);
  header.set(body, 8);
  return { header, dataBytes: at, offsets };
}
