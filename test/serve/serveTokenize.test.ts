// `latent serve`'s /tokenize and /detokenize (vLLM's and llama.cpp's shapes): the counts are the prompt tokens the
// generation routes use for the same text or chat, the ids the model folder's own tokenizer gives, and bad
// requests get a 400 naming the field while the server keeps serving.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { ModelTokenizer } from '../../engine/tokenizer/modelTokenizer';
import { call, makeModelFolder, makeTempDir, type ServeProcess, startServe } from './serveFixture';

describe('latent serve: /tokenize and /detokenize', function () {
  this.timeout(180_000);
  let root: string;
  let model: string;
  let serve: ServeProcess;
  let tokenizer: ModelTokenizer;
  const code = 'function add(a, b) {\n  return a + b; // <｜fim▁hole｜> stays one token\n}\n';

  before(async () => {
    root = makeTempDir('latent-serve-tokenize-');
    model = await makeModelFolder(root, true);
    serve = await startServe(model);
    tokenizer = ModelTokenizer.load(model);
  });

  after(async () => {
    await serve?.stop();
    fs.rmSync(root, { recursive: true, force: true });
  });

  it('tokenizes text as the model folder\'s tokenizer does, with bos as vLLM adds it by default', async () => {
    const plain = await call(serve, 'POST', '/tokenize', { prompt: code, add_special_tokens: false });
    assert.equal(plain.status, 200, plain.text);
    assert.deepEqual(plain.json.tokens, tokenizer.encode(code));
    assert.equal(plain.json.count, plain.json.tokens.length);
    assert.equal(plain.json.max_model_len, 2048);
    const withBos = await call(serve, 'POST', '/tokenize', { prompt: code });
    assert.deepEqual(withBos.json.tokens, [tokenizer.special.bos, ...plain.json.tokens]);
    // llama.cpp's shape: `content`, no special tokens unless `add_special`.
    const llama = await call(serve, 'POST', '/tokenize', { content: code });
    assert.deepEqual(llama.json.tokens, plain.json.tokens);
  });

  it('counts what /v1/completions and /v1/chat/completions count as their prompt', async () => {
    const completion = await call(serve, 'POST', '/v1/completions', { prompt: code, max_tokens: 1, temperature: 0 });
    const counted = await call(serve, 'POST', '/tokenize', { prompt: code });
    assert.equal(counted.json.count, completion.json.usage.prompt_tokens);
    const messages = [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: code }];
    const chat = await call(serve, 'POST', '/v1/chat/completions', { messages, max_tokens: 1, temperature: 0 });
    const chatCounted = await call(serve, 'POST', '/tokenize', { messages });
    assert.equal(chatCounted.status, 200, chatCounted.text);
    assert.equal(chatCounted.json.count, chat.json.usage.prompt_tokens);
  });

  it('detokenizes back to the text, special tokens written out', async () => {
    const { json } = await call(serve, 'POST', '/tokenize', { prompt: code, add_special_tokens: false });
    const back = await call(serve, 'POST', '/detokenize', { tokens: json.tokens });
    assert.equal(back.status, 200, back.text);
    assert.equal(back.json.prompt, code);
    assert.equal(back.json.content, code);
  });

  it('answers malformed requests with a 400 naming the field, and keeps serving', async () => {
    const cases: [string, unknown, string | null][] = [
      ['/tokenize', { prompt: 42 }, 'prompt'],
      ['/tokenize', { prompt: 'x', add_special_tokens: 'yes' }, 'add_special_tokens'],
      ['/tokenize', { messages: [{ role: 'robot', content: 'hi' }] }, 'messages[0].role'],
      ['/tokenize', [1, 2], null],
      ['/detokenize', { tokens: [1, -1] }, 'tokens'],
      ['/detokenize', { tokens: [10 ** 9] }, 'tokens'],
      ['/detokenize', { tokens: 'abc' }, 'tokens'],
    ];
    for (const [route, body, param] of cases) {
      const res = await call(serve, 'POST', route, body);
      assert.equal(res.status, 400, `${route} ${JSON.stringify(body)}: ${res.text}`);
      assert.equal(res.json.error.param, param);
    }
    assert.equal((await call(serve, 'POST', '/tokenize', { prompt: 'x', model: 'other' })).status, 404);
    assert.equal((await call(serve, 'GET', '/tokenize')).status, 405);
    assert.equal((await call(serve, 'POST', '/tokenize', { prompt: 'x' }, { Authorization: 'Bearer wrong' })).status, 401);
    assert.equal((await call(serve, 'GET', '/health')).status, 200);
  });
});
