// Clients that try to wear the server down get a short answer and cost it little: a refused request's body is not
// read (the connection is closed), connections past the cap get a clear 503, values nested 100,000 deep get a
// 400, and an upload the client abandons is not logged as the server's error.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import { call, makeModelFolder, makeTempDir, type ServeProcess, startServe } from './serveFixture';

/** Far more than kernel socket buffers hold, so a server that reads bodies to their end is caught reading. */
const DECLARED_BYTES = 64 * 1024 * 1024;
/** A server that stops reading lets at most the socket buffers fill; a few MiB on Linux loopback. */
const UNREAD_ALLOWANCE = 16 * 1024 * 1024;

/** Sends headers declaring a 64 MiB body, then writes it as fast as the server takes it; returns bytes taken. */
function uploadUntilClosed(url: string, path: string, headers: Record<string, string>): Promise<{ written: number; status: string }> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve) => {
    const socket = net.connect(Number(port), hostname);
    let written = 0;
    let answer = '';
    let reset = false;
    let done = false;
    const finish = (): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      // A socket closed with unread data sends a reset, which can reach the client before it reads the answer.
      resolve({ written, status: answer.split('\r\n')[0] || (reset ? 'reset' : '') });
    };
    // A server still reading after 20 s has read the whole body (or will): the test then fails on `written`.
    const timer = setTimeout(finish, 20_000);
    socket.on('data', (d) => { answer += d.toString('latin1'); });
    socket.on('close', finish);
    socket.on('error', (e: NodeJS.ErrnoException) => { reset = e.code === 'ECONNRESET' || e.code === 'EPIPE'; finish(); });
    socket.on('connect', () => {
      const head = Object.entries({ Host: `${hostname}:${port}`, 'Content-Type': 'application/json',
        'Content-Length': String(DECLARED_BYTES), ...headers }).map(([k, v]) => `${k}: ${v}\r\n`).join('');
      socket.write(`POST ${path} HTTP/1.1\r\n${head}\r\n`);
      const chunk = Buffer.alloc(64 * 1024, 0x20);
      const pump = (): void => {
        while (!done && written < DECLARED_BYTES) {
          written += chunk.length;
          if (!socket.write(chunk)) {
            socket.once('drain', pump);
            return;
          }
        }
      };
      pump();
    });
  });
}

function deep(depth: number): string {
  return '['.repeat(depth) + ']'.repeat(depth);
}

describe('latent serve: hostile clients', function () {
  this.timeout(300_000);
  let root: string;
  let model: string;
  let serve: ServeProcess;

  before(async () => {
    root = makeTempDir('latent-serve-hostile-');
    model = await makeModelFolder(root, false);
    serve = await startServe(model);
  });

  after(async () => {
    await serve?.stop();
    fs.rmSync(root, { recursive: true, force: true });
  });

  for (const [what, path, headers] of [
    ['without a key', '/v1/completions', {}],
    ['with a wrong key', '/v1/completions', { Authorization: 'Bearer wrong-key-0123456789' }],
    ['to an unknown path', '/v1/nothing-here', {}],
  ] as const) {
    it(`answers a request ${what} at once and closes its connection without reading its body`, async () => {
      const { written, status } = await uploadUntilClosed(serve.url, path, headers);
      assert.match(status, /^(HTTP\/1\.1 (401|404) |reset$)/);
      assert.ok(written < UNREAD_ALLOWANCE, `the server took ${written} bytes of a body it had refused`);
    });
  }

  for (const field of ['max_tokens', 'temperature', 'model']) {
    it(`answers a '${field}' nested 100,000 deep with a 400, and logs no stack trace`, async () => {
      const res = await call(serve, 'POST', '/v1/completions', `{"prompt": "x", "${field}": ${deep(100_000)}}`);
      assert.equal(res.status, 400, res.text);
      assert.equal(res.json.error.code, 'json_too_deep');
      assert.doesNotMatch(serve.output(), /RangeError|Maximum call stack|Internal error/);
    });
  }

  it('still reads values nested as deep as real requests are', async () => {
    const res = await call(serve, 'POST', '/v1/completions', { prompt: 'x', max_tokens: 1, stop: ['\n'] });
    assert.equal(res.status, 200, res.text);
  });

  it('does not log an upload the client abandoned as an internal error', async () => {
    const { hostname, port } = new URL(serve.url);
    await new Promise<void>((resolve) => {
      const socket = net.connect(Number(port), hostname, () => {
        socket.write(`POST /v1/completions HTTP/1.1\r\nHost: ${hostname}:${port}\r\nAuthorization: Bearer ${serve.key}\r\n` +
          'Content-Type: application/json\r\nContent-Length: 100000\r\n\r\n{"prompt": "abandoned');
        setTimeout(() => { socket.destroy(); resolve(); }, 300);
      });
    });
    // The server notices the hang-up at once; give a loaded machine a second to log anything it would.
    await new Promise((r) => setTimeout(r, 1_500));
    assert.equal((await call(serve, 'GET', '/health')).status, 200);
    assert.doesNotMatch(serve.output(), /Internal error|aborted|ECONNRESET|\n\s+at /);
  });
});

describe('latent serve: connection cap', function () {
  this.timeout(300_000);
  let root: string;
  let serve: ServeProcess;
  const idle: net.Socket[] = [];

  before(async () => {
    root = makeTempDir('latent-serve-cap-');
    serve = await startServe(await makeModelFolder(root, false), ['--max-connections', '4']);
  });

  after(async () => {
    for (const socket of idle) socket.destroy();
    await serve?.stop();
    fs.rmSync(root, { recursive: true, force: true });
  });

  /** One request on a connection of its own (no pooled connection counts for or against it). */
  function freshRequest(): Promise<{ status: number; retryAfter?: string; body: string }> {
    return new Promise((resolve, reject) => {
      const req = http.request(`${serve.url}/health`, { agent: false, headers: { Authorization: `Bearer ${serve.key}` } }, (res) => {
        let body = '';
        res.on('data', (d) => { body += d; });
        res.on('end', () => resolve({ status: res.statusCode!, retryAfter: res.headers['retry-after'] as string, body }));
      });
      req.on('error', reject);
      req.end();
    });
  }

  it('answers a request beyond the connection cap with 503 and Retry-After, and serves again once below it', async () => {
    const { hostname, port } = new URL(serve.url);
    for (let i = 0; i < 4; i++) {
      idle.push(await new Promise<net.Socket>((resolve) => { const s = net.connect(Number(port), hostname, () => resolve(s)); }));
    }
    const refused = await freshRequest();
    assert.equal(refused.status, 503, refused.body);
    assert.equal(JSON.parse(refused.body).error.code, 'too_many_connections');
    assert.match(refused.retryAfter ?? '', /^\d+$/);
    for (const socket of idle.splice(0)) socket.destroy();
    let again = refused;
    for (let i = 0; i < 50 && again.status === 503; i++) {
      await new Promise((r) => setTimeout(r, 100));
      again = await freshRequest();
    }
    assert.equal(again.status, 200, again.body);
  });
});
