/**
 * HTTP(S) objects read with byte ranges (RFC 9110 14) over undici keep-alive connections: any
 * server that answers `Range` with 206 (nginx, S3/GCS/Azure presigned URLs, Hugging Face
 * resolve/ URLs after their redirect). The first response fixes the object's length and its
 * validators; every later range is sent with If-Match (a strong ETag) or If-Unmodified-Since
 * (Last-Modified), and any response that disagrees is ERR_REMOTE_CHANGED, so one load never
 * mixes two versions of an object.
 */
import { Agent, request, type Dispatcher } from 'undici';
import { WeightsealError } from '../errors.js';
import { copyChunk } from './copy.js';
import { HEAD_BYTES, RangedObject, badResponse, changed, type RemoteContext } from './object.js';
import { redactUrl } from './redact.js';
import { RETRY_STATUS, Transient, parseRetryAfter } from './retry.js';

const MAX_REDIRECTS = 5;
/** Statuses that no retry changes: fail at once and say which. */
const HINTS: Record<number, string> = {
  401: 'the server wants credentials: pass headers: { authorization } (or --header)',
  403: 'access denied: check the credentials, and the expiry of a presigned URL',
  404: 'no such object: check the URL',
  410: 'the object is gone: check the URL',
};

type Headers = Record<string, string | string[] | undefined>;

function header(h: Headers, name: string): string | null {
  const v = h[name];
  return Array.isArray(v) ? (v[0] ?? null) : (v ?? null);
}

/** `bytes first-last/total` (RFC 9110 14.4); total null for `*`. */
function contentRange(v: string | null): { first: number; last: number; total: number | null } | null {
  const m = v === null ? null : /^\s*bytes\s+(\d+)-(\d+)\/(\d+|\*)\s*$/i.exec(v);
  if (!m) return null;
  const first = Number(m[1]), last = Number(m[2]);
  const total = m[3] === '*' ? null : Number(m[3]);
  if (last < first || (total !== null && last >= total)) return null;
  return { first, last, total };
}

/** Agents (connection pools) are per load, so closing a load closes its sockets. */
export function httpAgent(ctx: RemoteContext): Dispatcher {
  const slot = ctx as RemoteContext & { httpAgent?: Agent };
  if (!slot.httpAgent) {
    const agent = new Agent({
      connections: ctx.opts.connections,
      keepAliveTimeout: 30_000,
      headersTimeout: ctx.opts.retry.stallMs,
      bodyTimeout: ctx.opts.retry.stallMs,
      connect: { timeout: ctx.opts.retry.stallMs },
    });
    slot.httpAgent = agent;
    ctx.onClose(() => agent.destroy());
  }
  return slot.httpAgent;
}

export class HttpObject extends RangedObject {
  /** Where ranges are requested: the given URL, or where its redirects led. */
  #target: URL;
  #headers: Record<string, string>;
  #etag: string | null = null;
  #lastModified: string | null = null;

  private constructor(ctx: RemoteContext, url: URL, owned: boolean) {
    super(ctx, redactUrl(url), owned);
    this.#target = url;
    this.#headers = { ...ctx.opts.headers };
  }

  /** Opens `url` with one request (its first 64 KiB); `owned`: close() also closes the context. */
  static async open(url: string | URL, ctx: RemoteContext, owned: boolean): Promise<HttpObject> {
    const u = new URL(url);
    ctx.redactor.addUrl(u);
    const obj = new HttpObject(ctx, u, owned);
    try {
      await obj.init();
    } catch (e) {
      if (owned) await ctx.close();
      throw e;
    }
    return obj;
  }

  protected readonly peer = 'the server';

  async #send(position: number, length: number, signal: AbortSignal, first: boolean): Promise<Dispatcher.ResponseData> {
    const headers: Record<string, string> = { ...this.#headers, range: `bytes=${position}-${position + length - 1}` };
    if (!first) {
      if (this.#etag !== null && !this.#etag.startsWith('W/')) headers['if-match'] = this.#etag;
      else if (this.#lastModified !== null) headers['if-unmodified-since'] = this.#lastModified;
    }
    try {
      return await request(this.#target, { dispatcher: httpAgent(this.ctx), method: 'GET', headers, signal });
    } catch (e) {
      throw this.#networkError(e, signal);
    }
  }

  #networkError(e: unknown, signal: AbortSignal): unknown {
    if (signal.aborted || e instanceof WeightsealError) return e;
    const code = (e as { code?: unknown }).code;
    // A certificate the client will not accept stays unacceptable: say so at once.
    if (typeof code === 'string' && /CERT|SELF_SIGNED|ERR_TLS|ERR_INVALID_URL/.test(code)) {
      const cause = this.ctx.redactor.cause(e);
      return new WeightsealError('ERR_IO', `cannot connect to ${this.name}: ${cause.message}`, { path: this.name, cause });
    }
    return new Transient((e as Error)?.message ?? String(e), null, { cause: e });
  }

  /** Turns a status no range read accepts into the right error, after discarding the body. */
  async #refuse(res: Dispatcher.ResponseData): Promise<never> {
    await res.body.dump().catch(() => {});
    const s = res.statusCode;
    if (RETRY_STATUS.has(s)) {
      throw new Transient(`HTTP ${s}`, parseRetryAfter(header(res.headers, 'retry-after')));
    }
    if (s === 412) throw changed(this.name, 'its ETag or Last-Modified no longer matches (HTTP 412)');
    if (s === 416) throw changed(this.name, `it is no longer ${this.size} bytes long (HTTP 416)`);
    const hint = HINTS[s] ?? (s >= 300 && s < 400 ? 'a redirect in the middle of a load is not followed' :
      'the server refused the ranged GET');
    throw new WeightsealError('ERR_IO', `cannot read ${this.name}: HTTP ${s} (${hint})`, { path: this.name, status: s });
  }

  protected async probe(signal: AbortSignal): Promise<void> {
    let res: Dispatcher.ResponseData | null = null;
    for (let hop = 0; ; hop++) {
      res = await this.#send(0, HEAD_BYTES, signal, true);
      const location = header(res.headers, 'location');
      if (![301, 302, 303, 307, 308].includes(res.statusCode) || location === null || hop === MAX_REDIRECTS) break;
      await res.body.dump().catch(() => {});
      const next = new URL(location, this.#target);
      this.ctx.redactor.addUrl(next);
      // Credentials meant for one origin are not sent to another (a CDN behind a signed redirect).
      if (next.origin !== this.#target.origin) {
        delete this.#headers['authorization'];
        delete this.#headers['cookie'];
      }
      this.#target = next;
    }
    const h = res.headers as Headers;
    if (res.statusCode === 416) {
      // The only object no range of which is satisfiable is the empty one (RFC 9110 15.5.17).
      const cr = /\/\s*(\d+)\s*$/.exec(header(h, 'content-range') ?? '');
      await res.body.dump().catch(() => {});
      if (cr && Number(cr[1]) === 0) {
        this.size = 0;
        return;
      }
    }
    if (res.statusCode !== 200 && res.statusCode !== 206) await this.#refuse(res);
    this.#etag = header(h, 'etag');
    this.#lastModified = header(h, 'last-modified');
    let total: number;
    if (res.statusCode === 206) {
      const cr = contentRange(header(h, 'content-range'));
      if (!cr || cr.first !== 0 || cr.total === null) {
        await res.body.dump().catch(() => {});
        throw badResponse(this.name, `206 with a Content-Range of ${JSON.stringify(header(h, 'content-range'))} for bytes 0-`);
      }
      total = cr.total;
    } else {
      // 200: the server ignored Range. Fine for an object smaller than what was asked for.
      const cl = Number(header(h, 'content-length') ?? NaN);
      if (!Number.isSafeInteger(cl) || cl > HEAD_BYTES) {
        res.body.destroy();
        throw this.#noRanges();
      }
      total = cl;
    }
    this.size = total;
    const head = new Uint8Array(Math.min(HEAD_BYTES, total));
    await this.#body(res, head, (n) => this.fetched(n));
    this.head = head;
  }

  #noRanges(): WeightsealError {
    return new WeightsealError('ERR_RANGE_NOT_SUPPORTED', `${this.name}: the server ignored the Range header ` +
      '(HTTP 200 instead of 206), so it cannot be read in parts; serve it from a server or storage that ' +
      'supports byte ranges', { path: this.name, status: 200 });
  }

  protected async attempt(dst: Uint8Array, position: number, signal: AbortSignal,
    got: (n: number) => void): Promise<void> {
    const res = await this.#send(position, dst.length, signal, false);
    const h = res.headers as Headers;
    if (res.statusCode !== 206 && !(res.statusCode === 200 && position === 0 && dst.length === this.size)) {
      if (res.statusCode === 200) {
        res.body.destroy();
        throw this.#noRanges();
      }
      await this.#refuse(res);
    }
    const etag = header(h, 'etag');
    if (etag !== null && this.#etag !== null && etag.replace(/^W\//, '') !== this.#etag.replace(/^W\//, '')) {
      res.body.destroy();
      throw changed(this.name, 'its ETag differs from the one it had when opened');
    }
    const lm = header(h, 'last-modified');
    if (lm !== null && this.#lastModified !== null && lm !== this.#lastModified) {
      res.body.destroy();
      throw changed(this.name, 'its Last-Modified differs from the one it had when opened');
    }
    let expect = dst.length;
    if (res.statusCode === 206) {
      const cr = contentRange(header(h, 'content-range'));
      if (!cr || cr.first !== position || cr.last > position + dst.length - 1) {
        res.body.destroy();
        throw badResponse(this.name, `asked for bytes ${position}-${position + dst.length - 1}, got a 206 for ` +
          `${JSON.stringify(header(h, 'content-range'))}`);
      }
      if (cr.total !== null && cr.total !== this.size) {
        res.body.destroy();
        throw changed(this.name, `it is now ${cr.total} bytes, not ${this.size}`);
      }
      expect = cr.last - cr.first + 1;
    }
    const cl = header(h, 'content-length');
    if (cl !== null && Number(cl) !== expect) {
      res.body.destroy();
      throw badResponse(this.name, `Content-Length ${cl} does not match the ${expect} bytes of its Content-Range`);
    }
    await this.#body(res, dst.subarray(0, expect), (n) => { this.fetched(n); got(n); });
  }

  /** Copies the body into dst exactly; more is ERR_BAD_RESPONSE, less (a clean end) too. */
  async #body(res: Dispatcher.ResponseData, dst: Uint8Array, got: (n: number) => void): Promise<void> {
    let at = 0;
    try {
      for await (const chunk of res.body as AsyncIterable<Uint8Array>) {
        if (at + chunk.length > dst.length) {
          throw badResponse(this.name, `the body is longer than the ${dst.length} bytes asked for`);
        }
        copyChunk(dst, at, chunk);
        at += chunk.length;
        got(chunk.length);
      }
    } catch (e) {
      res.body.destroy();
      if (e instanceof WeightsealError) throw e;
      // A reset or a stall in the middle of a body: the bytes so far are kept, the rest is asked again.
      throw this.#networkError(e, new AbortController().signal);
    }
    if (at < dst.length) {
      throw badResponse(this.name, `the body ended after ${at} of ${dst.length} bytes`);
    }
  }
}
