/**
 * Debian's nginx as a real range server for the tests and bench:remote: started on a free 127.0.0.1 port with a
 * temporary config, root and logs, in the foreground as one process (no daemon, no master, no
 * user switch), and stopped by the test. .ci/run installs the package when it is missing.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

export const NGINX = ['/usr/sbin/nginx', '/usr/bin/nginx'].find((p) => existsSync(p)) ?? null;

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

export class Nginx {
  private constructor(readonly dir: string, readonly port: number, private readonly proc: ChildProcess) {}

  static async start(): Promise<Nginx> {
    if (!NGINX) throw new Error('nginx is not installed (apt-get install nginx)');
    const dir = await mkdtemp(join(tmpdir(), 'weightseal-nginx-'));
    await mkdir(join(dir, 'root'));
    const port = await freePort();
    const conf = `daemon off;
master_process off;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 512; }
http {
  log_format ranges '$connection $connection_requests $status $http_range $body_bytes_sent';
  access_log ${dir}/access.log ranges;
  client_body_temp_path ${dir}/tmp-body;
  proxy_temp_path ${dir}/tmp-proxy;
  fastcgi_temp_path ${dir}/tmp-fcgi;
  uwsgi_temp_path ${dir}/tmp-uwsgi;
  scgi_temp_path ${dir}/tmp-scgi;
  sendfile on;
  keepalive_requests 100000;
  keepalive_timeout 60s;
  default_type application/octet-stream;
  server {
    listen 127.0.0.1:${port};
    root ${dir}/root;
    location / { }
  }
}
`;
    await writeFile(join(dir, 'nginx.conf'), conf);
    const proc = spawn(NGINX, ['-c', join(dir, 'nginx.conf'), '-p', dir, '-e', join(dir, 'error.log')],
      { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    proc.stderr!.on('data', (d: Buffer) => { stderr += d.toString(); });
    const n = new Nginx(dir, port, proc);
    // Ready once the port answers.
    for (let i = 0; i < 200; i++) {
      if (proc.exitCode !== null) throw new Error(`nginx exited: ${stderr}`);
      try {
        const res = await fetch(`http://127.0.0.1:${port}/`, { method: 'HEAD' });
        await res.arrayBuffer();
        return n;
      } catch {
        await new Promise((r) => setTimeout(r, 25));
      }
    }
    await n.stop();
    throw new Error(`nginx did not start: ${stderr}`);
  }

  /** The directory nginx serves. */
  get root(): string {
    return join(this.dir, 'root');
  }

  url(path: string): string {
    return `http://127.0.0.1:${this.port}${path}`;
  }

  async put(path: string, bytes: Uint8Array): Promise<void> {
    const file = join(this.dir, 'root', path);
    await mkdir(dirname(file), { recursive: true });
    await writeFile(file, bytes);
  }

  /** Access log lines: connection serial, requests on that connection, status, Range, bytes. */
  async accessLog(): Promise<{ connection: number; requests: number; status: number; range: string; bytes: number }[]> {
    const text = await readFile(join(this.dir, 'access.log'), 'utf8').catch(() => '');
    return text.trim().split('\n').filter(Boolean).map((l) => {
      const [c, r, s, range, b] = l.split(' ');
      return { connection: Number(c), requests: Number(r), status: Number(s), range: range!, bytes: Number(b) };
    });
  }

  async stop(): Promise<void> {
    if (this.proc.exitCode === null) {
      const exited = new Promise((r) => this.proc.once('exit', r));
      this.proc.kill('SIGQUIT');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 3000))]);
      if (this.proc.exitCode === null) this.proc.kill('SIGKILL');
    }
    await rm(this.dir, { recursive: true, force: true });
  }
}
