// `latent serve` answers completions and chat exactly as `latent generate` does, whole and streamed, also to the
// official openai client; FIM through `suffix`; concurrent requests batched together all get their own answer.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import OpenAI from 'openai';
import { call, latentGenerate, makeModelFolder, makeTempDir, metricValue, ServeProcess, sseEvents, startServe } from './serveFixture';

describe('latent serve: completions and chat', function () {
  this.timeout(180_000);
  let root: string;
  let model: string;
  let serve: ServeProcess;

  before(async () => {
    root = makeTempDir('latent-serve-');
    model = await makeModelFolder(root, true);
    serve = await startServe(model);
  });

  after(async () => {
    await serve?.stop();
    fs.rmSync(root, { recursive: true, force: true });
  });

  it('answers /v1/completions with the tokens of latent generate, whole and streamed', async () => {
    const prompt = 'def fibonacci(n):\n    ';
    const expected = await latentGenerate(model, { text: prompt }, 12);
    const whole = await call(serve, 'POST', '/v1/completions', { model: 'tiny-coder', prompt, max_tokens: 12, temperature: 0 });
    assert.equal(whole.status, 200, whole.text);
    assert.equal(whole.json.object, 'text_completion');
    assert.equal(whole.json.choices[0].text, expected.text);
    assert.equal(whole.json.usage.completion_tokens, expected.tokens.length);
    assert.equal(whole.json.choices[0].finish_reason, expected.tokens.length === 12 ? 'length' : 'stop');

    const streamed = await call(serve, 'POST', '/v1/completions', { prompt, max_tokens: 12, temperature: 0, stream: true,
      stream_options: { include_usage: true } });
    assert.equal(streamed.status, 200);
    assert.match(streamed.headers.get('content-type') ?? '', /^text\/event-stream/);
    const events = sseEvents(streamed.text);
    assert.equal(events.at(-1), '[DONE]');
    const chunks = events.slice(0, -1);
    assert.equal(chunks.filter((c) => c.choices.length).map((c) => c.choices[0].text).join(''), expected.text);
    assert.equal(chunks.at(-1).usage.completion_tokens, expected.tokens.length);
    assert.ok(chunks.every((c) => c.object === 'text_completion' && c.id === chunks[0].id));
  });

  it('reports prompt tokens reused from the latent cache in usage.prompt_tokens_details.cached_tokens', async () => {
    const prompt = 'export function parseConfig(text: string): Config {\n  const lines = text.split("\\n");\n  for (const line of lines) {\n';
    const first = await call(serve, 'POST', '/v1/completions', { prompt, max_tokens: 6, temperature: 0 });
    const second = await call(serve, 'POST', '/v1/completions', { prompt, max_tokens: 6, temperature: 0 });
    assert.equal(first.status, 200, first.text);
    assert.ok(first.json.usage.prompt_tokens > 32, `prompt of ${first.json.usage.prompt_tokens} tokens`);
    assert.ok(second.json.usage.prompt_tokens_details.cached_tokens > 0, JSON.stringify(second.json.usage));
    assert.ok(second.json.usage.prompt_tokens_details.cached_tokens < second.json.usage.prompt_tokens);
    assert.equal(second.json.choices[0].text, first.json.choices[0].text);
    const metrics = (await call(serve, 'GET', '/metrics')).text;
    assert.ok(metricValue(metrics, 'latent_cached_prompt_tokens_total') >= second.json.usage.prompt_tokens_details.cached_tokens);
  });

  it('ends at a stop string, never streaming any part of it, as latent generate does', async () => {
    const prompt = 'while (true) {\n';
    const free = await latentGenerate(model, { text: prompt }, 16);
    assert.ok(free.text.length >= 6, `need a longer text than ${JSON.stringify(free.text)}`);
    const stop = free.text.slice(3, 6);
    const expected = await latentGenerate(model, { text: prompt }, 16, ['--stop', stop]);
    const streamed = await call(serve, 'POST', '/v1/completions', { prompt, max_tokens: 16, temperature: 0, stop, stream: true });
    const chunks = sseEvents(streamed.text).slice(0, -1);
    const pieces: string[] = chunks.map((c) => c.choices[0].text);
    assert.equal(pieces.join(''), expected.text);
    assert.ok(!pieces.join('').includes(stop));
    assert.equal(chunks.at(-1).choices[0].finish_reason, 'stop');
  });

  it('takes a prompt of token ids', async () => {
    const tokens = [100000, 1310, 2228, 6070];
    const expected = await latentGenerate(model, { tokens }, 6);
    const res = await call(serve, 'POST', '/v1/completions', { prompt: tokens, max_tokens: 6, temperature: 0 });
    assert.equal(res.status, 200, res.text);
    assert.equal(res.json.choices[0].text, expected.text);
    assert.equal(res.json.usage.prompt_tokens, tokens.length);
  });

  it('renders chat through the model\'s template and answers as latent generate on the rendered prompt', async () => {
    const messages = [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'Write a sort in Go.' }];
    // The test template's rendering, written out by hand; latent generate adds the bos itself.
    const expected = await latentGenerate(model, { text: 'Be brief.\n\n<｜User｜>Write a sort in Go.<｜Assistant｜>' }, 10);
    const whole = await call(serve, 'POST', '/v1/chat/completions', { messages, max_tokens: 10, temperature: 0 });
    assert.equal(whole.status, 200, whole.text);
    assert.equal(whole.json.object, 'chat.completion');
    assert.deepEqual(whole.json.choices[0].message.role, 'assistant');
    assert.equal(whole.json.choices[0].message.content, expected.text);
    assert.equal(whole.json.usage.completion_tokens, expected.tokens.length);

    const streamed = await call(serve, 'POST', '/v1/chat/completions', { messages, max_tokens: 10, temperature: 0, stream: true });
    const events = sseEvents(streamed.text);
    assert.equal(events.at(-1), '[DONE]');
    const chunks = events.slice(0, -1);
    assert.equal(chunks[0].choices[0].delta.role, 'assistant');
    assert.equal(chunks.map((c) => c.choices[0].delta.content ?? '').join(''), expected.text);
    assert.ok(chunks.at(-1).choices[0].finish_reason);
    assert.ok(chunks.every((c) => c.object === 'chat.completion.chunk'));
  });

  it('fills in the middle with the model\'s FIM tokens when given a suffix', async () => {
    const prefix = 'function add(a, b) {\n  return ';
    const suffix = ';\n}\n';
    const expected = await latentGenerate(model,
      { text: `<｜fim▁begin｜>${prefix}<｜fim▁hole｜>${suffix}<｜fim▁end｜>` }, 8);
    const res = await call(serve, 'POST', '/v1/completions', { prompt: prefix, suffix, max_tokens: 8, temperature: 0 });
    assert.equal(res.status, 200, res.text);
    assert.equal(res.json.choices[0].text, expected.text);
  });

  it('works unchanged with the official openai client', async () => {
    const client = new OpenAI({ baseURL: `${serve.url}/v1`, apiKey: serve.key, maxRetries: 0 });
    const models = await client.models.list();
    assert.deepEqual(models.data.map((m) => m.id), ['tiny-coder']);

    const prompt = 'import numpy as np\n';
    const expected = await latentGenerate(model, { text: prompt }, 8);
    const completion = await client.completions.create({ model: 'tiny-coder', prompt, max_tokens: 8, temperature: 0 });
    assert.equal(completion.choices[0].text, expected.text);
    assert.equal(typeof completion.usage?.prompt_tokens_details?.cached_tokens, 'number');

    const stream = await client.chat.completions.create({
      model: 'tiny-coder', messages: [{ role: 'user', content: 'hi' }], max_tokens: 8, temperature: 0, stream: true,
      stream_options: { include_usage: true },
    });
    let text = '';
    let usage: OpenAI.CompletionUsage | undefined;
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta.content ?? '';
      usage = chunk.usage ?? usage;
    }
    const chatExpected = await latentGenerate(model, { text: '<｜User｜>hi<｜Assistant｜>' }, 8);
    assert.equal(text, chatExpected.text);
    const whole = await client.chat.completions.create({
      model: 'tiny-coder', messages: [{ role: 'user', content: 'hi' }], max_tokens: 8, temperature: 0,
    });
    assert.equal(whole.choices[0].message.content, chatExpected.text);
    assert.equal(usage?.completion_tokens, chatExpected.tokens.length);
    assert.equal(typeof usage?.prompt_tokens_details?.cached_tokens, 'number');

    await assert.rejects(client.completions.create({ model: 'no-such-model', prompt: 'x', max_tokens: 1 }),
      (e: unknown) => e instanceof OpenAI.NotFoundError);
  });

  it('answers concurrent requests, batched together, each with its own answer', async () => {
    const prompts = ['a = 1\n', 'class Foo:\n', '#include <stdio.h>\n', 'SELECT * FROM', 'fn main() {', 'let x ='];
    // Each one alone first: the batch must not change anyone's tokens.
    const alone: string[] = [];
    for (const prompt of prompts) {
      const res = await call(serve, 'POST', '/v1/completions', { prompt, max_tokens: 10, temperature: 0 });
      alone.push(res.json.choices[0].text);
    }
    const together = await Promise.all(prompts.map(async (prompt, i) => {
      const stream = i % 2 === 0;
      const res = await call(serve, 'POST', '/v1/completions', { prompt, max_tokens: 10, temperature: 0, stream });
      assert.equal(res.status, 200, res.text);
      return stream ? sseEvents(res.text).slice(0, -1).map((c: any) => c.choices[0]?.text ?? '').join('')
        : res.json.choices[0].text;
    }));
    assert.deepEqual(together, alone);
    assert.equal(alone[0], (await latentGenerate(model, { text: prompts[0] }, 10)).text);
  });

  it('gives n choices, reproducible with a seed', async () => {
    const body = { prompt: 'x =', max_tokens: 6, temperature: 1, seed: 42, n: 2 };
    const first = await call(serve, 'POST', '/v1/completions', body);
    const again = await call(serve, 'POST', '/v1/completions', body);
    assert.equal(first.status, 200, first.text);
    assert.equal(first.json.choices.length, 2);
    assert.deepEqual(first.json.choices.map((c: any) => c.index), [0, 1]);
    assert.deepEqual(again.json.choices.map((c: any) => c.text), first.json.choices.map((c: any) => c.text));
    const expected = await latentGenerate(model, { text: 'x =' }, 6, ['--temperature', '1', '--seed', '42']);
    assert.equal(first.json.choices[0].text, expected.text);
  });
});
