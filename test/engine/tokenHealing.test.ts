// Token healing on the embedded default model: a text prompt ending mid-token (a bare "\n", a cursor inside a word)
// has the token its answer continues (the last, or a FIM prompt's last prefix token) taken back and re-chosen by
// the model, and the answer neither loses nor repeats text.
import * as assert from 'node:assert/strict';
import { defaultModelDir } from '../../engine/defaultModel';
import { Engine } from '../../engine/engine';
import { argmax } from '../../engine/generate/sampler';
import { TokenHealer } from '../../engine/generate/tokenHealing';
import type { ModelTokenizer } from '../../engine/tokenizer/modelTokenizer';

const greedy = { temperature: 0, topP: 1, topK: 0 };

describe('token healing (default model)', () => {
  let engine: Engine;
  let tokenizer: ModelTokenizer;
  before(async () => {
    engine = await Engine.load(defaultModelDir());
    tokenizer = engine.tokenizer!;
  });
  after(() => engine.dispose());

  it('takes back a last token that other tokens extend, and allows exactly the tokens that begin with its text', () => {
    const prompt = tokenizer.encode('def add(a, b):\n', { addBos: tokenizer.addBos });
    const healed = new TokenHealer(tokenizer).heal(prompt);
    assert.ok(healed, 'a prompt ending in a bare newline is healed');
    assert.deepEqual(healed.prompt, prompt.slice(0, -1));
    assert.equal(healed.healing.text, '\n');
    const allowed = new Set(healed.healing.allowed);
    assert.ok(allowed.has(prompt[prompt.length - 1]), 'the token taken back stays allowed');
    for (let id = 0; id < tokenizer.vocabSize; id++) {
      const text = tokenizer.decode([id]);
      assert.equal(allowed.has(id), text !== '' && text.startsWith('\n'), `token ${id} ${JSON.stringify(text)}`);
    }
  });

  it('leaves prompts that end in a special token (a chat turn, a FIM prompt with nothing before its hole) alone', () => {
    const healer = new TokenHealer(tokenizer);
    const fim = tokenizer.special.fim!;
    assert.equal(healer.heal([...tokenizer.encode('x = 1'), fim.end]), null);
    assert.equal(healer.heal([tokenizer.special.bos!]), null);
    assert.equal(healer.heal([tokenizer.special.bos!, fim.begin, fim.hole, ...tokenizer.encode('x = 1\n'), fim.end]), null);
  });

  it('in a FIM prompt takes back the prefix\'s last token, the one the middle continues, and keeps the suffix', () => {
    const fim = tokenizer.special.fim!;
    const prefix = tokenizer.encode('export const tot');
    const suffix = tokenizer.encode(' = values.length;\n');
    const prompt = [tokenizer.special.bos!, fim.begin, ...prefix, fim.hole, ...suffix, fim.end];
    const healed = new TokenHealer(tokenizer).heal(prompt);
    assert.ok(healed, 'a prefix ending inside a word is healed');
    assert.deepEqual(healed.prompt, [tokenizer.special.bos!, fim.begin, ...prefix.slice(0, -1), fim.hole, ...suffix, fim.end]);
    assert.equal(healed.healing.text, tokenizer.decode(prefix.slice(-1)));
    assert.ok(healed.healing.allowed.includes(prefix[prefix.length - 1]));
  });

  it('a healed FIM middle continues the prefix exactly, and begins with the rest of the word it was cut in', async () => {
    const fim = tokenizer.special.fim!;
    for (const [before, after] of [['function add(a, b) {\n  ret', ' a + b;\n}\n'], ['const total = values.reduc', '\n']]) {
      const prefix = tokenizer.encode(before);
      const prompt = [tokenizer.special.bos!, fim.begin, ...prefix, fim.hole, ...tokenizer.encode(after), fim.end];
      const result = await engine.generate({ prompt, maxTokens: 6, sampling: greedy, tokenHealing: true });
      const healedText = tokenizer.decode(prefix.slice(-1));
      assert.ok(tokenizer.decode(result.tokens).startsWith(healedText), JSON.stringify(before));
      assert.equal(tokenizer.decode(prefix.slice(0, -1)) + tokenizer.decode(result.tokens), before + result.text, JSON.stringify(before));
      assert.equal(result.promptTokens, prompt.length);
    }
  });

  it('the first token is the best of those that begin with the healed text, even where the model prefers another', async () => {
    // "return a +" heals " +"; unrestricted, the model would next write "." after "return a".
    for (const text of ['def add(a, b):\n', 'return a +', 'if (a']) {
      const prompt = tokenizer.encode(text, { addBos: tokenizer.addBos });
      const healed = new TokenHealer(tokenizer).heal(prompt)!;
      const [logits] = await engine.model.forward([{ cache: engine.newCache(), tokens: healed.prompt, logits: 'last' }]);
      const allowed = [...healed.healing.allowed];
      const best = allowed.reduce((a, b) => (logits[b] > logits[a] || (logits[b] === logits[a] && b < a) ? b : a));
      const result = await engine.generate({ prompt, maxTokens: 1, sampling: greedy, tokenHealing: true });
      assert.deepEqual(result.tokens, [best], JSON.stringify(text));
      if (text === 'return a +') assert.ok(!allowed.includes(argmax(logits)), 'the model prefers a token outside the allowed set here');
    }
  });

  it('a healed answer continues the prompt text exactly: nothing lost, nothing repeated', async () => {
    for (const text of ['def add(a, b):\n', 'function add(a, b) {\n', 'const x = ']) {
      const prompt = tokenizer.encode(text, { addBos: tokenizer.addBos });
      const result = await engine.generate({ prompt, maxTokens: 8, sampling: greedy, tokenHealing: true });
      const healedPrompt = prompt.slice(0, -1);
      assert.equal(tokenizer.decode(healedPrompt) + tokenizer.decode(result.tokens), tokenizer.decode(prompt) + result.text, JSON.stringify(text));
      assert.equal(result.promptTokens, prompt.length);
    }
  });

  it('after a bare newline the healed answer starts an indented body (the unhealed one does not)', async () => {
    const prompt = tokenizer.encode('def add(a, b):\n', { addBos: tokenizer.addBos });
    const healed = await engine.generate({ prompt, maxTokens: 4, sampling: greedy, tokenHealing: true });
    const plain = await engine.generate({ prompt, maxTokens: 4, sampling: greedy });
    assert.match(healed.text, /^[ \t]+\S/, `healed: ${JSON.stringify(healed.text)}`);
    assert.doesNotMatch(plain.text, /^[ \t]+\S/, `unhealed: ${JSON.stringify(plain.text)} (if the model learned this, the test lost its point)`);
  });
});
