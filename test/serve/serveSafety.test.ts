// Every bad request gets its own status and an OpenAI-style error naming what is wrong, and the server goes on
// serving: malformed JSON, wrong types, unknown model, oversized body, missing or wrong key, foreign Host or
// Origin, overload. A model without FIM tokens or chat template says so clearly.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as http from 'node:http';
import { call, makeModelFolder, makeTempDir, metricValue, ServeProcess, startServe } from './serveFixture';

/** A raw request, for headers fetch will not let us forge (Host). */
function rawRequest(url: string, headers: Record<string, string>, path = '/health'): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(url + path, { method: 'GET', headers }, (res) => {
      let body = '';
      res.on('data', (d) => { body += d; });
      res.on('end', () => resolve({ status: res.statusCode!, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('latent serve: bad requests and access', function () {
  this.timeout(180_000);
  let root: string;
  let serve: ServeProcess;

  before(async () => {
    root = makeTempDir('latent-serve-safety-');
    // The shared tokenizer as it is: no FIM tokens, no chat template.
    const model = await makeModelFolder(root, false);
    serve = await startServe(model, ['--max-body-bytes', '4096', '--max-tokens-limit', '64', '--max-batch', '1',
      '--max-queue', '0']);
  });

  afterEach(async () => {
    // Whatever the previous request did, the server still answers.
    const health = await call(serve, 'GET', '/health');
    assert.equal(health.status, 200, serve.output());
    assert.equal(health.json.status, 'ok');
  });

  after(async () => {
    await serve?.stop();
    fs.rmSync(root, { recursive: true, force: true });
  });

  it('answers malformed JSON with 400 invalid_json', async () => {
    const res = await call(serve, 'POST', '/v1/completions', '{"prompt": "x", ');
    assert.equal(res.status, 400);
    assert.equal(res.json.error.type, 'invalid_request_error');
    assert.equal(res.json.error.code, 'invalid_json');
  });

  for (const [field, body] of [
    ['max_tokens', { prompt: 'x', max_tokens: 'ten' }],
    ['max_tokens', { prompt: 'x', max_tokens: 65 }],
    ['temperature', { prompt: 'x', temperature: 3 }],
    ['top_p', { prompt: 'x', top_p: '0.9' }],
    ['stop', { prompt: 'x', stop: [1, 2] }],
    ['n', { prompt: 'x', n: 0 }],
    ['stream', { prompt: 'x', stream: 'yes' }],
    ['prompt', { prompt: 42 }],
    ['prompt', {}],
    ['prompt', { prompt: [1, 999999] }],
    ['bogus', { prompt: 'x', bogus: true }],
    ['presence_penalty', { prompt: 'x', presence_penalty: 0.5 }],
  ] as const) {
    it(`answers a bad '${field}' in ${JSON.stringify(body)} with 400 naming it`, async () => {
      const res = await call(serve, 'POST', '/v1/completions', body);
      assert.equal(res.status, 400, res.text);
      assert.equal(res.json.error.param, field);
      assert.equal(res.json.error.type, 'invalid_request_error');
    });
  }

  it('names the bad message field of a chat request', async () => {
    const res = await call(serve, 'POST', '/v1/chat/completions', { messages: [{ role: 'user', content: 'a' }, { role: 'wizard', content: 'b' }] });
    assert.equal(res.status, 400);
    assert.equal(res.json.error.param, 'messages[1].role');
    const empty = await call(serve, 'POST', '/v1/chat/completions', { messages: [] });
    assert.equal(empty.json.error.param, 'messages');
  });

  it('says clearly that a model without a chat template cannot chat, nor fill in the middle without FIM tokens', async () => {
    const chat = await call(serve, 'POST', '/v1/chat/completions', { messages: [{ role: 'user', content: 'hi' }] });
    assert.equal(chat.status, 400);
    assert.equal(chat.json.error.code, 'chat_template_missing');
    assert.match(chat.json.error.message, /chat_template/);
    const fim = await call(serve, 'POST', '/v1/completions', { prompt: 'a', suffix: 'b', max_tokens: 2 });
    assert.equal(fim.status, 400);
    assert.equal(fim.json.error.param, 'suffix');
  });

  it('answers an unknown model with 404 model_not_found', async () => {
    const res = await call(serve, 'POST', '/v1/completions', { model: 'gpt-4', prompt: 'x' });
    assert.equal(res.status, 404);
    assert.equal(res.json.error.code, 'model_not_found');
    assert.equal(res.json.error.param, 'model');
  });

  it('refuses a body over the limit with 413', async () => {
    const res = await call(serve, 'POST', '/v1/completions', { prompt: 'x'.repeat(10_000) });
    assert.equal(res.status, 413);
    assert.equal(res.json.error.code, 'request_too_large');
  });

  it('refuses a missing or wrong key with 401', async () => {
    const missing = await call(serve, 'GET', '/v1/models', undefined, { Authorization: '' });
    assert.equal(missing.status, 401);
    assert.equal(missing.json.error.code, 'missing_api_key');
    const wrong = await call(serve, 'POST', '/v1/completions', { prompt: 'x' }, { Authorization: 'Bearer not-the-key' });
    assert.equal(wrong.status, 401);
    assert.equal(wrong.json.error.code, 'invalid_api_key');
    const metrics = await call(serve, 'GET', '/metrics', undefined, { Authorization: '' });
    assert.equal(metrics.status, 401);
  });

  it('refuses a foreign Host (DNS rebinding) or web Origin with 403, and sends no CORS headers', async () => {
    const auth = { Authorization: `Bearer ${serve.key}` };
    const foreign = await rawRequest(serve.url, { ...auth, Host: 'attacker.example:80' });
    assert.equal(foreign.status, 403);
    assert.equal(JSON.parse(foreign.body).error.code, 'forbidden_host');
    const local = await rawRequest(serve.url, { ...auth, Host: `localhost:${new URL(serve.url).port}` });
    assert.equal(local.status, 200);
    const origin = await call(serve, 'GET', '/health', undefined, { Origin: 'https://attacker.example' });
    assert.equal(origin.status, 403);
    const preflight = await call(serve, 'OPTIONS', '/v1/completions', undefined, { Origin: `http://127.0.0.1:${new URL(serve.url).port}` });
    assert.equal(preflight.status, 405);
    assert.equal(preflight.headers.get('access-control-allow-origin'), null);
  });

  it('answers unknown paths with 404 and wrong methods with 405', async () => {
    assert.equal((await call(serve, 'GET', '/v1/nothing')).status, 404);
    assert.equal((await call(serve, 'GET', '/v1/completions')).status, 405);
  });

  it('refuses work beyond the batch and queue with 429 and Retry-After', async () => {
    // --max-batch 1 --max-queue 0: one long stream holds the only place.
    const controller = new AbortController();
    const holder = await fetch(serve.url + '/v1/completions', {
      method: 'POST', signal: controller.signal,
      headers: { Authorization: `Bearer ${serve.key}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ prompt: 'x', max_tokens: 64, temperature: 0, stream: true }),
    });
    const reader = holder.body!.getReader();
    await reader.read();
    const refused = await call(serve, 'POST', '/v1/completions', { prompt: 'y', max_tokens: 2 });
    assert.equal(refused.status, 429);
    assert.equal(refused.json.error.code, 'queue_full');
    assert.match(refused.headers.get('retry-after') ?? '', /^\d+$/);
    controller.abort();
    await reader.cancel().catch(() => undefined);
    // Once the place is free again, the same request is served.
    let retried;
    for (let i = 0; i < 50; i++) {
      retried = await call(serve, 'POST', '/v1/completions', { prompt: 'y', max_tokens: 2 });
      if (retried.status !== 429) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal(retried!.status, 200, retried!.text);
  });

  it('counts every answer by route and status in /metrics', async () => {
    const res = await call(serve, 'GET', '/metrics');
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^text\/plain/);
    const count = (route: string, status: string): number => metricValue(res.text, 'latent_http_requests_total', { route, status });
    assert.equal(count('/v1/completions', '400'), 14);
    assert.equal(count('/v1/completions', '413'), 1);
    assert.ok(count('/v1/completions', '429') >= 1);
    assert.equal(metricValue(res.text, 'latent_requests_rejected_total', { reason: 'queue_full' }), count('/v1/completions', '429'));
    assert.equal(count('/health', '403'), 2);
    assert.equal(count('other', '404'), 1);
    // The stream whose client hung up is counted too.
    assert.equal(count('/v1/completions', '200'), 2);
  });
});
