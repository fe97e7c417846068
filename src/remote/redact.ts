/**
 * What of a remote location may be shown: scheme://host/path. Presigned URLs carry their
 * credentials in the query string (X-Amz-Signature, sig=, token=), some URLs carry user:pass,
 * and callers pass Authorization headers and S3 keys; none of that may reach an error message,
 * a warning, a progress line or --json output. Every message about a remote object is built
 * from redactUrl(), and causes from libraries are rewritten through a Redactor that knows the
 * secret strings of this load.
 */

const REDACTED = '[redacted]';

/** scheme://host[:port]/path of a URL: no user info, query or fragment. Unparseable input says so. */
export function redactUrl(url: string | URL): string {
  let u: URL;
  try {
    u = typeof url === 'string' ? new URL(url) : url;
  } catch {
    return '(unparseable URL)';
  }
  if (u.protocol === 's3:') return `s3://${u.host}${u.pathname}`;
  return `${u.protocol}//${u.host}${u.pathname}`;
}

/** Secrets shorter than this are not scrubbed as substrings: they would mangle ordinary text. */
const MIN_SECRET = 4;

export class Redactor {
  readonly #secrets = new Set<string>();

  /** Everything secret about `url`: its query string (and each value in it) and user info. */
  addUrl(url: string | URL): this {
    let u: URL;
    try {
      u = typeof url === 'string' ? new URL(url) : url;
    } catch {
      if (typeof url === 'string') this.add(url);
      return this;
    }
    if (u.search.length > 1) {
      this.add(u.search.slice(1));
      for (const [, v] of u.searchParams) this.add(v);
      // Libraries may print the query percent-encoded or decoded; scrub both spellings.
      this.add(decodeURIComponentSafe(u.search.slice(1)));
    }
    if (u.username) this.add(u.username);
    if (u.password) this.add(u.password);
    return this;
  }

  /** Header values (Authorization, cookies, API keys): every value is treated as secret. */
  addHeaders(headers: Record<string, string> | undefined): this {
    for (const v of Object.values(headers ?? {})) {
      this.add(v);
      // "Bearer abc": the token alone may also be echoed back.
      for (const part of v.split(/\s+/)) this.add(part);
    }
    return this;
  }

  add(secret: string | undefined): this {
    if (typeof secret === 'string' && secret.length >= MIN_SECRET) this.#secrets.add(secret);
    return this;
  }

  /** `text` with every known secret, and every URL's query and user info, removed. */
  scrub(text: string): string {
    let out = text;
    // Longest first, so a secret that contains another is removed whole.
    for (const s of [...this.#secrets].sort((a, b) => b.length - a.length)) out = out.split(s).join(REDACTED);
    return out.replace(/\b([a-z][a-z0-9+.-]*:\/\/)[^\s/?#@]*@/gi, '$1')
      .replace(/\b([a-z][a-z0-9+.-]*:\/\/[^\s?#]*)[?#][^\s'"<>)]*/gi, '$1');
  }

  /**
   * A cause safe to attach to a WeightsealError: same name, code and status, scrubbed
   * message, and no stack or nested objects that could hold request headers.
   */
  cause(e: unknown): Error {
    const src = e instanceof Error ? e : new Error(String(e));
    const safe = new Error(this.scrub(src.message));
    safe.name = src.name;
    const code = (src as { code?: unknown }).code;
    if (typeof code === 'string') (safe as { code?: string }).code = code;
    safe.stack = `${safe.name}: ${safe.message}`;
    return safe;
  }
}

function decodeURIComponentSafe(s: string): string {
  try {
    return decodeURIComponent(s.replace(/\+/g, ' '));
  } catch {
    return s;
  }
}
