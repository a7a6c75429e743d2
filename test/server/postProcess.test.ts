import * as assert from 'node:assert/strict';
import {
  balanceBrackets, detectIndentUnit, dropRepetition, fixIndentation, postProcess, stopAtSuffixRepeat,
  stripRestOfLineOverlap,
} from '../../server/postProcess';

describe('post-processing of completions', () => {
  const ctx = (prefix: string, suffix: string, multiline: boolean, finishReason = 'stop') =>
    ({ prefix, suffix, multiline, indentUnit: '  ', finishReason });

  describe('stopping where the completion repeats the text after the cursor', () => {
    it('cuts before a line equal to the next line of the document', () => {
      const suffix = '\n  return total;\n}\n';
      assert.equal(stopAtSuffixRepeat('total += x;\n  return total;\n}', suffix), 'total += x;');
    });
    it('needs a short line such as } to be followed by the document\'s next line too', () => {
      const suffix = '\n}\nfunction g() {}\n';
      // `}` then something else: not a repeat of the document.
      assert.equal(stopAtSuffixRepeat('if (a) {\n  b();\n}\nc();', suffix), 'if (a) {\n  b();\n}\nc();');
      // `}` then the document's next line: a repeat.
      assert.equal(stopAtSuffixRepeat('return 1;\n}\nfunction g() {}', suffix), 'return 1;');
    });
    it('leaves a completion alone when the document has nothing after the cursor line', () => {
      assert.equal(stopAtSuffixRepeat('a\nb', ''), 'a\nb');
    });
    it('removes the rest of the line that a single-line completion re-types', () => {
      assert.equal(stripRestOfLineOverlap('a, b);', ');\nnext'), 'a, b');
      assert.equal(stripRestOfLineOverlap('a, b', ');'), 'a, b');
    });
  });

  describe('balancing brackets', () => {
    it('stops before a closer the document already has after the cursor', () => {
      assert.equal(balanceBrackets('a, b)', { suffix: ')', multiline: false }), 'a, b');
    });
    it('keeps brackets the completion opens and closes itself', () => {
      assert.equal(balanceBrackets('f(g(x), [1, 2])', { suffix: ')', multiline: false }), 'f(g(x), [1, 2])');
    });
    it('drops a whole line holding only the closer of the enclosing block', () => {
      assert.equal(balanceBrackets('return 1;\n}\n\nfunction other() {', { suffix: '\n}', multiline: true }), 'return 1;');
    });
    it('stops at the end of the line that closes a scope the document does not close', () => {
      assert.equal(balanceBrackets('x);\nmore()', { suffix: '', multiline: true }), 'x);');
    });
    it('ignores brackets inside strings', () => {
      assert.equal(balanceBrackets('"(" + \')\')', { suffix: ')', multiline: false }), '"(" + \')\'');
    });
    it('takes a multi-line completion cut by the token limit back to its last balanced line', () => {
      const text = 'const a = 1;\nif (a) {\n  call(';
      assert.equal(balanceBrackets(text, { suffix: '', multiline: true, finishReason: 'length' }), 'const a = 1;');
      assert.equal(balanceBrackets(text, { suffix: '', multiline: true, finishReason: 'stop' }), text);
    });
  });

  describe('indentation', () => {
    it('detects the unit a text uses', () => {
      assert.equal(detectIndentUnit('a\n    b\n        c'), '    ');
      assert.equal(detectIndentUnit('a\n\tb\n\t\tc'), '\t');
      assert.equal(detectIndentUnit('a\nb'), undefined);
    });
    it('re-indents a completion written with tabs into a document indented with two spaces', () => {
      assert.equal(fixIndentation('if (x) {\n\t\ty();\n\t}', { prefix: 'function f() {\n  ', indentUnit: '  ' }),
        'if (x) {\n    y();\n  }');
    });
    it('drops a second indentation of the first line when the cursor already stands after the indentation', () => {
      assert.equal(fixIndentation('    return 1;', { prefix: '{\n    ', indentUnit: '    ' }), 'return 1;');
    });
  });

  describe('repetition', () => {
    it('keeps a line repeated three times once', () => {
      assert.equal(dropRepetition('a();\nlog(x);\nlog(x);\nlog(x);\nlog(x);'), 'a();\nlog(x);');
    });
    it('keeps a repeated block of lines once', () => {
      assert.equal(dropRepetition('x = 1\ny = 2\nx = 1\ny = 2\nx = 1\ny = 2'), 'x = 1\ny = 2');
    });
    it('keeps a piece of a line repeated five times once', () => {
      assert.equal(dropRepetition('foo(ab, ab, ab, ab, ab, ab, '), 'foo(ab, ');
    });
    it('leaves rules of punctuation alone', () => {
      assert.equal(dropRepetition('// ----------------'), '// ----------------');
    });
    it('leaves a line that appears twice alone', () => {
      assert.equal(dropRepetition('x++;\nx++;'), 'x++;\nx++;');
    });
  });

  describe('the whole pipeline', () => {
    it('keeps only the first line of a single-line completion', () => {
      assert.equal(postProcess('total + 1;\nconsole.log(total);', ctx('return ', '\n}', false)), 'total + 1;');
    });
    it('drops empty and whitespace-only results', () => {
      assert.equal(postProcess('   \n', ctx('x = ', '', true)), '');
      assert.equal(postProcess('\nfoo()', ctx('x = ', '', false)), '');
    });
    it('writes the document\'s line endings', () => {
      assert.equal(postProcess('a\nb', ctx('{\r\n', '\r\n}', true)), 'a\r\nb');
    });
    it('returns a body and stops at the block\'s closing brace already in the document', () => {
      const out = postProcess('  let s = 0;\n  for (const x of xs) s += x;\n  return s;\n}\n\nexport function next() {',
        ctx('function sum(xs: number[]) {\n  ', '\n}\n', true));
      assert.equal(out, 'let s = 0;\n  for (const x of xs) s += x;\n  return s;');
    });
  });
});
