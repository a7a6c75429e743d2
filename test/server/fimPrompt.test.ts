import * as assert from 'node:assert/strict';
import type { ContextSnippet } from '../../server/contextSnippet';
import { buildFimPrompt, renderFimPrompt, type PromptInput } from '../../server/fimPrompt';
import { ModelTokenizer } from '../../engine/tokenizer/modelTokenizer';
import { TOKENIZERS_DIR } from '../sharedDir';
import * as path from 'node:path';
import { parse } from './parsedText';

/** The DeepSeek tokenizer's own count: what `latent serve` counts the prompt text as. */
const tokenizer = ModelTokenizer.load(path.join(TOKENIZERS_DIR, 'deepseek-llm'));
const tokens = (text: string) => tokenizer.encode(text).length;

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
    // Tokens per line (+1 for its line break): before the cursor "  const c = " 5, `second` 11, '' 1, '}' 2,
    // `return a + 1;` 8, `first` 11; after it "add(b, 2);\n" 8, `return c;` 5, '}' 2, '' 1, `third` 6.
    // 44 tokens: the suffix's share (11) holds its first line (8); the prefix's 36 reach `return a + 1;` (27), whose
    // block does not hold the cursor (it would leave a dangling `}`), so the prefix starts at `second`; the suffix
    // gets the 17 the prefix left and ends before `third`.
    const p44 = buildFimPrompt(await base(44, { countTokens: tokens }));
    assert.equal(p44.prefix, 'export function second(b: number): number {\n  const c = ');
    assert.equal(p44.suffix, 'add(b, 2);\n  return c;\n}\n\n');
    // 14 tokens: the prefix's 14 hold only the cursor's line (5); the suffix then gets 9: its first line.
    const p14 = buildFimPrompt(await base(14, { countTokens: tokens }));
    assert.equal(p14.prefix, '  const c = ');
    assert.equal(p14.suffix, 'add(b, 2);\n');
    for (const [p, budget] of [[p44, 44], [p14, 14]] as const) assert.ok(tokens(p.prefix) + tokens(p.suffix) <= budget);
  });

  it("gives the whole window to the prefix, and renders no FIM markers, in the 'prefix' layout", async () => {
    // 44 tokens as above: FIM keeps the suffix's line and starts at `second`; the prefix alone reaches further back.
    const fim = buildFimPrompt(await base(44, { countTokens: tokens }));
    const alone = buildFimPrompt(await base(44, { countTokens: tokens, infill: 'prefix' }));
    assert.equal(fim.infill, 'fim');
    assert.equal(alone.infill, 'prefix');
    assert.equal(alone.suffix, '');
    assert.equal(alone.suffixEnd, TS_DOC.indexOf('add(b'));
    assert.ok(alone.prefix.length > fim.prefix.length && alone.prefix.endsWith(fim.prefix), alone.prefix);
    assert.ok(tokens(alone.prefix) <= 44);
    assert.equal(renderFimPrompt(alone), alone.prefix);
  });

  it('fills its token budget exactly as the tokenizer counts, and never goes over it', () => {
    const lines: string[] = [];
    for (let i = 0; lines.length < 200; i++) {
      lines.push(`export function area${i}(shape: Shape): number {`, `  const scaled = shape.width * ${i % 7 + 1}; // ${'é'.repeat(i % 3)}`,
        `  return scaled * shape.height + helper("${'ab '.repeat(i % 4)}");`, '}', '');
    }
    const text = lines.join('\n');
    const lineStarts = [0, ...[...text.matchAll(/\n/g)].map((m) => m.index! + 1)];
    const markerTokens = 4;
    for (const offset of [text.indexOf('scaled * shape', 3000), text.indexOf('helper', 4000), text.length - 10]) {
      assert.ok(offset > 0);
      for (const budget of [16, 50, 97, 300, 1000]) {
        // No tree: the window may start and end at any line, so it can be filled to the last line that fits.
        const p = buildFimPrompt({ uri: 'file:///w/big.ts', text, offset, lineComment: '//', snippets: [], countTokens: tokens,
          budget: { maxPromptTokens: budget, markerTokens, contextShare: 0.25, suffixShare: 0.25 } });
        // The engine encodes prefix and suffix apart (FIM with `suffix`), and adds bos and three markers.
        const used = markerTokens + tokens(p.prefix) + tokens(p.suffix);
        assert.ok(used <= budget, `offset ${offset}, budget ${budget}: ${used} tokens`);
        const earlier = lineStarts.filter((s) => s < p.prefixStart).at(-1);
        const later = lineStarts.find((s) => s > p.suffixEnd) ?? (p.suffixEnd < text.length ? text.length : undefined);
        // A line more on either side would be over: the budget is used as far as whole lines allow.
        if (earlier !== undefined) assert.ok(markerTokens + tokens(text.slice(earlier, offset)) + tokens(p.suffix) > budget, `prefix could grow (${budget})`);
        if (later !== undefined) assert.ok(markerTokens + tokens(p.prefix) + tokens(text.slice(offset, later)) > budget, `suffix could grow (${budget})`);
      }
    }
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
    // 70 tokens: context may take 17.
    const small = snippet('edited', 'file:///w/c.ts', 0, 'let x = 1;'); // "// c.ts:1\nlet x = 1;\n": 14 tokens
    const large = snippet('edited', 'file:///w/d.ts', 0, 'x'.repeat(80)); // 18 tokens: too large
    const withContext = buildFimPrompt(await base(70, { snippets: [large, small], countTokens: tokens }));
    assert.equal(withContext.context, '// c.ts:1\nlet x = 1;\n');
    assert.deepEqual(withContext.snippets, [small]);
    // The window got 70 - 14 = 56 tokens (13 for the suffix, 43 for the prefix): the 48 tokens before the cursor
    // do not fit, so the prefix starts at the next statement, `first`.
    assert.equal(withContext.prefix, TS_DOC.slice(TS_DOC.indexOf('export function first'), TS_DOC.indexOf('add(b')));
    assert.ok(tokens(withContext.context + withContext.prefix) + tokens(withContext.suffix) <= 70);
    // Without context the window has all 70 tokens (54 for the prefix): it starts at the top.
    const without = buildFimPrompt(await base(70, { snippets: [large], countTokens: tokens }));
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
