/**
 * Per-rank loading: each of `worldSize` processes (tensor-parallel ranks, nodes) streams its
 * own share of a model and together they read every tensor exactly once. A share is a
 * contiguous run of tensors in file order (shard by shard), cut where the byte midpoint of a
 * tensor crosses rank * total / worldSize: shares differ from total / worldSize by at most one
 * tensor's size, and contiguous runs mean each rank reads few ranges and shares at most the
 * edge record of a boundary with its neighbours. Every process computes the same cut from
 * the header alone: no coordination needed.
 */
import { invalidArg } from '../errors.js';
import type { TensorInfo } from './header.js';

export interface RankShare {
  /** This process's rank, 0 .. worldSize - 1. */
  rank: number;
  /** How many processes share the model. */
  worldSize: number;
}

function isShare(v: unknown): v is RankShare {
  return typeof v === 'object' && v !== null && !(Symbol.iterator in v) && ('rank' in v || 'worldSize' in v);
}

/** Which rank reads each tensor, in the order given. */
export function assignRanks(tensors: readonly Pick<TensorInfo, 'byteLength'>[], worldSize: number): number[] {
  const total = tensors.reduce((n, t) => n + t.byteLength, 0);
  let at = 0;
  return tensors.map((t, i) => {
    // Empty tensors (or an empty model) are dealt round-robin: they cost nothing to read.
    const rank = total === 0 || t.byteLength === 0 ? i % worldSize :
      Math.min(worldSize - 1, Math.floor(((at + t.byteLength / 2) * worldSize) / total));
    at += t.byteLength;
    return rank;
  });
}

/** The tensor names `selection` stands for: a list of names as given, or a rank's share. */
export function shareOf(selection: Iterable<string> | RankShare, tensors: TensorInfo[]): Iterable<string> {
  if (!isShare(selection)) return selection;
  const { rank, worldSize } = selection;
  if (typeof worldSize !== 'number' || !Number.isSafeInteger(worldSize) || worldSize < 1) {
    throw invalidArg(`worldSize must be a positive integer, got ${String(worldSize)}`);
  }
  if (typeof rank !== 'number' || !Number.isSafeInteger(rank) || rank < 0 || rank >= worldSize) {
    throw invalidArg(`rank must be an integer in 0..${worldSize - 1}, got ${String(rank)}`);
  }
  const ranks = assignRanks(tensors, worldSize);
  return tensors.filter((_, i) => ranks[i] === rank).map((t) => t.name);
}
