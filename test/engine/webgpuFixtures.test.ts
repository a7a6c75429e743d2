// The model on the WebGPU backend against the reference's own logits (shared/fixtures) and against the CPU
// backend: every f32 fixture within 1e-4 of expected.json, greedy continuations equal to the reference's and the
// CPU's, absorbed = naive within 1e-5, and the router's choices equal to the reference's hooks.
import * as assert from 'node:assert/strict';
import { ContiguousLatentCache } from '../../engine/cache/latentCache';
import type { DeepseekV2Model, ForwardTrace } from '../../engine/model/deepseekV2';
import type { WebGpuBackend } from '../../engine/backend/webgpu/webGpuBackend';
import { argmax, FIXTURE_NAMES, loadExpected, loadFixtureModel, maxAbsDiff } from './fixtureModel';
import { webgpuOrSkip } from './webgpuAdapter';

const TOL = 1e-4;

function newCache(model: DeepseekV2Model): ContiguousLatentCache {
  const c = model.config;
  return new ContiguousLatentCache(c.numLayers, c.kvLoraRank, c.qkRopeHeadDim);
}

for (const name of FIXTURE_NAMES) {
  describe(`webgpu forward: fixture ${name}`, function () {
    this.timeout(300_000);
    const expected = loadExpected(name);
    let backend: WebGpuBackend;
    let model: DeepseekV2Model;

    before(async function () {
      backend = await webgpuOrSkip(this);
      model = loadFixtureModel(name, backend);
      await backend.settle();
    });
    after(() => backend?.dispose());

    for (const kase of expected.cases) {
      it(`${kase.name}: logits within ${TOL} of the reference, argmax equal`, async () => {
        const [logits] = await model.forward([{ cache: newCache(model), tokens: kase.input_ids, logits: 'all' }]);
        const V = model.config.vocabSize;
        kase.logits_positions.forEach((pos, r) => {
          const diff = maxAbsDiff(logits.subarray(pos * V, (pos + 1) * V), kase.logits[r]);
          assert.ok(diff <= TOL, `position ${pos}: max |diff| ${diff}`);
        });
        for (let pos = 0; pos < kase.seq_len; pos++) {
          if (kase.argmax_top2_gap[pos] > 1e-3) assert.equal(argmax(logits.subarray(pos * V, (pos + 1) * V)), kase.argmax[pos], `argmax at ${pos}`);
        }
      });

      it(`${kase.name}: greedy continuation through the latent cache equals the reference's`, async () => {
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
        it(`${kase.name}: intermediates and routing match the reference's hooks`, async () => {
          const t: ForwardTrace = { hiddenStates: [], attnOutputs: [], mlpOutputs: [], routings: [] };
          await model.forward([{ cache: newCache(model), tokens: kase.input_ids, logits: 'none' }], { trace: t });
          trace.hidden_states.forEach((hs, i) => assert.ok(maxAbsDiff(t.hiddenStates[i], hs.flat()) <= TOL, `hidden_states[${i}]`));
          trace.layers.forEach((layer, i) => {
            assert.ok(maxAbsDiff(t.attnOutputs[i], layer.attn_output.flat()) <= TOL, `layer ${i} attn_output`);
            assert.ok(maxAbsDiff(t.mlpOutputs[i], layer.mlp_output.flat()) <= TOL, `layer ${i} mlp_output`);
            if (layer.router_experts) {
              const routing = t.routings[i]!;
              const k = model.config.numExpertsPerTok;
              layer.router_experts.forEach((experts, tok) => {
                const pairs = Array.from({ length: k }, (_, j) => [routing.experts[tok * k + j], routing.weights[tok * k + j]] as const).sort((a, b) => a[0] - b[0]);
                assert.deepEqual(pairs.map((p) => p[0]), experts, `layer ${i} token ${tok} experts`);
                assert.ok(maxAbsDiff(pairs.map((p) => p[1]), layer.router_weights![tok]) <= 1e-5, `layer ${i} token ${tok} weights`);
              });
            }
          });
        });
      }
    }
  });
}
