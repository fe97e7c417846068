/**
 * A small HTTP server on 127.0.0.1 that serves byte ranges (RFC 9110 14) of objects held in
 * memory, and misbehaves on request: every fault a remote load must survive or report (resets,
 * stalls, 5xx and 429 with Retry-After, 4xx, Range ignored, short and long bodies, flipped
 * bytes, an object replaced mid-load). Tests set `fault` to decide per request.
 */
import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export type Fault =
  | { kind: 'status'; status: number; retryAfter?: string }
  /** Sends `after` body bytes, then destroys the socket (a connection reset). */
  | { kind: 'reset'; after: number }
  /** Sends `after` body bytes, then nothing more (a stall). */
  | { kind: 'stall'; after: number }
  /** 200 with the whole object, as a server without range support does. */
  | { kind: 'ignore-range' }
  /** Content-Range of the range asked for, but a Content-Length and body `by` bytes shorter. */
  | { kind: 'short'; by: number }
  /** Content-Range of the range asked for, but `by` more bytes after it (chunked, no length). */
  | { kind: 'long'; by: number }
  /** The body with one byte flipped at `offset` into it. */
  | { kind: 'flip'; offset: number }
  /** A 302 to `location`. */
  | { kind: 'redirect'; location: string };

export interface RequestLog {
  path: string;
  query: string;
  range: string | null;
  headers: Record<string, string | string[] | undefined>;
  status: number;
  bytes: number;
}

interface Entry {
  bytes: Uint8Array;
  etag: string;
  lastModified: string;
}

export interface RangeServerOptions {
  /** Send an ETag (default true). */
  etag?: boolean;
  /** Send Last-Modified (default true). */
  lastModified?: boolean;
  /** Answer If-Match / If-Unmodified-Since with 412 when they fail (default true). */
  conditional?: boolean;
  /** Require this Authorization header value (401 without it, 403 with another). */
  authorization?: string;
}

export class RangeServer {
  readonly log: RequestLog[] = [];
  /** Decides a fault per request (null: serve correctly). */
  fault: ((req: IncomingMessage, n: number) => Fault | null) | null = null;
  readonly #objects = new Map<string, Entry>();
  readonly #sockets = new Set<Socket>();
  #server: Server;
  #version = 0;
  port = 0;
  /** Requests being answered right now, and the most at once. */
  active = 0;
  maxActive = 0;
  /** Wait this long before answering each request (so overlapping requests show). */
  delayMs = 0;

  private constructor(readonly opts: RangeServerOptions) {
    this.#server = createServer((req, res) => this.#handle(req, res));
    this.#server.on('connection', (s: Socket) => {
      this.#sockets.add(s);
      s.on('close', () => this.#sockets.delete(s));
    });
  }

  static async start(opts: RangeServerOptions = {}): Promise<RangeServer> {
    const s = new RangeServer(opts);
    await new Promise<void>((resolve) => s.#server.listen(0, '127.0.0.1', resolve));
    s.port = (s.#server.address() as AddressInfo).port;
    return s;
  }

  url(path: string, query = ''): string {
    return `http://127.0.0.1:${this.port}${path}${query}`;
  }

  /** Serves `bytes` at `path`; a new version gets a new ETag and Last-Modified. */
  set(path: string, bytes: Uint8Array): void {
    this.#version++;
    const etag = `"${createHash('sha256').update(bytes).update(String(this.#version)).digest('hex').slice(0, 16)}"`;
    this.#objects.set(path, { bytes, etag, lastModified: new Date(Date.UTC(2026, 0, 1, 0, 0, this.#version)).toUTCString() });
  }

  /** Open client connections right now. */
  get openSockets(): number {
    return this.#sockets.size;
  }

  /** Body bytes sent in all responses. */
  get bytesSent(): number {
    return this.log.reduce((n, r) => n + r.bytes, 0);
  }

  async close(): Promise<void> {
    for (const s of this.#sockets) s.destroy();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  #handle(req: IncomingMessage, res: ServerResponse): void {
    if (this.delayMs > 0) {
      this.active++;
      setTimeout(() => { this.active--; this.#serve(req, res); }, this.delayMs);
      return;
    }
    this.#serve(req, res);
  }

  /** Resolves once every client connection has closed (a closed load must leave none open). */
  async settled(timeoutMs = 2000): Promise<number> {
    const end = Date.now() + timeoutMs;
    while (this.#sockets.size > 0 && Date.now() < end) await new Promise((r) => setTimeout(r, 10));
    return this.#sockets.size;
  }

  #serve(req: IncomingMessage, res: ServerResponse): void {
    const u = new URL(req.url ?? '/', 'http://x');
    const entry: RequestLog = { path: u.pathname, query: u.search, range: req.headers.range ?? null,
      headers: { ...req.headers }, status: 0, bytes: 0 };
    this.log.push(entry);
    this.active++;
    this.maxActive = Math.max(this.maxActive, this.active);
    res.on('close', () => { this.active--; });
    const send = (status: number, headers: Record<string, string | number>, body?: Uint8Array) => {
      entry.status = status;
      res.writeHead(status, headers);
      if (body) {
        entry.bytes += body.length;
        res.end(body);
      } else {
        res.end();
      }
    };
    if (this.opts.authorization !== undefined) {
      const a = req.headers.authorization;
      if (a === undefined) return send(401, { 'www-authenticate': 'Bearer' });
      if (a !== this.opts.authorization) return send(403, {});
    }
    const obj = this.#objects.get(u.pathname);
    if (!obj) return send(404, { 'content-type': 'text/plain' }, Buffer.from('not found'));
    const fault = this.fault?.(req, this.log.length - 1) ?? null;
    if (fault?.kind === 'status') {
      return send(fault.status, fault.retryAfter !== undefined ? { 'retry-after': fault.retryAfter } : {},
        Buffer.from(`status ${fault.status}`));
    }
    if (fault?.kind === 'redirect') return send(302, { location: fault.location });
    const validators: Record<string, string> = {};
    if (this.opts.etag !== false) validators['etag'] = obj.etag;
    if (this.opts.lastModified !== false) validators['last-modified'] = obj.lastModified;
    if (this.opts.conditional !== false) {
      const im = req.headers['if-match'];
      const ius = req.headers['if-unmodified-since'];
      if ((im !== undefined && im !== obj.etag) || (ius !== undefined && ius !== obj.lastModified)) {
        return send(412, validators);
      }
    }
    const size = obj.bytes.length;
    const m = /^bytes=(\d+)-(\d*)$/.exec(req.headers.range ?? '');
    if (!m || fault?.kind === 'ignore-range') {
      return send(200, { ...validators, 'content-length': size, 'accept-ranges': 'bytes' }, obj.bytes);
    }
    const first = Number(m[1]);
    const last = Math.min(m[2] === '' ? size - 1 : Number(m[2]), size - 1);
    if (first >= size) return send(416, { ...validators, 'content-range': `bytes */${size}` });
    let body: Uint8Array = obj.bytes.subarray(first, last + 1);
    const headers: Record<string, string | number> = { ...validators, 'content-range': `bytes ${first}-${last}/${size}`,
      'content-length': body.length };
    if (fault?.kind === 'flip') {
      body = Uint8Array.from(body);
      body[Math.min(fault.offset, body.length - 1)]! ^= 0x01;
    }
    if (fault?.kind === 'short') {
      body = body.subarray(0, Math.max(0, body.length - fault.by));
      headers['content-length'] = body.length;
    }
    if (fault?.kind === 'long') {
      body = Buffer.concat([body, Buffer.alloc(fault.by, 7)]);
      delete headers['content-length'];
    }
    if (fault?.kind === 'reset' || fault?.kind === 'stall') {
      entry.status = 206;
      res.writeHead(206, headers);
      const part = body.subarray(0, Math.min(fault.after, body.length - 1));
      entry.bytes += part.length;
      res.write(part);
      if (fault.kind === 'reset') setImmediate(() => req.socket.destroy());
      return;
    }
    send(206, headers, body);
  }
}

/** A deterministic PRNG (mulberry32) so fault schedules repeat run to run. */
export function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
