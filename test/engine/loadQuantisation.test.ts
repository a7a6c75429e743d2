// Load-time quantisation (`--weights q8_0|q4_k`): which tensors are quantised and into what storage, the
// fixtures' logits and greedy tokens against the reference's f32 ones, the default model's greedy tokens
// against its bf16 ones, and the CLI option.
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { CpuBackend } from '../../engine/backend/cpu/cpuBackend';
import { ContiguousLatentCache } from '../../engine/cache/latentCache';
import { defaultModelDir } from '../../engine/defaultModel';
import { Engine } from '../../engine/engine';
import { DeepseekV2Model } from '../../engine/model/deepseekV2';
import { DType, tensorBytes } from '../../engine/weights/ggmlTypes';
import { isQuantisableLinear } from '../../engine/weights/loadQuantisation';
import { loadWeights, readConfig } from '../../engine/weights/modelFolder';
import { allocateTensor } from '../../engine/weights/tensor';
import { argmax, FIXTURE_NAMES, fixtureDir, loadExpected, maxAbsDiff } from './fixtureModel';
import { LATENT } from './randomCheckpointHelpers';

/**
 * Worst |logit - reference| with q8_0 weights, per fixture; logits reach ~9. Measured 0.156, 0.288, 0.070 with the
 * WASM kernels (f32 activations in prefill), 0.265, 0.251, 0.120 with the native ones (Q8_0 activations in every
 * matmul, as llama.cpp; KernelChoice.integerDotMaxTokens).
 */
const Q8_0_LOGIT_TOLERANCE: Record<string, number> = { lite: 0.3, full: 0.35, long: 0.15 };
/** Greedy tokens must agree where the reference's top-2 gap exceeds this (above the worst logit error above). */
const DECISIVE_GAP = 0.35;

function relativeRms(got: ArrayLike<number>, want: ArrayLike<number>): number {
  let err = 0;
  let ref = 0;
  for (let i = 0; i < want.length; i++) {
    err += (got[i] - want[i]) ** 2;
    ref += want[i] ** 2;
  }
  return Math.sqrt(err / ref);
}

describe('load-time weight quantisation', function () {
  this.timeout(120_000);
  let backend: CpuBackend;
  before(async () => {
    backend = await CpuBackend.create({ threads: 2 });
  });
  after(() => backend?.dispose());

  it('quantises exactly the linear weights whose rows are whole blocks, into block storage only, noting the rest once', async () => {
    const dir = fixtureDir('full');
    const config = readConfig(dir);
    const allocated: { name: string; dtype: DType; bytes: number }[] = [];
    const notes: string[] = [];
    const weights = loadWeights(dir, config, undefined, (name, dtype, shape) => {
      allocated.push({ name, dtype, bytes: tensorBytes(dtype, shape) });
      return allocateTensor(name, dtype, shape);
    }, { weights: 'q8_0', onNote: (line) => notes.push(line) });
    const asStored = loadWeights(dir, config);
    let quantised = 0;
    for (const [name, t] of weights) {
      const file = asStored.get(name)!;
      const linear = isQuantisableLinear(name, t.shape);
      const want = linear && t.shape[1] % 32 === 0 ? 'Q8_0' : file.dtype;
      assert.equal(t.dtype, want, name);
      if (want === 'Q8_0') quantised++;
    }
    assert.equal(weights.get('model.embed_tokens.weight')!.dtype, 'F32');
    assert.equal(weights.get('model.layers.1.mlp.gate.weight')!.dtype, 'F32', 'the router stays as stored');
    assert.equal(weights.get('model.layers.1.mlp.experts.0.up_proj.weight')!.dtype, 'Q8_0');
    // One allocation per tensor, each the size of its stored form: no full-precision copy was allocated.
    assert.equal(allocated.length, weights.size);
    for (const a of allocated) assert.equal(a.bytes, weights.get(a.name)!.data.byteLength, a.name);
    assert.deepEqual(notes, [`--weights q8_0: 38 of ${38 + quantised} linear weights kept unquantised, their rows not a multiple of 32 values (e.g. model.layers.0.self_attn.q_b_proj.weight)`]);
  });

  for (const name of FIXTURE_NAMES) {
    it(`fixture ${name} with q8_0 weights: logits within ${Q8_0_LOGIT_TOLERANCE[name]} of the reference's, greedy tokens equal where the top-2 gap > ${DECISIVE_GAP}`, async () => {
      const dir = fixtureDir(name);
      const config = readConfig(dir);
      const model = new DeepseekV2Model(config, loadWeights(dir, config, undefined, (n, d, s) => backend.allocateWeight(n, d, s), { weights: 'q8_0' }), backend);
      const V = config.vocabSize;
      const newCache = () => new ContiguousLatentCache(config.numLayers, config.kvLoraRank, config.qkRopeHeadDim);
      let decisive = 0;
      for (const kase of loadExpected(name).cases) {
        const [logits] = await model.forward([{ cache: newCache(), tokens: kase.input_ids, logits: 'all' }]);
        kase.logits_positions.forEach((pos, r) => {
          const got = logits.subarray(pos * V, (pos + 1) * V);
          const diff = maxAbsDiff(got, kase.logits[r]);
          assert.ok(diff <= Q8_0_LOGIT_TOLERANCE[name], `${kase.name} position ${pos}: max |diff| ${diff}`);
          assert.ok(relativeRms(got, kase.logits[r]) < 0.05, `${kase.name} position ${pos}: relative rms ${relativeRms(got, kase.logits[r])}`);
        });
        // The reference's greedy continuation, fed back token by token, so every step is compared.
        const cache = newCache();
        let [last] = await model.forward([{ cache, tokens: kase.input_ids, logits: 'last' }]);
        for (const [step, token] of kase.greedy.new_tokens.entries()) {
          if (kase.greedy.step_top2_gap[step] > DECISIVE_GAP) {
            decisive++;
            assert.equal(argmax(last), token, `${kase.name} step ${step} (top-2 gap ${kase.greedy.step_top2_gap[step]})`);
          }
          [last] = await model.forward([{ cache, tokens: [token], logits: 'last' }]);
        }
      }
      assert.ok(decisive >= 8, `only ${decisive} decisive steps compared`);
    });
  }

  it('the default model with q4_k: greedy tokens equal bf16 ones wherever bf16 is decisive (top-2 gap > 0.3)', async () => {
    const prompts = ['import os\nimport ', 'def fibonacci(n):\n    ', 'for (let i = 0; i < n; i++) {\n  ', 'class Stack:\n    def __init__(self):\n        self.'];
    const bf16 = await Engine.load(defaultModelDir());
    const notes: string[] = [];
    const q4k = await Engine.load(defaultModelDir(), { weights: 'q4_k', onNote: (line) => notes.push(line) });
    try {
      let decisive = 0;
      let agreeing = 0;
      for (const prompt of prompts) {
        const ids = bf16.tokenizer!.encode(prompt, { addBos: bf16.tokenizer!.addBos });
        const [c16, c4] = [bf16.newCache(), q4k.newCache()];
        let [l16] = await bf16.model.forward([{ cache: c16, tokens: ids, logits: 'last' }]);
        let [l4] = await q4k.model.forward([{ cache: c4, tokens: ids, logits: 'last' }]);
        for (let step = 0; step < 12; step++) {
          const token = argmax(l16);
          const sorted = Array.from(l16).sort((a, b) => b - a);
          if (sorted[0] - sorted[1] > 0.3) {
            decisive++;
            if (argmax(l4) === token) agreeing++;
            else assert.fail(`"${prompt}" step ${step}: q4_k chose ${argmax(l4)}, bf16 ${token} (gap ${sorted[0] - sorted[1]})`);
          }
          [l16] = await bf16.model.forward([{ cache: c16, tokens: [token], logits: 'last' }]);
          [l4] = await q4k.model.forward([{ cache: c4, tokens: [token], logits: 'last' }]);
        }
      }
      assert.ok(decisive >= 24, `only ${decisive} of 48 steps were decisive`);
      assert.equal(agreeing, decisive);
      assert.equal(notes.length, 1);
      assert.match(notes[0], /^--weights q4_k: 59 of 173 linear weights kept unquantised, their rows not a multiple of 256 values/);
    } finally {
      bf16.dispose();
      q4k.dispose();
    }
  });

  it('latent generate --weights q8_0 runs; a bad --weights is a one-line usage error', async () => {
    const ok = spawnSync(process.execPath, [LATENT, 'generate', '--model', fixtureDir('full'), '--tokens', '0,5,7', '--max-tokens', '3', '--weights', 'q8_0'], { encoding: 'utf8' });
    assert.equal(ok.status, 0, ok.stderr);
    assert.equal((JSON.parse(ok.stdout) as { tokens: number[] }).tokens.length, 3);
    assert.match(ok.stderr, /^--weights q8_0: 38 of \d+ linear weights kept unquantised/m);
    const bad = spawnSync(process.execPath, [LATENT, 'logits', '--model', fixtureDir('lite'), '--tokens', '0,5', '--weights', 'q5_k'], { encoding: 'utf8' });
    assert.notEqual(bad.status, 0);
    assert.equal(bad.stderr.trim().split('\n').length, 1, bad.stderr);
    assert.match(bad.stderr, /logits: --weights must be one of q8_0, q4_k \(got "q5_k"\)/);
  });
});
