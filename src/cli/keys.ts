/**
 * Key input for the command: from a file (`--key-file PATH`, `-` for stdin) or an environment
 * variable (`--key-env NAME`), never from argv, where any user can read it in `ps`. A file
 * holds the raw 16 or 32 bytes (what `keygen` writes) or the same as hex text.
 */
import { randomBytes } from 'node:crypto';
import { readFile, stat, writeFile } from 'node:fs/promises';
import { WeightsealError, invalidArg, ioError } from '../errors.js';
import type { Suite } from '../cobblestone.js';

export interface KeySource {
  keyFile?: string;
  keyEnv?: string;
}

export interface LoadedKey {
  key: Uint8Array;
  /** The suite the key's length implies (16 bytes: cobblestone-128). */
  suite: Suite;
  from: string;
}

const HEX = /^(?:[0-9a-fA-F]{32}|[0-9a-fA-F]{64})$/;

/** Raw 16/32 bytes, or 32/64 hex digits with surrounding whitespace. */
export function decodeKey(bytes: Uint8Array, from: string): Uint8Array {
  const text = Buffer.from(bytes).toString('latin1').trim();
  if (HEX.test(text)) return new Uint8Array(Buffer.from(text, 'hex'));
  if (bytes.length === 16 || bytes.length === 32) return new Uint8Array(bytes);
  // 32/64 characters, nearly all hex: a hex key with a typo, not a raw key of the wrong size.
  if (text.length === 32 || text.length === 64) {
    const bad = [...text].findIndex((c) => !/[0-9a-fA-F]/.test(c));
    const hexish = [...text].filter((c) => /[0-9a-fA-F]/.test(c)).length >= text.length - 2;
    if (bad >= 0 && hexish) {
      // Position only: the character itself could be part of a key.
      throw invalidArg(`${from} looks like a hex key but character ${bad + 1} of ${text.length} is not a hex digit ` +
        '(0-9, a-f); fix the file or make a new key with `weightseal keygen --hex FILE`');
    }
  }
  throw invalidArg(`${from} must hold a 32-byte (or 16-byte) key, raw or as hex (64 or 32 digits); it has ` +
    `${bytes.length} bytes (make one with \`weightseal keygen FILE\`)`);
}

async function readStdin(): Promise<Uint8Array> {
  const parts: Buffer[] = [];
  for await (const part of process.stdin) parts.push(part as Buffer);
  return Buffer.concat(parts);
}

/** Mode bits for group and others; a key file should have none. */
export function keyFileWarning(path: string, mode: number): string | null {
  const loose = mode & 0o077;
  if (loose === 0) return null;
  const who = [(loose & 0o070) && 'group', (loose & 0o007) && 'others'].filter(Boolean).join(' and ');
  return `warning: key file ${path} is accessible by ${who} (mode ${(mode & 0o777).toString(8).padStart(4, '0')}); ` +
    `run: chmod 600 ${path}`;
}

/** `noKeyHint` is added to the "a key is needed" message (inspect: the --plaintext way out). */
export async function loadKey(src: KeySource, warn: (line: string) => void, noKeyHint = ''): Promise<LoadedKey> {
  if (src.keyFile !== undefined && src.keyEnv !== undefined) {
    throw invalidArg('give one of --key-file and --key-env, not both');
  }
  let key: Uint8Array;
  let from: string;
  if (src.keyFile === '-') {
    from = 'stdin';
    key = decodeKey(await readStdin(), 'the key on stdin');
  } else if (src.keyFile !== undefined) {
    from = src.keyFile;
    let bytes: Uint8Array;
    try {
      const st = await stat(src.keyFile);
      const w = keyFileWarning(src.keyFile, st.mode);
      if (w) warn(w);
      bytes = await readFile(src.keyFile);
    } catch (e) {
      throw ioError('read key file', src.keyFile, e);
    }
    key = decodeKey(bytes, `key file ${src.keyFile}`);
  } else if (src.keyEnv !== undefined) {
    from = `$${src.keyEnv}`;
    const value = process.env[src.keyEnv];
    if (value === undefined || value === '') {
      throw invalidArg(`environment variable ${src.keyEnv} is not set (it should hold the key as 64 hex digits)`);
    }
    const text = value.trim();
    if (!HEX.test(text)) {
      throw invalidArg(`environment variable ${src.keyEnv} must hold the key as 64 (or 32) hex digits`);
    }
    key = new Uint8Array(Buffer.from(text, 'hex'));
  } else {
    throw invalidArg('a key is needed: --key-file PATH (or - for stdin) or --key-env NAME; ' +
      `keys are never taken from the command line${noKeyHint}`);
  }
  return { key, suite: key.length === 16 ? 'cobblestone-128' : 'cobblestone-256', from };
}

/**
 * A fresh random key, written with mode 0600; never replaces an existing file. `hex` writes
 * it as hex text and a newline (what --key-env takes; --key-file reads either).
 */
export async function keygen(path: string, suite: Suite, format: 'raw' | 'hex' = 'raw'):
  Promise<{ path: string; bytes: number; format: 'raw' | 'hex' }> {
  const bytes = suite === 'cobblestone-128' ? 16 : 32;
  const key = randomBytes(bytes);
  const data = format === 'hex' ? Buffer.from(key.toString('hex') + '\n', 'latin1') : key;
  try {
    await writeFile(path, data, { mode: 0o600, flag: 'wx' });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') {
      throw new WeightsealError('ERR_EXISTS', `${path} already exists; keygen never overwrites a key (remove it first)`,
        { path });
    }
    throw ioError('write key file', path, e);
  } finally {
    key.fill(0);
    data.fill(0);
  }
  return { path, bytes, format };
}
