import * as assert from 'node:assert/strict';
import { MAX_TEXT, parseHostMessage, parseTurn, parseWebviewMessage } from '../../extension/chatMessages';

describe('chat webview messages', () => {
  it('accepts each well-formed webview message', () => {
    const good = [
      { type: 'ready' },
      { type: 'ask', text: 'what does this do?' },
      { type: 'stop' },
      { type: 'clear' },
      { type: 'copy', text: '' },
      { type: 'insert', code: 'let x = 1;' },
      { type: 'apply', code: 'let x = 2;' },
      { type: 'pickFiles' },
      { type: 'removeChip', id: 'picked-3' },
    ];
    for (const message of good) assert.deepEqual(parseWebviewMessage(message), { ok: true, message });
  });

  it('refuses hostile and malformed input without throwing', () => {
    const hostile: unknown[] = [
      null,
      undefined,
      42,
      'ask',
      [],
      ['ask', 'x'],
      {},
      { type: 7 },
      { type: 'evaluate', code: 'process.exit()' },
      { type: '__proto__' },
      { type: 'constructor' },
      { type: 'toString' },
      { type: 'ask' },
      { type: 'ask', text: '   ' },
      { type: 'ask', text: { toString: () => 'x' } },
      { type: 'ask', text: 'x'.repeat(MAX_TEXT + 1) },
      { type: 'ask', text: 'hi', command: 'workbench.action.terminal.sendSequence' },
      { type: 'insert', code: 5 },
      { type: 'apply' },
      { type: 'removeChip', id: '../../etc/passwd' },
      { type: 'removeChip', id: 'x'.repeat(101) },
      { type: 'stop', extra: true },
      new Date(),
      Object.assign(Object.create({ type: 'ready' }), {}),
      JSON.parse('{"type":"ask","text":"x","__proto__":{"polluted":true}}'),
    ];
    for (const raw of hostile) {
      const parsed = parseWebviewMessage(raw);
      assert.equal(parsed.ok, false, `accepted ${String(JSON.stringify(raw))?.slice(0, 80)}`);
      if (!parsed.ok) assert.ok(parsed.error.length > 0 && parsed.error.length < 200);
    }
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
  });

  it('ignores prototype-provided fields', () => {
    const inherited = Object.create({ text: 'from the prototype' });
    inherited.type = 'ask';
    assert.equal(Object.getPrototypeOf(inherited) === Object.prototype, false);
    assert.equal(parseWebviewMessage(inherited).ok, false);
  });

  it('checks host messages on the webview side', () => {
    assert.equal(parseHostMessage({ type: 'delta', chatId: 'a-1', text: 'hi' }).ok, true);
    assert.equal(parseHostMessage({ type: 'delta', chatId: '<script>', text: 'hi' }).ok, false);
    assert.equal(parseHostMessage({ type: 'done', chatId: 'a', finishReason: 'exploded' }).ok, false);
    assert.equal(parseHostMessage({ type: 'context', chips: [{ id: 'file', kind: 'file', label: 'a.ts' }] }).ok, true);
    assert.equal(parseHostMessage({ type: 'context', chips: [{ id: 'file', kind: 'html', label: 'a.ts' }] }).ok, false);
    assert.equal(parseHostMessage({ type: 'history', turns: [{ role: 'system', content: 'x' }] }).ok, false);
    const error = parseHostMessage({ type: 'error', message: 'e'.repeat(10_000) });
    assert.ok(error.ok && error.message.type === 'error' && error.message.message.length === 2000);
  });

  it('reads stored turns defensively', () => {
    assert.deepEqual(parseTurn({ role: 'user', content: 'q', chips: ['a.ts:1-3'] }), { role: 'user', content: 'q', chips: ['a.ts:1-3'] });
    assert.deepEqual(parseTurn({ role: 'assistant', content: 'a', incomplete: true }), { role: 'assistant', content: 'a', incomplete: true });
    assert.equal(parseTurn({ role: 'assistant', content: 1 }), undefined);
    assert.equal(parseTurn({ role: 'user', content: 'q', chips: [{}] }), undefined);
    assert.equal(parseTurn('user: hi'), undefined);
  });
});
