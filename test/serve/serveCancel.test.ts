// A client that goes away mid-stream stops its generation within a step and gives its cache back; one that goes
// away while queued leaves the queue. /metrics and /health show it.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { call, makeModelFolder, makeTempDir, metricValue, ServeProcess, startServe } from './serveFixture';

async function waitFor<T>(what: string, read: () => Promise<T>, ok: (v: T) => boolean): Promise<T> {
  let v = await read();
  for (let i = 0; i < 100 && !ok(v); i++) {
    await new Promise((r) => setTimeout(r, 50));
    v = await read();
  }
  assert.ok(ok(v), `${what}: ${JSON.stringify(v)}`);
  return v;
}

/** Opens a stream and reads until `chunks` events have arrived. */
async function openStream(serve: ServeProcess, body: object, chunks: number) {
  const controller = new AbortController();
  const res = await fetch(serve.url + '/v1/completions', {
    method: 'POST', signal: controller.signal,
    headers: { Authorization: `Bearer ${serve.key}`, 'Content-Type': 'application/json' },
    body: JSON.stringify({ ...body, stream: true }),
  });
  const reader = res.body!.getReader();
  let text = '';
  while ((text.match(/^data: /gm) ?? []).length < chunks) {
    const { value, done } = await reader.read();
    if (done) break;
    text += Buffer.from(value).toString();
  }
  return { controller, reader, text };
}

describe('latent serve: cancellation', function () {
  this.timeout(180_000);
  let root: string;
  let serve: ServeProcess;
  const metrics = async (): Promise<string> => (await call(serve, 'GET', '/metrics')).text;

  before(async () => {
    root = makeTempDir('latent-serve-cancel-');
    serve = await startServe(await makeModelFolder(root, false), ['--max-batch', '1', '--max-queue', '4', '--max-tokens-limit', '4000']);
  });

  after(async () => {
    await serve?.stop();
    fs.rmSync(root, { recursive: true, force: true });
  });

  it('stops the work of a client that disconnects mid-stream and frees its cache', async () => {
    const before = await metrics();
    const stream = await openStream(serve, { prompt: 'for i in range(', max_tokens: 4000, temperature: 0 }, 3);
    const busy = await call(serve, 'GET', '/health');
    assert.equal(busy.json.running, 1);
    assert.ok(busy.json.cache_tokens_in_use > 0, JSON.stringify(busy.json));
    assert.ok(busy.json.pool_pages_pinned > 0, JSON.stringify(busy.json));
    stream.controller.abort();

    const after = await waitFor('the generation stops', metrics, (m) => metricValue(m, 'latent_running_sequences') === 0);
    assert.equal(metricValue(after, 'latent_requests_cancelled_total') - metricValue(before, 'latent_requests_cancelled_total'), 1);
    // Its pages are unpinned: what the pool still holds is the prefix cache, free to evict.
    assert.equal(metricValue(after, 'latent_pool_pages_pinned'), 0);
    assert.equal(metricValue(after, 'latent_cache_tokens_in_use'), 0);
    const generated = metricValue(after, 'latent_generated_tokens_total') - metricValue(before, 'latent_generated_tokens_total');
    assert.ok(generated > 0 && generated < 4000, `generated ${generated} tokens of 4000`);
    // And nothing more is computed afterwards.
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(metricValue(await metrics(), 'latent_generated_tokens_total'), metricValue(after, 'latent_generated_tokens_total'));
  });

  it('drops a queued request whose client disconnects before it ran', async () => {
    const holder = await openStream(serve, { prompt: 'while True:', max_tokens: 4000, temperature: 0 }, 2);
    const waiting = new AbortController();
    const queued = fetch(serve.url + '/v1/completions', {
      method: 'POST', signal: waiting.signal,
      headers: { Authorization: `Bearer ${serve.key}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ prompt: 'queued', max_tokens: 5 }),
    }).catch(() => undefined);
    await waitFor('the request is queued', async () => (await call(serve, 'GET', '/health')).json.queue_depth, (d) => d === 1);
    waiting.abort();
    await queued;
    await waitFor('it leaves the queue', async () => (await call(serve, 'GET', '/health')).json.queue_depth, (d) => d === 0);
    holder.controller.abort();
    await waitFor('all work stops', async () => (await call(serve, 'GET', '/health')).json, (h) => h.running === 0 && h.pool_pages_pinned === 0);
  });

  it('serves inline completions (suffix or priority) before waiting chat and plain completions', async () => {
    const holder = await openStream(serve, { prompt: 'x', max_tokens: 4000, temperature: 0 }, 2);
    const order: string[] = [];
    const send = (name: string, body: object) => call(serve, 'POST', '/v1/completions', { max_tokens: 2, temperature: 0, ...body })
      .then((r) => { assert.equal(r.status, 200, r.text); order.push(name); });
    const plain = send('plain', { prompt: 'a' });
    await waitFor('queued', async () => (await call(serve, 'GET', '/health')).json.queue_depth, (d) => d === 1);
    const urgent = send('inline', { prompt: 'b', priority: 0 });
    await waitFor('queued', async () => (await call(serve, 'GET', '/health')).json.queue_depth, (d) => d === 2);
    holder.controller.abort();
    await Promise.all([plain, urgent]);
    assert.deepEqual(order, ['inline', 'plain']);
  });
});
