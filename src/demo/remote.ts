/**
 * The demo's remote step: the sealed model served over loopback HTTP (a small range server of
 * node:http, so the demo needs nothing installed), then three tensors and the whole model
 * loaded from the URL as a loader would from object storage, with GB/s and bytes fetched.
 */
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { bytesHuman } from '../cli/inspect.js';
import { SealedSafetensors } from '../safetensors/index.js';
import type { Step } from './report.js';

/** Serves one file with byte ranges (RFC 9110 14) on 127.0.0.1, on a free port. */
async function serveFile(path: string): Promise<{ url: string; server: Server }> {
  const { size, mtime } = await stat(path);
  const etag = `"${size.toString(16)}-${mtime.getTime().toString(16)}"`;
  const server = createServer((req, res) => {
    const m = /^bytes=(\d+)-(\d*)$/.exec(req.headers.range ?? '');
    const first = m ? Number(m[1]) : 0;
    const last = m && m[2] !== '' ? Math.min(Number(m[2]), size - 1) : size - 1;
    if (m && first >= size) {
      res.writeHead(416, { 'content-range': `bytes */${size}` }).end();
      return;
    }
    res.writeHead(m ? 206 : 200, {
      etag, 'content-length': last - first + 1, 'accept-ranges': 'bytes',
      ...(m ? { 'content-range': `bytes ${first}-${last}/${size}` } : {}),
    });
    createReadStream(path, { start: first, end: last }).pipe(res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/model.safetensors`, server };
}

export async function remoteLoad(sealedPath: string, key: Uint8Array, say: (l: string) => void): Promise<Step[]> {
  const { url, server } = await serveFile(sealedPath);
  const steps: Step[] = [];
  try {
    say(`  serving the sealed model at ${url}`);
    let t0 = performance.now();
    let m = await SealedSafetensors.open(url, key);
    try {
      const names = m.tensors().map((t) => t.name);
      const pick = [names[0]!, names[Math.floor(names.length / 2)]!, names[names.length - 1]!];
      let bytes = 0;
      for (const name of pick) bytes += (await m.read(name)).length;
      const s = m.stats();
      const seconds = (performance.now() - t0) / 1000;
      steps.push({ step: 'remote: 3 tensors by URL', seconds, bytes,
        detail: `${bytesHuman(s.bytesFetched)} fetched in ${s.requests} requests for ${bytesHuman(bytes)} of tensors` });
      say(`  remote:   3 tensors (${bytesHuman(bytes)}) in ${s.requests} requests, ${bytesHuman(s.bytesFetched)} fetched, ` +
        `${(bytes / seconds / 1e9).toFixed(2)} GB/s`);
    } finally {
      await m.close();
    }
    t0 = performance.now();
    m = await SealedSafetensors.open(url, key);
    try {
      let bytes = 0;
      for await (const t of m.stream()) bytes += t.data.length;
      const s = m.stats();
      const seconds = (performance.now() - t0) / 1000;
      steps.push({ step: 'remote: whole model by URL', seconds, bytes,
        detail: `${bytesHuman(s.bytesFetched)} fetched in ${s.requests} requests` });
      say(`  remote:   whole model (${bytesHuman(bytes)}) at ${(bytes / seconds / 1e9).toFixed(2)} GB/s, ` +
        `${bytesHuman(s.bytesFetched)} fetched in ${s.requests} requests`);
    } finally {
      await m.close();
    }
  } finally {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
  return steps;
}
