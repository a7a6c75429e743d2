// Tokenizing never stalls `latent serve`: a prompt too long for the context is refused before it is encoded, a
// prompt that may fit is encoded in a worker thread while /health and other requests are answered, and a
// many-line prompt past the context is cut short as soon as that is certain.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { call, makeModelFolder, makeTempDir, type ServeProcess, startServe } from './serveFixture';

/** The bound: /health answers within a second whatever one other request does. */
const HEALTH_DEADLINE_MS = 1_000;

/** Polls /health until `work` settles; resolves with the slowest answer's time. */
async function slowestHealthWhile(serve: ServeProcess, work: Promise<unknown>): Promise<number> {
  let settled = false;
  void work.finally(() => { settled = true; }).catch(() => undefined);
  let slowest = 0;
  let polls = 0;
  while (!settled || polls === 0) {
    const started = performance.now();
    const health = await call(serve, 'GET', '/health');
    slowest = Math.max(slowest, performance.now() - started);
    polls++;
    assert.equal(health.status, 200);
    await new Promise((r) => setTimeout(r, 100));
  }
  return slowest;
}

describe('latent serve: tokenizing never blocks the server', function () {
  this.timeout(300_000);
  let root: string;
  let serve: ServeProcess;

  before(async () => {
    root = makeTempDir('latent-serve-tokenizing-');
    // The lite fixture's context: 2048 tokens. The default body limit (4 MiB) lets a 3.9 MB prompt in.
    serve = await startServe(await makeModelFolder(root, false));
  });

  after(async () => {
    await serve?.stop();
    fs.rmSync(root, { recursive: true, force: true });
  });

  it('answers /health within 1 s while a 3.9 MB prompt is refused, and refuses it with a 400 naming the context', async () => {
    const huge = call(serve, 'POST', '/v1/completions', { prompt: 'a'.repeat(3_900_000), max_tokens: 1 });
    const slowest = await slowestHealthWhile(serve, huge);
    const refused = await huge;
    assert.equal(refused.status, 400, refused.text);
    assert.equal(refused.json.error.param, 'prompt');
    assert.match(refused.json.error.message, /context holds 2048/);
    assert.ok(slowest < HEALTH_DEADLINE_MS, `/health took ${slowest.toFixed(0)} ms`);
  });

  it('encodes a prompt that may fit in a worker: /health and a small completion are answered meanwhile', async () => {
    // Under the bytes-per-token bound, so it must be encoded; one long word, the tokenizer's slowest case (seconds).
    const slow = call(serve, 'POST', '/v1/completions', { prompt: 'a'.repeat(300_000), max_tokens: 1 });
    const small = call(serve, 'POST', '/v1/completions', { prompt: 'def f(x):', max_tokens: 2, temperature: 0 });
    const slowest = await slowestHealthWhile(serve, slow);
    assert.ok(slowest < HEALTH_DEADLINE_MS, `/health took ${slowest.toFixed(0)} ms`);
    assert.equal((await small).status, 200, (await small).text);
    const refused = await slow;
    assert.equal(refused.status, 400, refused.text);
    assert.match(refused.json.error.message, /at least \d+ tokens; this model's context holds 2048/);
  });

  it('stops encoding a many-line prompt soon after it passes the context', async () => {
    const line = `const value_${'abc'.repeat(20)} = compute(alpha, beta) + 42;\n`;
    // About 470 KB, some 166,000 tokens; encoding stops after its first 64 KB piece or two.
    const prompt = line.repeat(Math.floor(470_000 / line.length));
    const refused = await call(serve, 'POST', '/v1/completions', { prompt, max_tokens: 1 });
    assert.equal(refused.status, 400, refused.text);
    const counted = Number(/at least (\d+) tokens/.exec(refused.json.error.message)?.[1]);
    assert.ok(counted > 2048 && counted < 50_000, refused.json.error.message);
  });

  it('still answers a prompt that fits exactly as before', async () => {
    const res = await call(serve, 'POST', '/v1/completions', { prompt: 'hello world', max_tokens: 3, temperature: 0 });
    assert.equal(res.status, 200, res.text);
    assert.equal(res.json.usage.prompt_tokens, 3, res.text);
  });
});
