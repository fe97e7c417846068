/**
 * The one entry point from the rest of weightseal to remote objects: a URL (http://, https://,
 * s3://) and the caller's options in, a RangedObject out, plus the ByteSource the pipeline reads
 * (src/io/sources.ts) and the random-access Source SealedFile reads.
 */
import { WeightsealError, invalidArg } from '../errors.js';
import type { ByteSource } from '../io/sources.js';
import { RangedObject, RemoteContext, type RemoteStats } from './object.js';
import { checkRemote, isRemoteUrl, type RemoteOptions } from './options.js';
import { redactUrl } from './redact.js';

export { RangedObject, RemoteContext, isRemoteUrl };
export type { RemoteOptions, RemoteStats };

/** A fresh context (connection pool, counters, secrets) for one load. */
export function remoteContext(opts: RemoteOptions | undefined): RemoteContext {
  return new RemoteContext(checkRemote(opts));
}

/**
 * Opens a remote object with one request. Without `ctx` it gets a context of its own, closed
 * with it; with one, it shares that load's connections and counters and close() leaves them.
 */
export async function openRemote(url: string | URL, opts: RemoteOptions | undefined,
  ctx?: RemoteContext): Promise<RangedObject> {
  const c = ctx ?? remoteContext(opts);
  const owned = ctx === undefined;
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    if (owned) await c.close();
    throw invalidArg(`${redactUrl(String(url))} is not a valid URL`);
  }
  if (u.protocol === 's3:') {
    const { S3Object } = await import('./s3.js');
    return S3Object.open(u, c, owned);
  }
  // undici loads only when a URL is first used: a process reading files never pays for it.
  const { HttpObject } = await import('./http.js');
  return HttpObject.open(u, c, owned);
}

/** The pipeline's view of a remote object: sequential and positional reads, both ranged GETs. */
export class RemoteByteSource implements ByteSource {
  position = 0;
  constructor(readonly object: RangedObject, private readonly owned: boolean) {}

  get name(): string {
    return this.object.name;
  }

  get size(): number {
    return this.object.size;
  }

  readAt(dst: Uint8Array, position: number, signal?: AbortSignal): Promise<number> {
    return this.object.readAt(dst, position, signal);
  }

  async read(dst: Uint8Array, signal: AbortSignal): Promise<number> {
    const n = await this.object.readAt(dst, this.position, signal);
    this.position += n;
    return n;
  }

  close(): Promise<void> {
    return this.owned ? this.object.close() : Promise.resolve();
  }
}

/** A pipeline source for a URL (opened here, closed with the source) or an open object (left open). */
export async function remoteByteSource(input: string | URL | RangedObject,
  opts: RemoteOptions | undefined): Promise<RemoteByteSource> {
  if (input instanceof RangedObject) return new RemoteByteSource(input, false);
  return new RemoteByteSource(await openRemote(input, opts), true);
}

/** SealedFile's random-access source over a remote object: exact reads, ERR_TRUNCATED past the end. */
export class RemoteSealedSource {
  constructor(readonly object: RangedObject, private readonly owned: boolean) {}

  get name(): string {
    return this.object.name;
  }

  get length(): number {
    return this.object.size;
  }

  async readAt(buf: Uint8Array, position: number): Promise<void> {
    const n = await this.object.readAt(buf, position);
    if (n < buf.length) {
      throw new WeightsealError('ERR_TRUNCATED', `${this.name} ends at byte ${position + n}, ` +
        `before byte ${position + buf.length}`, { path: this.name });
    }
  }

  close(): Promise<void> {
    return this.owned ? this.object.close() : Promise.resolve();
  }
}
