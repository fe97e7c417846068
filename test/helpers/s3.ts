/** s3rver (npm) as the S3 endpoint of the tests: 127.0.0.1, a free port, a temporary directory. */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
// @ts-expect-error s3rver ships no type declarations
import S3rver from 's3rver';

/** s3rver accepts these fixed credentials (and checks the signature made with them). */
export const S3_CREDENTIALS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' };

export class S3Server {
  private constructor(private readonly server: { close(): Promise<void> }, readonly dir: string,
    readonly endpoint: string) {}

  static async start(buckets: string[]): Promise<S3Server> {
    const dir = await mkdtemp(join(tmpdir(), 'weightseal-s3-'));
    const server = new S3rver({
      address: '127.0.0.1', port: 0, silent: true, directory: dir,
      configureBuckets: buckets.map((name) => ({ name })),
    });
    const { port } = (await server.run()) as { port: number };
    return new S3Server(server, dir, `http://127.0.0.1:${port}`);
  }

  /** The options a test passes: endpoint (so path-style), region and s3rver's credentials. */
  get options(): { s3: { endpoint: string; region: string; credentials: typeof S3_CREDENTIALS } } {
    return { s3: { endpoint: this.endpoint, region: 'us-east-1', credentials: S3_CREDENTIALS } };
  }

  async stop(): Promise<void> {
    await this.server.close();
    await rm(this.dir, { recursive: true, force: true });
  }
}
