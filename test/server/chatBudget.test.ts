// Fitting a chat's history and max_tokens to the model's context: by estimate for engines that cannot count, and
// exactly by a real `latent serve`'s /tokenize (its counts are the prompt_tokens its chat route then reports).
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { fitChatToContext, type ChatCounts } from '../../server/chatBudget';
import { EngineClient } from '../../server/engineClient';
import type { ChatMessage } from '../../server/protocol';
import { TokenCounter } from '../../server/tokenCounter';
import { engineMissing, makeTestModel, startServe, tempDir, type ServeProcess } from './engineFixture';

const turn = (role: ChatMessage['role'], chars: number): ChatMessage => ({ role, content: 'x'.repeat(chars) });

describe('chat budget', () => {
  it('keeps everything when the context is unknown or large enough', async () => {
    const messages = [turn('system', 30), turn('user', 30)];
    assert.deepEqual((await fitChatToContext(messages, 1024, undefined)).messages, messages);
    const fitted = await fitChatToContext(messages, 256, 4096);
    assert.deepEqual([fitted.messages, fitted.maxTokens], [messages, 256]);
  });

  it('drops the oldest turns first, keeps the system message and the question, and fits max_tokens (estimated)', async () => {
    const messages = [turn('system', 300), turn('user', 1500), turn('assistant', 3000), turn('user', 600)];
    const fitted = await fitChatToContext(messages, 1024, 2560);
    assert.deepEqual(fitted.messages.map((m) => m.content.length), [300, 3000, 600]);
    const prompt = fitted.messages.reduce((a, m) => a + Math.ceil(m.content.length / 3) + 8, 0);
    assert.equal(fitted.promptTokens, prompt);
    assert.ok(prompt + fitted.maxTokens <= 2560, `${prompt} + ${fitted.maxTokens}`);
    assert.deepEqual((await fitChatToContext(messages, 1024, 2048)).messages.map((m) => m.content.length), [300, 600]);
    assert.ok(fitted.maxTokens >= 64);
  });

  it('shortens the answer rather than drop the question, and refuses a question the context cannot hold', async () => {
    const fitted = await fitChatToContext([turn('system', 30), turn('user', 5000)], 1024, 2048);
    assert.equal(fitted.messages.length, 2);
    assert.ok(fitted.maxTokens < 1024 && fitted.maxTokens >= 1, `${fitted.maxTokens}`);
    await assert.rejects(fitChatToContext([turn('user', 9000)], 1024, 2048), /the question is \d+ tokens .* holds 2048/);
  });

  describe('counted by a real latent serve', function () {
    this.timeout(180_000);
    let root: string;
    let serve: ServeProcess;
    let client: EngineClient;
    let counts: ChatCounts;

    before(async function () {
      const missing = await engineMissing();
      if (missing) this.skip();
      root = tempDir('latent-chat-budget-');
      serve = await startServe(await makeTestModel(root), root);
      client = new EngineClient({ url: serve.url, apiKey: serve.apiKey });
      const counter = new TokenCounter(client, () => undefined);
      await counter.ready();
      assert.equal(counter.mode, 'exact');
      counts = {
        content: async (text) => { counter.count(text); await counter.fetchMissing(); return counter.count(text); },
        prompt: (messages) => client.countChatTokens(messages),
      };
    });
    after(async () => {
      await serve?.stop();
      if (root) fs.rmSync(root, { recursive: true, force: true });
    });

    /** The prompt tokens the engine's chat route reports for `messages`. */
    async function enginePromptTokens(messages: ChatMessage[]): Promise<number> {
      const res = await fetch(`${serve.url}/v1/chat/completions`, {
        method: 'POST', headers: { authorization: `Bearer ${serve.apiKey}`, 'content-type': 'application/json' },
        body: JSON.stringify({ messages, max_tokens: 1, temperature: 0 }),
      });
      const json = await res.json() as { usage: { prompt_tokens: number } };
      return json.usage.prompt_tokens;
    }

    it('keeps exactly the newest turns that fit beside the answer, by the engine\'s count', async () => {
      const code = (i: number) => `function step${i}(state) {\n  const next = state.value * ${i} + offset;\n  return { ...state, value: next };\n}\n`;
      const messages: ChatMessage[] = [{ role: 'system', content: 'You are a careful reviewer.' }];
      for (let i = 0; i < 40; i++) messages.push({ role: i % 2 ? 'assistant' : 'user', content: `Turn ${i}:\n${code(i)}${code(i + 100)}` });
      const context = 2048;
      const maxTokens = 512;
      const fitted = await fitChatToContext(messages, maxTokens, context, counts);
      assert.ok(fitted.messages.length > 2 && fitted.messages.length < messages.length, `${fitted.messages.length} messages`);
      assert.equal(fitted.messages[0], messages[0]);
      assert.deepEqual(fitted.messages.slice(1), messages.slice(messages.length - fitted.messages.length + 1));
      const prompt = await enginePromptTokens(fitted.messages);
      assert.equal(fitted.promptTokens, prompt);
      assert.ok(prompt + maxTokens <= context, `${prompt} + ${maxTokens} > ${context}`);
      assert.equal(fitted.maxTokens, maxTokens);
      // One turn more would not have fit.
      const oneMore = [messages[0], ...messages.slice(messages.length - fitted.messages.length)];
      assert.ok((await enginePromptTokens(oneMore)) + maxTokens > context);
    });

    it('gives the answer exactly what the context leaves when the question is long', async () => {
      const question = Array.from({ length: 120 }, (_, i) => `let value${i} = compute(${i}, "${'ab'.repeat(i % 5)}");`).join('\n');
      const messages: ChatMessage[] = [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: question }];
      const fitted = await fitChatToContext(messages, 1024, 2048, counts);
      const prompt = await enginePromptTokens(messages);
      assert.ok(prompt > 2048 - 1024, `the question must leave less than 1024 tokens (${prompt})`);
      assert.equal(fitted.maxTokens, 2048 - prompt);
    });
  });
});
