import * as assert from 'node:assert/strict';
import { TextDocument } from 'vscode-languageserver-textdocument';
import { DocumentSyntax, MAX_PARSED_LENGTH } from '../../server/documentSyntax';
import { parserFor } from '../../server/grammars';
import { isParsedLanguage } from '../../server/languages';

const SAMPLES: Record<string, string> = {
  typescript: 'export function f(a: number): number {\n  const b: string[] = [];\n  return a * 2;\n}\n',
  typescriptreact: 'export const App = () => <div className="x">{1 + 2}</div>;\n',
  javascript: 'function f(a) {\n  return a.map((x) => x * 2);\n}\n',
  python: 'def f(a):\n    return [x * 2 for x in a]\n\nclass C:\n    pass\n',
  go: 'package main\n\nfunc f(a int) int {\n\treturn a * 2\n}\n',
  rust: 'fn f(a: i32) -> i32 {\n    a * 2\n}\n\nstruct S { x: u8 }\n',
  java: 'class A {\n  int f(int a) {\n    return a * 2;\n  }\n}\n',
  c: '#include <stdio.h>\nint f(int a) {\n  return a * 2;\n}\n',
  cpp: 'template <typename T> T f(T a) {\n  return a * 2;\n}\nclass C { int x; };\n',
};

/** A small deterministic random stream, so failures reproduce. */
function random(seed: number): () => number {
  return () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648);
}

describe('document syntax trees', () => {
  for (const [languageId, sample] of Object.entries(SAMPLES)) {
    it(`parses ${languageId} without errors`, async () => {
      const parser = await parserFor(languageId);
      assert.ok(parser, `no parser for ${languageId}`);
      const tree = parser.parse(sample)!;
      assert.equal(tree.rootNode.hasError, false, tree.rootNode.toString());
      tree.delete();
    });
  }

  it('treats unknown languages as plain text, without a tree', async () => {
    assert.equal(isParsedLanguage('plaintext'), false);
    assert.equal(await parserFor('plaintext'), undefined);
  });

  for (const languageId of ['typescript', 'python', 'c', 'rust']) {
    it(`keeps the ${languageId} tree equal to a fresh parse through 300 incremental edits`, async () => {
      const parser = (await parserFor(languageId))!;
      const syntax = new DocumentSyntax(TextDocument.create('file:///t', languageId, 1, SAMPLES[languageId].repeat(5)));
      syntax.attachParser(parser);
      const next = random(languageId.length);
      const pieces = ['x', ' ', '\n', '(', ')', '{', '}', 'return 1;', 'é', '😀', '', ':', '    '];
      for (let version = 2; version < 302; version++) {
        const text = syntax.doc.getText();
        const a = Math.floor(next() * (text.length + 1));
        const b = Math.min(text.length, a + Math.floor(next() * 6));
        const range = { start: syntax.doc.positionAt(a), end: syntax.doc.positionAt(b) };
        syntax.applyChanges([{ range, text: pieces[Math.floor(next() * pieces.length)] }], version);
        if (version % 50 === 1) {
          const fresh = parser.parse(syntax.doc.getText())!;
          assert.equal(syntax.currentTree!.rootNode.toString(), fresh.rootNode.toString(), `after edit ${version}`);
          fresh.delete();
        }
      }
      const fresh = parser.parse(syntax.doc.getText())!;
      assert.equal(syntax.currentTree!.rootNode.toString(), fresh.rootNode.toString());
      fresh.delete();
      syntax.dispose();
    });
  }

  it('applies several changes of one notification in order, as LSP says', async () => {
    const syntax = new DocumentSyntax(TextDocument.create('file:///t', 'python', 1, 'a = 1\nb = 2\n'));
    syntax.attachParser(await parserFor('python'));
    syntax.applyChanges([
      { range: { start: { line: 0, character: 4 }, end: { line: 0, character: 5 } }, text: '10' },
      { range: { start: { line: 1, character: 0 }, end: { line: 1, character: 1 } }, text: 'c' },
      { range: { start: { line: 2, character: 0 }, end: { line: 2, character: 0 } }, text: 'd = a + c\n' },
    ], 2);
    assert.equal(syntax.doc.getText(), 'a = 10\nc = 2\nd = a + c\n');
    assert.equal(syntax.currentTree!.rootNode.toString(),
      (await parserFor('python'))!.parse('a = 10\nc = 2\nd = a + c\n')!.rootNode.toString());
  });

  it('parses a 10,000-line file within its budget, and keeps a document over the size limit as text only', async () => {
    const lines = Array.from({ length: 10_000 }, (_, i) => `export const value${i} = compute(${i});`).join('\n');
    const big = new DocumentSyntax(TextDocument.create('file:///big.ts', 'typescript', 1, lines));
    big.attachParser(await parserFor('typescript'));
    assert.ok(big.currentTree, 'the 10,000-line file got no tree');
    big.dispose();
    const huge = new DocumentSyntax(TextDocument.create('file:///huge.ts', 'typescript', 1, 'let x = 1;\n'.repeat(MAX_PARSED_LENGTH / 10)));
    huge.attachParser(await parserFor('typescript'));
    assert.equal(huge.currentTree, undefined);
  });

  it('marks text with NUL characters as binary and builds no tree for it', async () => {
    const syntax = new DocumentSyntax(TextDocument.create('file:///b', 'c', 1, 'int x;\u0000\u0001'));
    syntax.attachParser(await parserFor('c'));
    assert.equal(syntax.binary, true);
    assert.equal(syntax.currentTree, undefined);
  });
});
