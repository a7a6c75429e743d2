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

      it(`${kase.name}: a batch of 'all', 'last' and 'none' items (the last layer on the rows asked for only) equals the rows of one plain forward`, async () => {
        const tokens = kase.input_ids.slice(0, 40);
        const V = model.config.vocabSize, L = tokens.length, a = Math.ceil(L / 2), c = L - 1;
        const [alone] = await model.forward([{ cache: newCache(model), tokens, logits: 'all' }]);
        const caches = [newCache(model), newCache(model), newCache(model)];
        const batch = await model.forward([
          { cache: caches[0], tokens: tokens.slice(0, a), logits: 'last' },
          { cache: caches[1], tokens, logits: 'none' },
          { cache: caches[2], tokens: tokens.slice(0, c), logits: 'all' },
        ]);
        assert.ok(maxAbsDiff(batch[0], alone.subarray((a - 1) * V, a * V)) <= 1e-5, "the 'last' item's row");
        assert.equal(batch[1].length, 0);
        assert.ok(maxAbsDiff(batch[2], alone.subarray(0, c * V)) <= 1e-5, "the 'all' item's rows");
        // Every item's latents were written in every layer, the last included: one more token continues each alike.
        const next = [{ cache: caches[0], n: a }, { cache: caches[1], n: L }, { cache: caches[2], n: c }];
        for (const { cache, n } of next) {
          const fresh = newCache(model);
          const [want] = await model.forward([{ cache: fresh, tokens: [...tokens.slice(0, n), tokens[0]], logits: 'last' }]);
          const [got] = await model.forward([{ cache, tokens: [tokens[0]], logits: 'last' }]);
          assert.ok(maxAbsDiff(got, want) <= 1e-5, `continuing the item of ${n} tokens: ${maxAbsDiff(got, want)}`);
        }
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
