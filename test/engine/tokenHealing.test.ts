// Token healing on the embedded default model: a text prompt ending mid-token (a bare "\n", a cursor inside a word)
// has the tokens its answer continues (the last, or a FIM prompt's last prefix token, and those before it while a
// token begins with their text) taken back and re-chosen by the model, and the answer neither loses nor repeats text.
import * as assert from 'node:assert/strict';
import { defaultModelDir } from '../../engine/defaultModel';
import { Engine } from '../../engine/engine';
import { argmax } from '../../engine/generate/sampler';
import { MAX_HEALED_TOKENS, TokenHealer } from '../../engine/generate/tokenHealing';
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

  /** What the healer must allow while the `owed` prompt tokens are still to be written, by its definition, over the whole vocabulary. */
  function expectedAllowed(owed: number[]): Set<number> {
    const owedText = tokenizer.decode(owed);
    const ids = new Set<number>(owed.length > 1 ? [owed[0]] : []);
    for (let id = 0; id < tokenizer.vocabSize; id++) {
      const text = tokenizer.decode([id]);
      if (text !== '' && text.startsWith(owedText)) ids.add(id);
    }
    return ids;
  }

  function anyTokenStartsWith(text: string): boolean {
    for (let id = 0; id < tokenizer.vocabSize; id++) if (tokenizer.decode([id]).startsWith(text)) return true;
    return false;
  }

  it('takes back a last token that other tokens extend, and allows exactly the tokens that begin with its text', () => {
    const prompt = tokenizer.encode('def add(a, b):\n', { addBos: tokenizer.addBos });
    const healed = new TokenHealer(tokenizer).heal(prompt);
    assert.ok(healed, 'a prompt ending in a bare newline is healed');
    const n = healed.healing.tokens;
    assert.deepEqual(healed.prompt, prompt.slice(0, -n));
    assert.equal(healed.healing.text, tokenizer.decode(prompt.slice(-n)));
    assert.ok(healed.healing.text.endsWith('\n'));
    const allowed = new Set(healed.healing.allowed());
    assert.ok(allowed.has(prompt[prompt.length - n]), 'the first token taken back stays allowed');
    assert.deepEqual(allowed, expectedAllowed(prompt.slice(-n)));
  });

  it('takes back every token of a word the tokenizer split where one token begins with the whole of it', () => {
    // " def" "a": the word the user is typing is most likely " default", one token, which " defa" forbids.
    const prompt = tokenizer.encode('x = defa', { addBos: tokenizer.addBos });
    assert.deepEqual(prompt.slice(-2).map((id) => tokenizer.decode([id])), [' def', 'a'], 'the tokenizer splits "defa"');
    const healed = new TokenHealer(tokenizer).heal(prompt)!;
    assert.equal(healed.healing.text, ' defa');
    assert.equal(healed.healing.tokens, 2);
    assert.deepEqual(healed.prompt, prompt.slice(0, -2));
    assert.ok(!anyTokenStartsWith(' = defa'), 'no token begins with one more token\'s text, so the healer stopped there');
    const allowed = [...healed.healing.allowed()].map((id) => tokenizer.decode([id]));
    assert.ok(allowed.includes(' default') && allowed.includes(' def'), 'the whole word, or the prompt\'s own first token, may come first');
    assert.ok(!allowed.includes(' d') && !allowed.includes(' '), 'not a shorter token, whose probability sums every word it begins');
    assert.deepEqual(new Set(healed.healing.allowed()), expectedAllowed(prompt.slice(-2)));
  });

  it('keeps constraining the answer until the text taken back is written, then lets go', () => {
    const healed = new TokenHealer(tokenizer).heal(tokenizer.encode('x = defa', { addBos: tokenizer.addBos }))!;
    const { healing } = healed;
    const [def, a] = tokenizer.encode(' defa');
    healing.take(def);
    assert.ok(healing.active, '"a" is still owed');
    assert.deepEqual(new Set(healing.allowed()), expectedAllowed([a]));
    healing.take(a);
    assert.ok(!healing.active, 'the owed text is written');
    const whole = new TokenHealer(tokenizer).heal(tokenizer.encode('x = defa', { addBos: tokenizer.addBos }))!.healing;
    whole.take(tokenizer.encode(' default')[0]);
    assert.ok(!whole.active, 'one token that writes all of it ends the healing at once');
  });

  it('takes back at most a word\'s worth of tokens', () => {
    // Twelve one-space tokens: the vocabulary has a token of 32 spaces, so every run of them has an extension and
    // only the cap stops the healer.
    const space = tokenizer.encode(' ');
    assert.equal(space.length, 1);
    assert.ok(anyTokenStartsWith(' '.repeat(13)), 'a token of more than twelve spaces exists');
    const prompt = [tokenizer.special.bos!, ...new Array<number>(12).fill(space[0])];
    const healed = new TokenHealer(tokenizer).heal(prompt)!;
    assert.equal(healed.healing.tokens, MAX_HEALED_TOKENS);
    assert.deepEqual(healed.prompt, prompt.slice(0, -MAX_HEALED_TOKENS));
    assert.equal(healed.healing.text, ' '.repeat(MAX_HEALED_TOKENS));
  });

  it('leaves prompts that end in a special token (a chat turn, a FIM prompt with nothing before its hole) alone', () => {
    const healer = new TokenHealer(tokenizer);
    const fim = tokenizer.special.fim!;
    assert.equal(healer.heal([...tokenizer.encode('x = 1'), fim.end]), null);
    assert.equal(healer.heal([tokenizer.special.bos!]), null);
    assert.equal(healer.heal([tokenizer.special.bos!, fim.begin, fim.hole, ...tokenizer.encode('x = 1\n'), fim.end]), null);
  });

  it('in a FIM prompt takes back the prefix\'s last tokens, those the middle continues, and keeps the suffix', () => {
    const fim = tokenizer.special.fim!;
    for (const before of ['export const tot', 'const total = values.reduc']) {
      const prefix = tokenizer.encode(before);
      const suffix = tokenizer.encode(' = values.length;\n');
      const prompt = [tokenizer.special.bos!, fim.begin, ...prefix, fim.hole, ...suffix, fim.end];
      const healed = new TokenHealer(tokenizer).heal(prompt);
      assert.ok(healed, 'a prefix ending inside a word is healed');
      const n = healed.healing.tokens;
      assert.deepEqual(healed.prompt, [tokenizer.special.bos!, fim.begin, ...prefix.slice(0, -n), fim.hole, ...suffix, fim.end]);
      assert.equal(healed.healing.text, tokenizer.decode(prefix.slice(-n)));
      assert.ok(healed.healing.allowed().includes(prefix[prefix.length - n]));
    }
  });

  it('a healed FIM middle continues the prefix exactly, and begins with the rest of the word it was cut in', async () => {
    const fim = tokenizer.special.fim!;
    const healer = new TokenHealer(tokenizer);
    for (const [before, after] of [['function add(a, b) {\n  ret', ' a + b;\n}\n'], ['const total = values.reduc', '\n'], ['x = defa', '\n']]) {
      const prefix = tokenizer.encode(before);
      const prompt = [tokenizer.special.bos!, fim.begin, ...prefix, fim.hole, ...tokenizer.encode(after), fim.end];
      const n = healer.heal(prompt)!.healing.tokens;
      const result = await engine.generate({ prompt, maxTokens: 6, sampling: greedy, tokenHealing: true });
      const healedText = tokenizer.decode(prefix.slice(-n));
      assert.ok(tokenizer.decode(result.tokens).startsWith(healedText), JSON.stringify(before));
      assert.equal(tokenizer.decode(prefix.slice(0, -n)) + tokenizer.decode(result.tokens), before + result.text, JSON.stringify(before));
      assert.equal(result.promptTokens, prompt.length);
    }
  });

  it('the first token is the best of those allowed, even where the model prefers another', async () => {
    // "return a +" heals " +"; unrestricted, the model would next write "." after "return a".
    for (const text of ['def add(a, b):\n', 'return a +', 'if (a']) {
      const prompt = tokenizer.encode(text, { addBos: tokenizer.addBos });
      const healed = new TokenHealer(tokenizer).heal(prompt)!;
      const [logits] = await engine.model.forward([{ cache: engine.newCache(), tokens: healed.prompt, logits: 'last' }]);
      const allowed = [...healed.healing.allowed()];
      const best = allowed.reduce((a, b) => (logits[b] > logits[a] || (logits[b] === logits[a] && b < a) ? b : a));
      const result = await engine.generate({ prompt, maxTokens: 1, sampling: greedy, tokenHealing: true });
      assert.deepEqual(result.tokens, [best], JSON.stringify(text));
      if (text === 'return a +') assert.ok(!allowed.includes(argmax(logits)), 'the model prefers a token outside the allowed set here');
    }
  });

  it('a healed answer continues the prompt text exactly: nothing lost, nothing repeated', async () => {
    const healer = new TokenHealer(tokenizer);
    for (const text of ['def add(a, b):\n', 'function add(a, b) {\n', 'const x = ', 'for arg in argu']) {
      const prompt = tokenizer.encode(text, { addBos: tokenizer.addBos });
      const n = healer.heal(prompt)!.healing.tokens;
      const result = await engine.generate({ prompt, maxTokens: 8, sampling: greedy, tokenHealing: true });
      const healedPrompt = prompt.slice(0, -n);
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
