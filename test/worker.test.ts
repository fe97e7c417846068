/** The addon loads and works inside worker threads (STYLE habit 6). */
import { randomBytes } from 'node:crypto';
import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { gcmSeal } from '../src/hazmat.js';
import { nativeCases } from './helpers/backends.js';

const workerSource = `
  const { parentPort, workerData } = require('node:worker_threads');
  const addon = require(workerData.path);
  const k = new addon.NativeKey(workerData.key, workerData.kernel);
  const out = new Uint8Array(workerData.pt.length + 16);
  k.seal(workerData.iv, new Uint8Array(0), workerData.pt, out);
  k.destroy();
  parentPort.postMessage(out);
`;

// Without the addon there is nothing to load in a worker (the fallback has its own test).
if (nativeCases().length === 0) it.skip('the native addon is not loaded here', () => {});

describe.each(nativeCases())('addon in worker_threads on $label', ({ backend }) => {
  it('seals in four workers at once, matching the main thread', async () => {
    const { addonStatus } = await import('../src/backend/addon.js');
    const path = addonStatus().path!;
    const key = randomBytes(32), iv = randomBytes(12), pt = randomBytes(100000);
    const want = gcmSeal(key, iv, pt, undefined, { backend });
    const results = await Promise.all([0, 1, 2, 3].map(() => new Promise<Uint8Array>((resolve, reject) => {
      const w = new Worker(workerSource, { eval: true, workerData: { path, key, iv, pt, kernel: backend.kernel } });
      w.once('message', (m: Uint8Array) => { resolve(m); void w.terminate(); });
      w.once('error', reject);
    })));
    for (const r of results) expect(Buffer.from(r).equals(Buffer.from(want))).toBe(true);
  });
});
