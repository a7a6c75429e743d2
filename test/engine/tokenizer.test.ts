// The model folder's tokenizer against llama.cpp's DeepSeek test vectors, and streamed decoding.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ModelTokenizer, TokenizerError } from '../../engine/tokenizer/modelTokenizer';
import { StreamingDecoder } from '../../engine/tokenizer/streamingDecoder';
import { TOKENIZERS_DIR } from '../sharedDir';

const DIR = path.join(TOKENIZERS_DIR, 'deepseek-llm');

describe('DeepSeek tokenizer', () => {
  const tokenizer = ModelTokenizer.load(DIR);
  const inputs = fs.readFileSync(path.join(DIR, 'ggml-vocab-deepseek-llm.gguf.inp'), 'utf8').split('\n__ggml_vocab_test__\n');
  const outputs = fs.readFileSync(path.join(DIR, 'ggml-vocab-deepseek-llm.gguf.out'), 'utf8').split('\n');

  it("reproduces all 47 of llama.cpp's test vectors", async () => {
    assert.equal(inputs.length, 47);
    inputs.forEach((text, i) => {
      const want = outputs[i].trim() === '' ? [] : outputs[i].trim().split(/\s+/).map(Number);
      assert.deepEqual(tokenizer.encode(text), want, `case ${i}: ${JSON.stringify(text)}`);
    });
  });

  it('reads bos and eos from the folder, and has no FIM tokens in this vocabulary', async () => {
    assert.equal(tokenizer.special.bos, 100000);
    assert.equal(tokenizer.special.eos, 100001);
    assert.equal(tokenizer.special.fim, null);
    assert.deepEqual(tokenizer.encode('hi', { addBos: true })[0], 100000);
  });

  it("reads the infill layout from tokenizer_config.json's infill_prompt (fim when absent), refusing other values", () => {
    const json = JSON.parse(fs.readFileSync(path.join(DIR, 'tokenizer.json'), 'utf8'));
    const config = JSON.parse(fs.readFileSync(path.join(DIR, 'tokenizer_config.json'), 'utf8'));
    assert.equal(tokenizer.infillPrompt, 'fim');
    assert.equal(ModelTokenizer.fromJson(json, { ...config, infill_prompt: 'prefix' }, 'test').infillPrompt, 'prefix');
    assert.throws(() => ModelTokenizer.fromJson(json, { ...config, infill_prompt: 'spm' }, 'test'),
      (e: Error) => e instanceof TokenizerError && /infill_prompt must be "fim" or "prefix", not "spm"/.test(e.message));
  });

  it('streams text without splitting multi-byte characters', async () => {
    const text = 'naïve 🙂 code → “quotes” 中文';
    const ids = tokenizer.encode(text);
    const decoder = new StreamingDecoder(tokenizer);
    const pieces = ids.map((id) => decoder.push(id));
    pieces.push(decoder.flush());
    assert.ok(pieces.every((p) => !p.includes('\uFFFD')));
    assert.equal(pieces.join(''), text);
  });
});
