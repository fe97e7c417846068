/**
 * The command with URL inputs: open, verify and inspect read http:// objects; --header carries
 * credentials; neither the token nor a presigned query string appears in any output, --json
 * included, whether the command succeeds or fails.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../src/cli/program.js';
import { sealInline } from '../src/format.js';
import { SMALL_MODEL, safetensorsBytes } from './fixtures/safetensors.js';
import { same } from './helpers/bytes.js';
import { RangeServer } from './helpers/range-server.js';

const TOKEN = 'Bearer cli-secret-token-98765';
const QUERY = '?X-Amz-Signature=cafe0123456789signature&X-Amz-Credential=AKIACLISECRET';
const key = new Uint8Array(randomBytes(32));
const { bytes: plain } = safetensorsBytes(SMALL_MODEL, { format: 'pt' });

let server: RangeServer;
let dir: string;
let keyFile: string;
beforeAll(async () => {
  server = await RangeServer.start({ authorization: TOKEN });
  server.set('/model.safetensors', sealInline(key, plain));
  dir = await mkdtemp(join(tmpdir(), 'weightseal-rcli-'));
  keyFile = join(dir, 'k.key');
  await writeFile(keyFile, key);
});
afterAll(async () => {
  await server.close();
  await rm(dir, { recursive: true, force: true });
});

async function cli(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await runCli(argv, { out: (t) => { out += t + '\n'; }, err: (t) => { err += t + '\n'; } });
  return { code, out, err };
}

function noSecrets(text: string): void {
  for (const s of ['cli-secret-token-98765', 'cafe0123456789signature', 'AKIACLISECRET', 'X-Amz-Signature']) {
    expect(text).not.toContain(s);
  }
}

describe('weightseal with URL inputs', () => {
  const url = () => server.url('/model.safetensors', QUERY);

  it('open URL OUT --json', async () => {
    const out = join(dir, 'opened.safetensors');
    const r = await cli('open', url(), out, '--key-file', keyFile, '--header', `Authorization: ${TOKEN}`,
      '--connections', '2', '--json');
    expect(r.code).toBe(0);
    expect(JSON.parse(r.out)).toMatchObject({ ok: true, input: server.url('/model.safetensors') });
    expect(same(await readFile(out), plain)).toBe(true);
    noSecrets(r.out + r.err);
  });

  it('verify URL and inspect URL', async () => {
    const v = await cli('verify', url(), '--key-file', keyFile, '--header', `Authorization: ${TOKEN}`);
    expect(v.code).toBe(0);
    expect(v.out).toContain(server.url('/model.safetensors'));
    const i = await cli('inspect', url(), '--key-file', keyFile, '--header', `Authorization: ${TOKEN}`, '--json');
    expect(i.code).toBe(0);
    expect(JSON.parse(i.out)).toMatchObject({ tensors: SMALL_MODEL.length, file: server.url('/model.safetensors') });
    noSecrets(v.out + v.err + i.out + i.err);
  });

  it('a refused request exits 3 with ERR_IO and no secret in --json or stderr', async () => {
    const r = await cli('verify', url(), '--key-file', keyFile, '--header', `Authorization: ${TOKEN}x`, '--json');
    expect(r.code).toBe(3);
    expect(JSON.parse(r.out)).toMatchObject({ ok: false, error: { code: 'ERR_IO' } });
    expect(r.err).toContain('HTTP 403');
    noSecrets(r.out + r.err);
  });
});
