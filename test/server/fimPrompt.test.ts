import * as assert from 'node:assert/strict';
import type { ContextSnippet } from '../../server/contextSnippet';
import { buildFimPrompt, renderFimPrompt, type PromptInput } from '../../server/fimPrompt';
import { estimateTokens } from '../../server/tokenEstimate';
import { parse } from './parsedText';

const TS_DOC = `import { add } from './math';

export function first(a: number): number {
  return a + 1;
}

export function second(b: number): number {
  const c = add(b, 2);
  return c;
}

export function third() {
  return second(1) + first(2);
}
`;

const PY_DOC = `import os


def load(path):
    with open(path) as f:
        return f.read()


def save(path, text):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)
`;

function snippet(kind: ContextSnippet['kind'], uri: string, startLine: number, text: string): ContextSnippet {
  return { kind, uri, label: uri.slice('file:///w/'.length), startLine, endLine: startLine + text.split('\n').length - 1, text };
}

describe('the FIM prompt', () => {
  const base = async (maxPromptTokens: number, extra: Partial<PromptInput> = {}): Promise<PromptInput> => ({
    uri: 'file:///w/a.ts', text: TS_DOC, offset: TS_DOC.indexOf('add(b'), tree: await parse('typescript', TS_DOC),
    lineComment: '//', snippets: [], budget: { maxPromptTokens, contextShare: 0.25, suffixShare: 0.25 }, ...extra,
  });

  it('holds the whole document when it fits the budget', async () => {
    const p = buildFimPrompt(await base(1000));
    assert.equal(p.prefix + p.suffix, TS_DOC);
    assert.equal(p.prefix, TS_DOC.slice(0, TS_DOC.indexOf('add(b')));
    assert.equal(p.context, '');
  });

  it('cuts prefix and suffix at statements of blocks that hold the cursor', async () => {
    // 40 tokens = 120 characters: the first cut point after `first`'s start would be `return a + 1;`, whose
    // block does not hold the cursor (it would leave a dangling `}`), so the prefix starts at `second`.
    const p40 = buildFimPrompt(await base(40));
    assert.equal(p40.prefix, 'export function second(b: number): number {\n  const c = ');
    assert.equal(p40.suffix, 'add(b, 2);\n  return c;\n}\n\n');
    // 20 tokens: the prefix may only start at the statement holding the cursor, the suffix ends with its line.
    const p20 = buildFimPrompt(await base(20));
    assert.equal(p20.prefix, '  const c = ');
    assert.equal(p20.suffix, 'add(b, 2);\n');
    // Within the budget (3 characters a token).
    for (const p of [p40, p20]) assert.ok(estimateTokens(p.prefix) + estimateTokens(p.suffix) <= (p === p40 ? 40 : 20));
  });

  it('cuts a Python window at statement lines of the blocks around the cursor', async () => {
    const offset = PY_DOC.indexOf('f.write');
    const p = buildFimPrompt({
      uri: 'file:///w/a.py', text: PY_DOC, offset, tree: await parse('python', PY_DOC), lineComment: '#',
      snippets: [], budget: { maxPromptTokens: 30, contextShare: 0.25, suffixShare: 0.25 },
    });
    assert.equal(p.prefix, '    tmp = path + ".tmp"\n    with open(tmp, "w") as f:\n        ');
    assert.equal(p.suffix, 'f.write(text)\n');
  });

  it('places extra context in a fixed order whatever order it was gathered in', async () => {
    const snippets = [
      snippet('definition', 'file:///w/b.ts', 5, 'export function add(x: number, y: number) {'),
      snippet('edited', 'file:///w/c.ts', 0, 'const limit = 3;'),
      snippet('viewed', 'file:///w/b.ts', 10, 'export const zero = 0;'),
      snippet('definition', 'file:///w/a2.ts', 1, 'type Id = string;'),
    ];
    const expected =
      '// c.ts:1\nconst limit = 3;\n' +
      '// b.ts:11\nexport const zero = 0;\n' +
      '// a2.ts:2\ntype Id = string;\n' +
      '// b.ts:6\nexport function add(x: number, y: number) {\n';
    const forward = buildFimPrompt(await base(1000, { snippets }));
    const backward = buildFimPrompt(await base(1000, { snippets: [...snippets].reverse() }));
    assert.equal(forward.context, expected);
    assert.equal(backward.context, expected);
    assert.equal(renderFimPrompt(forward),
      `<｜fim▁begin｜>${expected}${TS_DOC.slice(0, TS_DOC.indexOf('add(b'))}<｜fim▁hole｜>${TS_DOC.slice(TS_DOC.indexOf('add(b'))}<｜fim▁end｜>`);
  });

  it('keeps context within its share of the budget and gives what it leaves to the prefix', async () => {
    // 70 tokens: context may take 17 tokens (51 characters).
    const small = snippet('edited', 'file:///w/c.ts', 0, 'let x = 1;'); // "// c.ts:1\nlet x = 1;\n": 21 chars, 7 tokens
    const large = snippet('edited', 'file:///w/d.ts', 0, 'x'.repeat(80)); // 91 chars, 31 tokens: too large
    const withContext = buildFimPrompt(await base(70, { snippets: [large, small] }));
    assert.equal(withContext.context, '// c.ts:1\nlet x = 1;\n');
    assert.deepEqual(withContext.snippets, [small]);
    // The window got 70 - 7 = 63 tokens (189 characters; 47 for the suffix, 142 for the prefix): the 149
    // characters before the cursor do not fit, so the prefix starts at the next statement, `first`.
    assert.equal(withContext.prefix, TS_DOC.slice(TS_DOC.indexOf('export function first'), TS_DOC.indexOf('add(b')));
    assert.ok(estimateTokens(withContext.context) + estimateTokens(withContext.prefix) + estimateTokens(withContext.suffix) <= 70);
    // Without context the window has all 70 tokens (210 characters; 158 for the prefix): it starts at the top.
    const without = buildFimPrompt(await base(70, { snippets: [large] }));
    assert.equal(without.context, '');
    assert.equal(without.prefix, TS_DOC.slice(0, TS_DOC.indexOf('add(b')));
  });

  it('leaves out context from this document that the window already shows', async () => {
    const inWindow = snippet('edited', 'file:///w/a.ts', 7, '  const c = add(b, 2);');
    const outside = snippet('viewed', 'file:///w/a.ts', 2, 'export function first(a: number): number {');
    // 32 tokens, 60% for context: the widest window (96 characters, 72 before the cursor) starts at `second`.
    const p = buildFimPrompt({ ...(await base(32)), snippets: [inWindow, outside], budget: { maxPromptTokens: 32, contextShare: 0.6, suffixShare: 0.25 } });
    assert.deepEqual(p.snippets, [outside]);
    assert.ok(!p.prefix.includes('first'));
  });
});
