/**
 * A fault-injecting proxy in front of s3rver, on 127.0.0.1: requests pass through unchanged
 * (the Host header too, so SigV4 signatures still verify at s3rver) unless `fault` answers one
 * with an S3-style error of its own, e.g. 503 SlowDown with a Retry-After.
 */
import { createServer, request, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export interface S3Fault {
  status: number;
  code: string;
  retryAfter?: string;
}

export class S3FaultProxy {
  /** Method, path and Range of every request, and the status the proxy itself sent (0: passed on). */
  readonly log: { method: string; path: string; range: string | null; faulted: number }[] = [];
  fault: ((req: IncomingMessage) => S3Fault | null) | null = null;
  readonly #sockets = new Set<Socket>();

  private constructor(private readonly server: Server, private readonly upstream: URL) {}

  static async start(upstream: string): Promise<S3FaultProxy> {
    const server = createServer();
    const proxy = new S3FaultProxy(server, new URL(upstream));
    server.on('connection', (s) => {
      proxy.#sockets.add(s);
      s.on('close', () => proxy.#sockets.delete(s));
    });
    server.on('request', (req, res) => {
      const f = proxy.fault?.(req) ?? null;
      const range = typeof req.headers.range === 'string' ? req.headers.range : null;
      proxy.log.push({ method: req.method ?? '', path: req.url ?? '', range, faulted: f?.status ?? 0 });
      if (f) {
        req.resume();
        const body = `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${f.code}</Code>` +
          '<Message>injected by the test proxy</Message><RequestId>test</RequestId></Error>';
        res.writeHead(f.status, {
          'content-type': 'application/xml', 'content-length': Buffer.byteLength(body),
          ...(f.retryAfter !== undefined ? { 'retry-after': f.retryAfter } : {}),
        });
        res.end(body);
        return;
      }
      const up = request({
        host: proxy.upstream.hostname, port: proxy.upstream.port, method: req.method, path: req.url,
        headers: req.headers,
      }, (ur) => {
        res.writeHead(ur.statusCode ?? 502, ur.headers);
        ur.pipe(res);
      });
      up.on('error', () => res.destroy());
      req.pipe(up);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return proxy;
  }

  get endpoint(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async close(): Promise<void> {
    for (const s of this.#sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
