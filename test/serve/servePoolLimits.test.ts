// A real `latent serve` on loopback with a latent pool of 10 pages: a request the whole pool could never hold is a
// 400 that says so; requests that together exhaust it are refused with 503 and a Retry-After after which the same
// request succeeds; never a 500, and no page stays pinned afterwards.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { FIXTURES_DIR, TOKENIZERS_DIR } from '../sharedDir';
import { call, latent, makeTempDir, metricValue, ServeProcess, startServe } from './serveFixture';

/** The lite fixture's shapes with a 512-wide latent: a page of 3 layers x 16 tokens x 520 floats is 99,840 B. */
async function wideLatentModel(root: string): Promise<string> {
  const config = JSON.parse(fs.readFileSync(path.join(FIXTURES_DIR, 'lite', 'config.json'), 'utf8'));
  config.kv_lora_rank = 512;
  const configFile = path.join(root, 'config.json');
  fs.writeFileSync(configFile, JSON.stringify(config));
  const model = path.join(root, 'wide-latent');
  await latent(['init-random', '--config', configFile, '--out', model, '--tokenizer', path.join(TOKENIZERS_DIR, 'deepseek-llm'), '--seed', '3']);
  return model;
}

const tokens = (count: number, seed: number) => Array.from({ length: count }, (_, i) => 1000 + ((i * 31 + seed * 977) % 5000));

describe('serve: the latent pool limits', function () {
  this.timeout(180_000);
  let root: string;
  let serve: ServeProcess;

  before(async () => {
    root = makeTempDir('latent-pool-limits-');
    serve = await startServe(await wideLatentModel(root), ['--cache-budget-mib', '1', '--max-batch', '8']);
  });

  after(async () => {
    await serve?.stop();
    fs.rmSync(root, { recursive: true, force: true });
  });

  it('a prompt that can never fit the pool is a 400 naming the pool, at any load', async () => {
    // 150 + 20 tokens need 11 pages; the pool holds 10 (1 MiB / 99,840 B).
    const res = await call(serve, 'POST', '/v1/completions', { prompt: tokens(150, 1), max_tokens: 20, temperature: 0 });
    assert.equal(res.status, 400, res.text);
    assert.match(res.json.error.message, /latent pool, which holds 10/);
    assert.match(res.json.error.message, /--cache-budget-mib/);
  });

  async function loadThenRetry(bodies: object[]): Promise<void> {
    const answers = await Promise.all(bodies.map((b) => call(serve, 'POST', '/v1/completions', b)));
    const statuses = answers.map((a) => a.status);
    for (const a of answers) assert.ok(a.status === 200 || a.status === 503, `got ${a.status}: ${a.text}`);
    assert.ok(statuses.includes(503), `the pool was never exhausted: ${statuses}`);
    assert.ok(statuses.includes(200), `nothing was served: ${statuses}`);
    for (const [i, a] of answers.entries()) {
      if (a.status !== 503) continue;
      const retryAfter = Number(a.headers.get('retry-after'));
      assert.ok(Number.isInteger(retryAfter) && retryAfter >= 1, `Retry-After ${a.headers.get('retry-after')}`);
      assert.match(a.json.error.message, /latent (pool|cache)/);
      // Alone, the same request fits: the retry succeeds.
      await new Promise((resolve) => setTimeout(resolve, retryAfter * 1000));
      const again = await call(serve, 'POST', '/v1/completions', bodies[i]);
      assert.equal(again.status, 200, again.text);
    }
    const metrics = await call(serve, 'GET', '/metrics');
    assert.equal(metricValue(metrics.text, 'latent_pool_pages_pinned'), 0, 'pages stayed pinned after the load');
  }

  it('exhausting the pool under load is a 503 with a Retry-After that a retry can keep; never a 500', async () => {
    // Each needs 5 pages (60 + 16 tokens): two fit at once, eight arrive together.
    await loadThenRetry(Array.from({ length: 8 }, (_, i) => ({ prompt: tokens(60, 10 + i), max_tokens: 16, temperature: 0 })));
  });

  it('the same when the pool runs out while requests copy moved runs (edits of a cached document)', async () => {
    const base = tokens(60, 99);
    assert.equal((await call(serve, 'POST', '/v1/completions', { prompt: base, max_tokens: 1, temperature: 0 })).status, 200);
    // Each edit re-positions most of the cached document while it starts, taking pages before its first step.
    await loadThenRetry(Array.from({ length: 8 }, (_, i) => ({
      prompt: [...base.slice(0, 18 + i), 7, 8, ...base.slice(18 + i)], max_tokens: 16, temperature: 0,
    })));
  });
});
