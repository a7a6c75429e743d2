import * as assert from 'node:assert/strict';
import { ChatHistory, trimHistory, type KeyValueStore } from '../../extension/chatHistory';
import type { ChatTurn } from '../../extension/chatMessages';

class MemoryStore implements KeyValueStore {
  values = new Map<string, unknown>();
  get(key: string) {
    return this.values.get(key);
  }
  async update(key: string, value: unknown) {
    this.values.set(key, JSON.parse(JSON.stringify(value)));
  }
}

const pair = (i: number, size = 1): ChatTurn[] => [
  { role: 'user', content: `q${i}`.padEnd(size, '.') },
  { role: 'assistant', content: `a${i}`.padEnd(size, '.') },
];

describe('chat history', () => {
  it('appends, reads back and clears through the store', async () => {
    const store = new MemoryStore();
    const history = new ChatHistory(store);
    await history.append(...pair(1));
    await history.append(...pair(2));
    assert.deepEqual(history.turns().map((t) => t.content), ['q1', 'a1', 'q2', 'a2']);
    assert.deepEqual(new ChatHistory(store).turns().length, 4, 'a new window of the workspace sees it');
    await history.clear();
    assert.deepEqual(history.turns(), []);
  });

  it('drops malformed stored turns and survives a corrupted store', async () => {
    const store = new MemoryStore();
    store.values.set('latent.chat.history', [{ role: 'user', content: 'ok' }, { role: 'root', content: 'x' }, null, 5]);
    assert.deepEqual(new ChatHistory(store).turns(), [{ role: 'user', content: 'ok' }]);
    store.values.set('latent.chat.history', 'garbage');
    assert.deepEqual(new ChatHistory(store).turns(), []);
  });

  it('keeps the newest turns within the bounds, starting at a question', () => {
    const turns = [1, 2, 3, 4, 5].flatMap((i) => pair(i));
    assert.deepEqual(trimHistory(turns, 3).map((t) => t.content), ['q5', 'a5']);
    assert.deepEqual(trimHistory(turns, 4).map((t) => t.content), ['q4', 'a4', 'q5', 'a5']);
    const big = [1, 2, 3].flatMap((i) => pair(i, 100));
    assert.deepEqual(trimHistory(big, 100, 450).map((t) => t.content.slice(0, 2)), ['q2', 'a2', 'q3', 'a3']);
    assert.deepEqual(trimHistory(big, 100, 50), []);
  });
});
