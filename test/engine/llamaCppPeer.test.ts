// llama.cpp (node-llama-cpp's prebuilt CPU binary) loads the GGUF files our writer makes as `deepseek2` (f16 in both
// kv_b layouts; q4_k, which holds Q4_K, Q6_K and Q5_0), and its greedy tokens for a prompt equal ours on the same file. The default model is used: the
// fixtures carry no vocabulary, and llama.cpp refuses a model without one ("key not found: tokenizer.ggml.model").
// At q4_k the two engines compute slightly different functions (llama.cpp quantises every activation to Q8_K, our
// prefill keeps f32 activations), so a near-tie may flip: there, each of llama.cpp's tokens, fed to our engine in
// turn, must be our greedy pick or within QUANTISED_TIE of it.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { defaultModelDir } from '../../engine/defaultModel';
import { Engine } from '../../engine/engine';
import { exportGguf } from '../../engine/weights/gguf/exportGguf';
import { openLlamaCpp } from '../peer/llamaCppPeer';

const NEW_TOKENS = 24;
/** Logits apart that count as a tie between the two engines' quantised functions (the default model's logits span ~20). */
const QUANTISED_TIE = 0.1;

describe('llama.cpp on our GGUF files', function () {
  this.timeout(180_000);
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'latent-llamacpp-'));
  after(() => fs.rmSync(root, { recursive: true, force: true }));

  // q4_k: Q4_K with Q6_K output, and Q5_0 where rows are not multiples of 256 (o_proj, attn_k_b/v_b, expert down).
  for (const [type, legacyKvB] of [['f16', false], ['f16', true], ['q4_k', false]] as const) {
    const agreement = type === 'f16' ? 'picks the same greedy tokens as our engine' : `picks our greedy token or one within ${QUANTISED_TIE} of it, step by step`;
    it(`loads the default model (${type}, ${legacyKvB ? 'legacy attn_kv_b' : 'MLA split'}) as deepseek2 and ${agreement}`, async () => {
      const file = path.join(root, `tiny-${type}-${legacyKvB}.gguf`);
      exportGguf(defaultModelDir(), file, { type, legacyKvB });
      const ours = await Engine.load(file);
      const peer = await openLlamaCpp(file, { threads: 2, contextSize: 512 });
      try {
        assert.equal(peer.model.fileInfo.metadata.general.architecture, 'deepseek2');
        assert.equal(peer.versions.buildType, 'prebuilt');
        const prompt = ours.tokenizer!.encode('def fibonacci(n):\n    ', { addBos: true });
        const theirs = await peer.greedy(prompt, NEW_TOKENS);
        if (type === 'f16') {
          const mine = await ours.generate({ prompt, maxTokens: NEW_TOKENS, sampling: { temperature: 0, topP: 1, topK: 0 } });
          // Our result stops before eos; llama.cpp yields it.
          assert.deepEqual(mine.tokens, theirs.slice(0, mine.tokens.length));
          assert.ok(mine.tokens.length >= 8, `only ${mine.tokens.length} tokens compared`);
        } else {
          // Our logits after the prompt and each of their tokens: theirs must be our pick, or a tie with it.
          const [logits] = await ours.model.forward([{ cache: ours.newCache(), tokens: [...prompt, ...theirs.slice(0, -1)], logits: 'all' }]);
          const V = ours.config.vocabSize;
          theirs.forEach((token, j) => {
            const row = logits.subarray((prompt.length - 1 + j) * V, (prompt.length + j) * V);
            const best = row.reduce((m, v) => Math.max(m, v), -Infinity);
            assert.ok(row[token] >= best - QUANTISED_TIE, `token ${j}: llama.cpp's ${token} is ${(best - row[token]).toFixed(3)} below our best`);
          });
          assert.ok(theirs.length >= 8, `only ${theirs.length} tokens compared`);
        }
      } finally {
        ours.dispose();
        await peer.dispose();
      }
    });
  }
});
