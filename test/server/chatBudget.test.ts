// Fitting a chat's history and max_tokens to the model's context.
import * as assert from 'node:assert/strict';
import { fitChatToContext } from '../../server/chatBudget';
import type { ChatMessage } from '../../server/protocol';

const turn = (role: ChatMessage['role'], chars: number): ChatMessage => ({ role, content: 'x'.repeat(chars) });

describe('chat budget', () => {
  it('keeps everything when the context is unknown or large enough', () => {
    const messages = [turn('system', 30), turn('user', 30)];
    assert.deepEqual(fitChatToContext(messages, 1024, undefined), { messages, maxTokens: 1024 });
    assert.deepEqual(fitChatToContext(messages, 256, 4096), { messages, maxTokens: 256 });
  });

  it('drops the oldest turns first, keeps the system message and the question, and fits max_tokens', () => {
    const messages = [turn('system', 300), turn('user', 1500), turn('assistant', 3000), turn('user', 600)];
    const fitted = fitChatToContext(messages, 1024, 2560);
    assert.deepEqual(fitted.messages.map((m) => m.content.length), [300, 3000, 600]);
    const prompt = fitted.messages.reduce((a, m) => a + Math.ceil(m.content.length / 3) + 8, 0);
    assert.ok(prompt + fitted.maxTokens <= 2560, `${prompt} + ${fitted.maxTokens}`);
    assert.deepEqual(fitChatToContext(messages, 1024, 2048).messages.map((m) => m.content.length), [300, 600]);
    assert.ok(fitted.maxTokens >= 64);
  });

  it('shortens the answer rather than drop the question', () => {
    const fitted = fitChatToContext([turn('system', 30), turn('user', 5000)], 1024, 2048);
    assert.equal(fitted.messages.length, 2);
    assert.ok(fitted.maxTokens < 1024 && fitted.maxTokens >= 1, `${fitted.maxTokens}`);
  });
});
