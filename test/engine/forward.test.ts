// The model against the reference's own logits (shared/fixtures): plain forward, traces, and greedy decoding
// through the latent cache.
import * as assert from 'node:assert/strict';
import { ContiguousLatentCache } from '../../engine/cache/latentCache';
import type { DeepseekV2Model, ForwardTrace } from '../../engine/model/deepseekV2';
import { ropeInvFreq, softmaxScale } from '../../engine/model/rope';
import { argmax, FIXTURE_NAMES, loadExpected, loadFixtureModel, maxAbsDiff } from './fixtureModel';

const TOL = 1e-4;

function newCache(model: DeepseekV2Model): ContiguousLatentCache {
  const c = model.config;
  return new ContiguousLatentCache(c.numLayers, c.kvLoraRank, c.qkRopeHeadDim);
}

for (const name of FIXTURE_NAMES) {
  describe(`DeepSeek-V2 forward: fixture ${name}`, function () {
    const expected = loadExpected(name);
    const model = loadFixtureModel(name);

    it('has the reference softmax scale and rope frequencies', async () => {
      assert.ok(Math.abs(softmaxScale(model.config) - expected.reference_internals.softmax_scale) < 1e-6);
      assert.ok(maxAbsDiff(ropeInvFreq(model.config), expected.reference_internals.rope_inv_freq) < 1e-7);
    });

    for (const kase of expected.cases) {
      it(`${kase.name}: logits within ${TOL} and argmax equal`, async () => {
        const [logits] = await model.forward([{ cache: newCache(model), tokens: kase.input_ids, logits: 'all' }]);
        const V = model.config.vocabSize;
        kase.logits_positions.forEach((pos, r) => {
          const row = logits.subarray(pos * V, (pos + 1) * V);
          const diff = maxAbsDiff(row, kase.logits[r]);
          assert.ok(diff <= TOL, `position ${pos}: max |diff| ${diff}`);
        });
        for (let pos = 0; pos < kase.seq_len; pos++) {
          if (kase.argmax_top2_gap[pos] > 1e-3) assert.equal(argmax(logits.subarray(pos * V, (pos + 1) * V)), kase.argmax[pos], `argmax at ${pos}`);
        }
      });

      it(`${kase.name}: greedy continuation through the latent cache`, async () => {
        const cache = newCache(model);
        let [logits] = await model.forward([{ cache, tokens: kase.input_ids, logits: 'last' }]);
        const out: number[] = [];
        for (let step = 0; step < kase.greedy.max_new_tokens; step++) {
          const next = argmax(logits);
          out.push(next);
          if (step === kase.greedy.max_new_tokens - 1) break;
          [logits] = await model.forward([{ cache, tokens: [next], logits: 'last' }], { attentionPath: 'absorbed' });
        }
        assert.deepEqual(out, kase.greedy.new_tokens);
        const diff = maxAbsDiff(logits, kase.greedy.last_step_logits);
        assert.ok(diff <= TOL, `last step logits max |diff| ${diff}`);
      });

      it(`${kase.name}: absorbed and naive attention agree within 1e-5`, async () => {
        const tokens = kase.input_ids.slice(0, 64);
        const [naive] = await model.forward([{ cache: newCache(model), tokens, logits: 'all' }], { attentionPath: 'naive' });
        const [absorbed] = await model.forward([{ cache: newCache(model), tokens, logits: 'all' }], { attentionPath: 'absorbed' });
        const diff = maxAbsDiff(naive, absorbed);
        assert.ok(diff <= 1e-5, `max |diff| ${diff}`);
      });

      if (kase.trace) {
        const trace = kase.trace;
        it(`${kase.name}: intermediates match the reference's hooks`, async () => {
          const t: ForwardTrace = { hiddenStates: [], attnOutputs: [], mlpOutputs: [], routings: [] };
          await model.forward([{ cache: newCache(model), tokens: kase.input_ids, logits: 'none' }], { trace: t });
          const flat = (m: number[][]) => m.flat();
          assert.equal(t.hiddenStates.length, trace.hidden_states.length);
          trace.hidden_states.forEach((hs, i) => assert.ok(maxAbsDiff(t.hiddenStates[i], flat(hs)) <= TOL, `hidden_states[${i}]`));
          trace.layers.forEach((layer, i) => {
            assert.ok(maxAbsDiff(t.attnOutputs[i], flat(layer.attn_output)) <= TOL, `layer ${i} attn_output`);
            assert.ok(maxAbsDiff(t.mlpOutputs[i], flat(layer.mlp_output)) <= TOL, `layer ${i} mlp_output`);
            if (layer.router_experts) {
              const routing = t.routings[i]!;
              const k = model.config.numExpertsPerTok;
              layer.router_experts.forEach((experts, tok) => {
                const pairs = Array.from({ length: k }, (_, j) => [routing.experts[tok * k + j], routing.weights[tok * k + j]] as const).sort((a, b) => a[0] - b[0]);
                assert.deepEqual(pairs.map((p) => p[0]), experts, `layer ${i} token ${tok} experts`);
                assert.ok(maxAbsDiff(pairs.map((p) => p[1]), layer.router_weights![tok]) <= 1e-5, `layer ${i} token ${tok} weights: ${maxAbsDiff(pairs.map((p) => p[1]), layer.router_weights![tok])}`);
              });
            }
          });
        });
      }
    }
  });
}
