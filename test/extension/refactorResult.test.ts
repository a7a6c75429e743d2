import * as assert from 'node:assert/strict';
import { parseRefactorResult } from '../../extension/refactorResult';

const request = { kind: 'fix' as const, uri: 'file:///w/a.ts' };
const range = { start: { line: 1, character: 0 }, end: { line: 2, character: 4 } };

describe('refactor answers', () => {
  it('accepts a well-formed answer', () => {
    const parsed = parseRefactorResult({ kind: 'fix', uri: request.uri, range, newText: 'x' }, request);
    assert.deepEqual(parsed, { ok: true, result: { kind: 'fix', uri: request.uri, range, newText: 'x' } });
    const tests = parseRefactorResult(
      { kind: 'tests', uri: request.uri, range, newText: 't', targetUri: 'file:///w/a.test.ts' },
      { kind: 'tests', uri: request.uri },
    );
    assert.ok(tests.ok && tests.result.targetUri === 'file:///w/a.test.ts');
  });

  it('refuses answers that would edit the wrong thing', () => {
    const bad: unknown[] = [
      null,
      'text',
      { kind: 'document', uri: request.uri, range, newText: 'x' },
      { kind: 'fix', uri: 'file:///etc/passwd', range, newText: 'x' },
      { kind: 'fix', uri: request.uri, range: { start: { line: 3, character: 0 }, end: { line: 1, character: 0 } }, newText: 'x' },
      { kind: 'fix', uri: request.uri, range: { start: { line: -1, character: 0 }, end: range.end }, newText: 'x' },
      { kind: 'fix', uri: request.uri, range: { start: { line: 0.5, character: 0 }, end: range.end }, newText: 'x' },
      { kind: 'fix', uri: request.uri, range, newText: 42 },
      { kind: 'fix', uri: request.uri, range, newText: 'x', targetUri: 'http://evil.example/x.ts' },
      { kind: 'fix', uri: request.uri, range, newText: 'x', targetUri: 7 },
    ];
    for (const raw of bad) {
      const parsed = parseRefactorResult(raw, request);
      assert.equal(parsed.ok, false, JSON.stringify(raw));
    }
  });
});
