// The completion cache's keys and order, each case written against a mutant that survived the older suite
// (docs/MUTATION.md): only the last 400 characters before and the first 200 after the cursor identify a place, the
// newest entry wins, "nothing to offer" holds only where it was found, and typing through a suggestion that
// repeats the text before the cursor still finds its rest.
import * as assert from 'node:assert/strict';
import { CompletionCache } from '../../server/completionCache';

describe('completion cache keys', () => {
  it('identifies a place by the last 400 characters before the cursor: an edit far above still matches', () => {
    const cache = new CompletionCache();
    cache.put('u', `${'A'.repeat(500)}x = `, ';', []);
    assert.deepEqual(cache.get('u', `B${'A'.repeat(499)}x = `, ';'), []);
  });

  it('identifies a place by the first 200 characters after the cursor: an edit far below still matches', () => {
    const cache = new CompletionCache();
    cache.put('u', 'x = ', 'S'.repeat(300), ['f()']);
    assert.deepEqual(cache.get('u', 'x = ', `${'S'.repeat(200)}${'T'.repeat(100)}`), ['f()']);
    assert.equal(cache.get('u', 'x = ', `T${'S'.repeat(299)}`), undefined);
  });

  it('answers with the newest entry made at the same place', () => {
    const cache = new CompletionCache();
    cache.put('u', 'x = ', ';', ['old()']);
    cache.put('u', 'x = ', ';', ['new()']);
    assert.deepEqual(cache.get('u', 'x = ', ';'), ['new()']);
  });

  it('remembers "nothing to offer" only for the text before the cursor where it was found', () => {
    const cache = new CompletionCache();
    cache.put('u', 'let a = ', ';', []);
    assert.equal(cache.get('u', 'let b = ', ';'), undefined);
    assert.deepEqual(cache.get('u', 'let a = ', ';'), []);
  });

  it('finds the rest of a suggestion whose typed part repeats the text before the cursor', () => {
    const cache = new CompletionCache();
    cache.put('u', 'ab', '', ['abzq']);
    // Typed "abz": the last "ab" before the cursor is inside the typed part; the cached place is the one before it.
    assert.deepEqual(cache.get('u', 'ababz', ''), ['q']);
  });

  it('forgets everything on clear', () => {
    const cache = new CompletionCache();
    cache.put('u', 'x = ', ';', ['f()']);
    cache.clear();
    assert.equal(cache.get('u', 'x = ', ';'), undefined);
  });
});
