/**
 * Key hygiene checks shared by the bad-input and key-hygiene suites: everything a thrown value
 * can show, and every way a key's bytes could appear in it.
 */
import { inspect } from 'node:util';

/** message, stack, own props as JSON, util.inspect (depth Infinity, hidden), down the cause chain. */
export function serialise(e: unknown): string {
  const parts: string[] = [];
  let cur: unknown = e;
  for (let depth = 0; depth < 10 && cur !== undefined && cur !== null; depth++) {
    if (cur instanceof Error) {
      parts.push(cur.message, cur.stack ?? '');
      const own: Record<string, unknown> = {};
      for (const k of Object.getOwnPropertyNames(cur)) own[k] = (cur as unknown as Record<string, unknown>)[k];
      try {
        parts.push(JSON.stringify(own));
      } catch {
        parts.push('[unserialisable]');
      }
    } else {
      parts.push(String(cur));
    }
    parts.push(inspect(cur, { depth: Infinity, showHidden: true, maxArrayLength: Infinity, maxStringLength: Infinity }));
    cur = cur instanceof Error ? cur.cause : undefined;
  }
  return parts.join('\n');
}

/** The whole key as hex and base64, and any 6-byte window as hex, raw bytes, <Buffer ..> and [..]. */
export function keyForms(key: Uint8Array): string[] {
  const b = Buffer.from(key);
  const forms = [b.toString('hex'), b.toString('hex').toUpperCase(), b.toString('base64'), b.toString('base64url')];
  for (let i = 0; i + 6 <= b.length; i++) {
    const w = b.subarray(i, i + 6);
    forms.push(w.toString('hex'), w.toString('latin1'), [...w].map((x) => x.toString(16).padStart(2, '0')).join(' '),
      [...w].join(', '), [...w].join(','));
  }
  return forms;
}

export function expectNoKey(text: string, keys: Uint8Array[]): void {
  for (const key of keys) {
    for (const form of keyForms(key)) {
      if (text.includes(form)) throw new Error(`key bytes leaked as ${JSON.stringify(form)} in:\n${text}`);
    }
  }
}

/** The value `run` throws or rejects with; a call that succeeds fails the test. */
export async function caught(run: () => unknown): Promise<unknown> {
  try {
    await run();
  } catch (e) {
    return e;
  }
  throw new Error('expected a failure, but the call succeeded');
}
