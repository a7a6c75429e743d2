// A client that goes away mid-stream stops its generation within a step and gives its cache back; one that goes
// away while queued leaves the queue; waiting requests start by priority, with a place kept for inline
// completions; a pool full of running requests answers 503. /metrics and /health show it.
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

describe('latent serve: cancellation, priorities and the latent pool', function () {
  this.timeout(180_000);
  let root: string;
  let serve: ServeProcess;
  const metrics = async (): Promise<string> => (await call(serve, 'GET', '/metrics')).text;

  before(async () => {
    root = makeTempDir('latent-serve-cancel-');
    serve = await startServe(await makeModelFolder(root, false), ['--max-batch', '2', '--max-queue', '4', '--max-tokens-limit', '2000',
      '--cache-budget-mib', '1']);
  });

  after(async () => {
    await serve?.stop();
    fs.rmSync(root, { recursive: true, force: true });
  });

  it('stops the work of a client that disconnects mid-stream and frees its cache', async () => {
    const before = await metrics();
    const stream = await openStream(serve, { prompt: 'for i in range(', max_tokens: 2000, temperature: 0 }, 3);
    const busy = await call(serve, 'GET', '/health');
    assert.equal(busy.json.running, 1);
    assert.equal(metricValue(await metrics(), 'latent_running_sequences'), 1);
    assert.ok(busy.json.cache_tokens_in_use > 0, JSON.stringify(busy.json));
    assert.ok(busy.json.pool_pages_pinned > 0, JSON.stringify(busy.json));
    stream.controller.abort();

    const after = await waitFor('the generation stops', metrics, (m) => metricValue(m, 'latent_running_sequences') === 0);
    assert.equal(metricValue(after, 'latent_requests_cancelled_total') - metricValue(before, 'latent_requests_cancelled_total'), 1);
    // Its pages are unpinned: what the pool still holds is the prefix cache, free to evict.
    assert.equal(metricValue(after, 'latent_pool_pages_pinned'), 0);
    assert.equal(metricValue(after, 'latent_cache_tokens_in_use'), 0);
    const generated = metricValue(after, 'latent_generated_tokens_total') - metricValue(before, 'latent_generated_tokens_total');
    assert.ok(generated > 0 && generated < 2000, `generated ${generated} tokens of 2000`);
    // And nothing more is computed afterwards.
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(metricValue(await metrics(), 'latent_generated_tokens_total'), metricValue(after, 'latent_generated_tokens_total'));
  });

  it('stops the work of a non-streamed request whose client gives up', async () => {
    const before = await metrics();
    const controller = new AbortController();
    const pending = fetch(serve.url + '/v1/completions', {
      method: 'POST', signal: controller.signal,
      headers: { Authorization: `Bearer ${serve.key}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ prompt: 'def main():', max_tokens: 2000, temperature: 0 }),
    }).catch((e: Error) => e);
    await waitFor('it runs', async () => (await call(serve, 'GET', '/health')).json.running, (n) => n === 1);
    controller.abort();
    assert.ok((await pending) instanceof Error);
    const after = await waitFor('it stops', metrics, (m) => metricValue(m, 'latent_running_sequences') === 0);
    assert.equal(metricValue(after, 'latent_requests_cancelled_total') - metricValue(before, 'latent_requests_cancelled_total'), 1);
    assert.equal(metricValue(after, 'latent_pool_pages_pinned'), 0);
  });

  it('drops a queued request whose client disconnects before it ran', async () => {
    const holder = await openStream(serve, { prompt: 'while True:', max_tokens: 2000, temperature: 0 }, 2);
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

  it('starts waiting requests by priority, then arrival', async () => {
    const holder = await openStream(serve, { prompt: 'x', max_tokens: 2000, temperature: 0 }, 2);
    const order: string[] = [];
    const send = (name: string, body: object) => call(serve, 'POST', '/v1/completions', { max_tokens: 2, temperature: 0, ...body })
      .then((r) => { assert.equal(r.status, 200, r.text); order.push(name); });
    const queueDepth = async () => (await call(serve, 'GET', '/health')).json.queue_depth;
    const late = send('chat-priority', { prompt: 'a', priority: 2 });
    await waitFor('queued', queueDepth, (d) => d === 1);
    const early = send('completion-priority', { prompt: 'b', priority: 1 });
    await waitFor('queued', queueDepth, (d) => d === 2);
    holder.controller.abort();
    await Promise.all([late, early]);
    assert.deepEqual(order, ['completion-priority', 'chat-priority']);
  });

  it('keeps a place in the batch for inline completions', async () => {
    // --max-batch 2: one place for anything, one kept for inline completions.
    const holder = await openStream(serve, { prompt: 'x', max_tokens: 2000, temperature: 0 }, 2);
    const queueDepth = async () => (await call(serve, 'GET', '/health')).json.queue_depth;
    let chatDone = false;
    const chat = call(serve, 'POST', '/v1/completions', { prompt: 'a', max_tokens: 2, priority: 2 }).then((r) => {
      chatDone = true;
      return r;
    });
    await waitFor('the chat-priority request waits despite a free place', queueDepth, (d) => d === 1);
    const inline = await call(serve, 'POST', '/v1/completions', { prompt: 'b', max_tokens: 2, priority: 0 });
    assert.equal(inline.status, 200, inline.text);
    assert.equal(chatDone, false);
    assert.equal(await queueDepth(), 1);
    holder.controller.abort();
    assert.equal((await chat).status, 200);
  });

  it('answers 503 with Retry-After when the latent pool is full of running requests, and frees it', async () => {
    // --cache-budget-mib 1 holds about 2,100 tokens of this model; two prompts of 1,200 tokens cannot both run.
    const prompt = (seed: number) => Array.from({ length: 1200 }, (_, i) => 1000 + ((i * 7919 + seed) % 90000));
    const [first, second] = await Promise.all([
      call(serve, 'POST', '/v1/completions', { prompt: prompt(1), max_tokens: 40, temperature: 0, priority: 0 }),
      call(serve, 'POST', '/v1/completions', { prompt: prompt(2), max_tokens: 40, temperature: 0, priority: 0 }),
    ]);
    const statuses = [first.status, second.status].sort();
    assert.deepEqual(statuses, [200, 503], `${first.text}\n${second.text}`);
    const refused = first.status === 503 ? first : second;
    assert.equal(refused.json.error.code, 'engine_busy');
    assert.match(refused.json.error.message, /latent pool full/);
    assert.match(refused.headers.get('retry-after') ?? '', /^\d+$/);
    await waitFor('no page stays pinned', async () => (await call(serve, 'GET', '/health')).json,
      (h) => h.running === 0 && h.pool_pages_pinned === 0);
    // The pool is usable again: the refused prompt now runs (evicting the other's cached pages).
    const retried = await call(serve, 'POST', '/v1/completions', { prompt: prompt(2), max_tokens: 2, temperature: 0 });
    assert.equal(retried.status, 200, retried.text);
  });
});
