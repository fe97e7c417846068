/**
 * Unknown option keys are ERR_INVALID_ARG at every public entry point: a misspelled
 * `{ contxt: 'tenant-42' }` would otherwise seal under the empty context without a word. The
 * allowed keys of each entry point live in option-keys.ts.
 */
import { invalidArg } from './errors.js';
import { describe } from './validate.js';

/** Edit distance (insert, delete, substitute, swap of neighbours): enough to name a typo's fix. */
function distance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) =>
    Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) v = Math.min(v, d[i - 2]![j - 2]! + 1);
      d[i]![j] = v;
    }
  }
  return d[a.length]![b.length]!;
}

/** The allowed key closest to `key` (case-insensitively), or null when none is close. */
export function nearestKey(key: string, allowed: readonly string[]): string | null {
  let best: string | null = null;
  let bestD = Infinity;
  for (const k of allowed) {
    const dist = distance(key.toLowerCase(), k.toLowerCase());
    if (dist < bestD) { best = k; bestD = dist; }
  }
  if (best !== null && bestD <= Math.max(2, Math.floor(best.length / 3))) return best;
  // A shortened name (readAhead for readAheadBytes): the one allowed key it begins.
  const lower = key.toLowerCase();
  const prefixed = lower.length >= 4 ? allowed.filter((k) => k.toLowerCase().startsWith(lower)) : [];
  return prefixed.length === 1 ? prefixed[0]! : null;
}

/**
 * Throws ERR_INVALID_ARG for the first own string key of `opts` not in `allowed`, naming the
 * nearest valid key. `where` names the entry point ("seal options"). Symbol keys (test hooks)
 * are not options.
 */
export function checkKeys(opts: object, allowed: readonly string[], where: string): void {
  for (const key of Object.keys(opts)) {
    if (allowed.includes(key)) continue;
    const near = nearestKey(key, allowed);
    throw invalidArg(`${where}: unknown option "${key}"` +
      (near ? `; did you mean "${near}"?` : '') + ` (valid: ${allowed.join(', ')})`);
  }
}

/** undefined is {}; anything but a plain object is ERR_INVALID_ARG; then checkKeys. */
export function checkOptionsObject<T extends object>(opts: unknown, allowed: readonly string[], where: string): T {
  if (opts === undefined) return {} as T;
  if (typeof opts !== 'object' || opts === null || Array.isArray(opts)) {
    throw invalidArg(`${where} must be an object like { ${allowed.slice(0, 3).join(', ')} }, got ${describe(opts)}`);
  }
  checkKeys(opts, allowed, where);
  return opts as T;
}
