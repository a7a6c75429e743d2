import * as assert from 'node:assert/strict';
import { AdaptiveDebounce, waitUnlessAborted } from '../../server/adaptiveDebounce';
import { CompletionCache, remainderAfterTyping } from '../../server/completionCache';
import { wantsMultiline } from '../../server/completionShape';
import { parse } from './parsedText';

describe('completion cache', () => {
  it('finds a completion made at the same place', () => {
    const cache = new CompletionCache();
    cache.put('u', 'const x = ', ';\n', ['compute(1)']);
    assert.deepEqual(cache.get('u', 'const x = ', ';\n'), ['compute(1)']);
    assert.equal(cache.get('other', 'const x = ', ';\n'), undefined);
    assert.equal(cache.get('u', 'const x = ', ')\n'), undefined);
  });

  it('answers with the rest of a suggestion the user is typing through', () => {
    const cache = new CompletionCache();
    cache.put('u', 'const x = ', ';\n', ['compute(1)', 'other()']);
    assert.deepEqual(cache.get('u', 'const x = com', ';\n'), ['pute(1)']);
    assert.deepEqual(cache.get('u', 'const x = compute(1', ';\n'), [')']);
    // typed the whole suggestion: nothing left to offer
    assert.equal(cache.get('u', 'const x = compute(1)', ';\n'), undefined);
    // typed something else
    assert.equal(cache.get('u', 'const x = cx', ';\n'), undefined);
  });

  it('remembers that there was nothing to offer at a place, but only at that place', () => {
    const cache = new CompletionCache();
    cache.put('u', 'let a = ', '', []);
    assert.deepEqual(cache.get('u', 'let a = ', ''), []);
    assert.equal(cache.get('u', 'let a = 1', ''), undefined);
  });

  it('drops the least recently used entry first', () => {
    const cache = new CompletionCache(2);
    cache.put('u', 'a', '', ['1']);
    cache.put('u', 'b', '', ['2']);
    assert.deepEqual(cache.get('u', 'a', ''), ['1']); // touch a
    cache.put('u', 'c', '', ['3']);
    assert.equal(cache.get('u', 'b', ''), undefined);
    assert.deepEqual(cache.get('u', 'a', ''), ['1']);
  });

  it('matches the typed part against the very end of the prefix', () => {
    assert.equal(remainderAfterTyping('x = ', 'abc', 'y = ab'), undefined);
    assert.equal(remainderAfterTyping('x = ', 'abc', 'x = ab'), 'c');
    assert.equal(remainderAfterTyping('x = ', 'abc', 'x = abc'), undefined);
  });
});

describe('single or multi-line', () => {
  const at = async (languageId: string, text: string) => {
    const offset = text.indexOf('|');
    const source = text.replace('|', '');
    return wantsMultiline(source, offset, await parse(languageId, source));
  };
  it('asks for a body after an opening brace or a Python block header', async () => {
    assert.equal(await at('typescript', 'function f() {|}\n'), true);
    assert.equal(await at('typescript', 'function f() {\n  |\n}\n'), true);
    assert.equal(await at('python', 'def f(x):\n    |\n'), true);
    assert.equal(await at('python', 'def f(x):|'), true);
  });
  it('asks for one line when code follows the cursor or the statement is under way', async () => {
    assert.equal(await at('typescript', 'const x = f(|a);\n'), false);
    assert.equal(await at('typescript', 'const x = |\n'), false);
    assert.equal(await at('python', 'x = compute(|)\n'), false);
    assert.equal(await at('typescript', 'function f() {\n  const a = 1;\n  return a|\n}\n'), false);
  });
  it('asks for several lines on an empty line in an empty block', async () => {
    assert.equal(await at('c', 'int main(void) {\n\n  |\n}\n'), true);
    assert.equal(await at('typescript', 'function f() {\n  const a = 1;\n\n  |\n}\n'), false);
  });
});

describe('adaptive debounce', () => {
  it('waits the base delay until it knows the typing rhythm, then about one usual gap, within [base, 4 x base]', () => {
    const debounce = new AdaptiveDebounce(50);
    assert.equal(debounce.delayMs(), 50);
    let t = 1000;
    for (let i = 0; i < 8; i++) debounce.noteEdit((t += 100));
    assert.equal(debounce.delayMs(), 120);
    for (let i = 0; i < 16; i++) debounce.noteEdit((t += 900));
    assert.equal(debounce.delayMs(), 200);
    for (let i = 0; i < 16; i++) debounce.noteEdit((t += 10));
    assert.equal(debounce.delayMs(), 50);
    debounce.baseMs = 0;
    assert.equal(debounce.delayMs(), 0);
  });
  it('stops waiting as soon as the request is cancelled', async () => {
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 20);
    // Ten minutes: only the abort can end this wait within the test's time.
    assert.equal(await waitUnlessAborted(600_000, controller.signal), false);
    assert.equal(await waitUnlessAborted(1, new AbortController().signal), true);
  });
});
