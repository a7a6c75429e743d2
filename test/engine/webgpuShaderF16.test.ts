// f16 weights on both of the WebGPU backend's paths, on one adapter: native f16 reads (`shader-f16`) and the
// u32-word fallback (shader-f16 forced off, as on an adapter without it). On each: every op that reads weights
// against the CPU backend on the same f16 weights (row starts and widths on and off the 4-wide vector reads), and
// the fixture models with their weights rounded to f16: logits equal the CPU's on the same weights (1e-4) and stay
// within 0.05 of the f32 reference (webgpuEngine.test.ts's documented tolerance), greedy tokens equal the CPU's,
// and the reference's where its top-2 gap is large.
import * as assert from 'node:assert/strict';
import type { Activation, Backend, RouterSpec } from '../../engine/backend/backend';
import { CpuBackend } from '../../engine/backend/cpu/cpuBackend';
import { WebGpuBackend } from '../../engine/backend/webgpu/webGpuBackend';
import { ContiguousLatentCache } from '../../engine/cache/latentCache';
import { DeepseekV2Model } from '../../engine/model/deepseekV2';
import { encodeF16 } from '../../engine/weights/halfPrecision';
import { loadWeights, readConfig } from '../../engine/weights/modelFolder';
import { allocateTensor, Tensor } from '../../engine/weights/tensor';
import { inputs, randomTensor } from './backendInputs';
import { argmax, fixtureDir, loadExpected, maxAbsDiff } from './fixtureModel';
import { webgpuOrSkip } from './webgpuAdapter';

/** Every weight of a fixture rounded to f16 (norms and the router included, as the engine test does). */
function f16Weights(name: string): { model: (backend: Backend) => DeepseekV2Model } {
  const dir = fixtureDir(name);
  const config = readConfig(dir);
  const weights = new Map([...loadWeights(dir, config)].map(([k, t]) => {
    const { tensor } = allocateTensor(t.name, 'F16', t.shape);
    encodeF16(t.data as Float32Array, tensor.data as Uint16Array);
    return [k, tensor] as [string, Tensor];
  }));
  return { model: (backend) => new DeepseekV2Model(config, weights, backend) };
}

function topTwoGap(logits: Float32Array): number {
  const best = argmax(logits);
  let second = -Infinity;
  logits.forEach((v, i) => {
    if (i !== best && v > second) second = v;
  });
  return logits[best] - second;
}

/** A prompt's logits at every position, then greedy decoding through the latent cache (absorbed: the GEMV path). */
async function run(model: DeepseekV2Model, prompt: number[], steps: number): Promise<{ logits: Float32Array; tokens: number[]; stepLogits: Float32Array[] }> {
  const c = model.config;
  const cache = new ContiguousLatentCache(c.numLayers, c.kvLoraRank, c.qkRopeHeadDim);
  const [logits] = await model.forward([{ cache, tokens: prompt, logits: 'all' }]);
  const V = c.vocabSize;
  let last: Float32Array = logits.slice(logits.length - V);
  const tokens: number[] = [], stepLogits: Float32Array[] = [];
  for (let step = 0; step < steps; step++) {
    const next = argmax(last);
    tokens.push(next);
    stepLogits.push(last);
    if (step === steps - 1) break;
    [last] = await model.forward([{ cache, tokens: [next], logits: 'last' }], { attentionPath: 'absorbed' });
  }
  return { logits, tokens, stepLogits };
}

const FIXTURES = ['lite', 'full'] as const;
/** The CPU's runs on the f16 weights, shared by both paths. */
const cpuRuns = new Map<string, Promise<Awaited<ReturnType<typeof run>>>>();

for (const shaderF16 of [true, false]) {
  describe(`webgpu f16 weights, ${shaderF16 ? 'native f16 reads (shader-f16)' : 'u32-word fallback (shader-f16 forced off)'}`, function () {
    this.timeout(300_000);
    let gpu: WebGpuBackend;
    const cpu = new CpuBackend();
    let both: Backend[];

    before(async function () {
      gpu = await webgpuOrSkip(this, { shaderF16 });
      if (shaderF16 && !gpu.runtime.hasShaderF16) {
        console.log('      (skipped: the adapter lacks shader-f16)');
        gpu.dispose();
        this.skip();
      }
      both = [cpu, gpu];
    });
    after(() => gpu?.dispose());
    afterEach(() => both?.forEach((b) => b.endStep()));

    async function agree(what: string, acts: Activation[], tol: number): Promise<void> {
      const [want, got] = await Promise.all(acts.map((a, i) => both[i].read(a)));
      const diff = maxAbsDiff(got, want);
      assert.ok(diff <= tol, `${what}: max |gpu - cpu| ${diff} > ${tol}`);
    }

    it(`the device has shader-f16 ${shaderF16 ? 'on' : 'off'} as asked, and says so`, () => {
      assert.equal(gpu.runtime.hasShaderF16, shaderF16);
      assert.equal(/shader-f16/.test(gpu.info().device), shaderF16);
    });

    if (!shaderF16) {
      it('LATENT_WEBGPU_SHADER_F16=0 turns shader-f16 off for a backend created without the option', async () => {
        const before = process.env.LATENT_WEBGPU_SHADER_F16;
        process.env.LATENT_WEBGPU_SHADER_F16 = '0';
        try {
          const other = await WebGpuBackend.create();
          assert.equal(other.runtime.hasShaderF16, false);
          other.dispose();
        } finally {
          if (before === undefined) delete process.env.LATENT_WEBGPU_SHADER_F16;
          else process.env.LATENT_WEBGPU_SHADER_F16 = before;
        }
      });
    }

    it('linear: GEMV (1-4 rows) and tiled GEMM (5-130 rows), widths multiples of 4, of 2 only, and odd', async () => {
      for (const [n, rows, cols] of [[1, 37, 64], [4, 64, 130], [1, 9, 41], [3, 20, 256], [5, 130, 256], [70, 100, 66], [130, 65, 33], [1, 1, 8]]) {
        const w = randomTensor(`w f16 ${rows}x${cols}`, 'F16', [rows, cols], rows * 31 + cols);
        const xs = inputs(both, n, cols, n * 7 + cols);
        await agree(`linear f16 n=${n} [${rows}, ${cols}]`, xs.map((x, i) => both[i].linear(x, both[i].adoptWeight(w))), cols * 2 ** -21);
      }
    });

    it('linearPerHead over stacks of f16 matrices (heads on and off 4-element starts), 1 and 6 rows', async () => {
      for (const n of [1, 6]) {
        for (const [o, r] of [[20, 32], [7, 10], [5, 9]]) {
          const H = 3;
          const ws = Array.from({ length: H }, (_, h) => randomTensor(`uv ${o}x${r} ${h}`, 'F16', [o, r], 200 + h + o));
          const xs = inputs(both, n, H * r, 19 + n + o);
          await agree(`linearPerHead f16 [${o}, ${r}] n=${n}`, xs.map((x, i) => both[i].linearPerHead(x, ws.map((w) => both[i].adoptWeight(w)), r, 0)), r * 2 ** -21);
        }
      }
    });

    it('routedExperts over f16 experts: GEMVs per pair (1, 9 tokens) and grouped GEMMs (200 tokens)', async () => {
      const spec: RouterSpec = { topK: 3, method: 'greedy', nGroup: 1, topkGroup: 1, normTopkProb: false, routedScalingFactor: 1 };
      for (const [D, inter] of [[24, 12], [26, 14], [25, 13]]) {
        const E = 8;
        const experts = Array.from({ length: E }, (_, e) => ({
          gate: randomTensor(`g${e}`, 'F16', [inter, D], 10 + e), up: randomTensor(`u${e}`, 'F16', [inter, D], 30 + e), down: randomTensor(`d${e}`, 'F16', [D, inter], 50 + e),
        }));
        for (const n of [1, 9, 200]) {
          const xs = inputs(both, n, D, 70 + n), logits = inputs(both, n, E, 80 + n, 3);
          const adopted = both.map((b) => experts.map((e) => ({ gate: b.adoptWeight(e.gate), up: b.adoptWeight(e.up), down: b.adoptWeight(e.down) })));
          await agree(`routedExperts f16 [${inter}, ${D}] n=${n}`, xs.map((x, i) => both[i].routedExperts(x, both[i].route(logits[i], spec), adopted[i])), 1e-5);
        }
      }
    });

    it('embed (exact) and rmsNorm over f16 tables and norm weights', async () => {
      for (const cols of [19, 20]) {
        const table = randomTensor(`embed f16 ${cols}`, 'F16', [50, cols], 3);
        const ids = Int32Array.of(4, 0, 49, 4, 17);
        await agree(`embed f16 [50, ${cols}]`, both.map((b) => b.embed(b.adoptWeight(table), ids)), 0);
      }
      const weight = randomTensor('norm f16', 'F16', [30], 5);
      const xs = inputs(both, 7, 40, 77);
      await agree('rmsNorm f16', xs.map((x, i) => both[i].rmsNorm(x, both[i].adoptWeight(weight), 1e-6, 3, 30)), 1e-5);
    });

    for (const name of FIXTURES) {
      it(`fixture ${name} with f16 weights: logits equal the CPU's (1e-4), within 0.05 of the f32 reference; greedy tokens equal`, async () => {
        const weights = f16Weights(name);
        const model = weights.model(gpu);
        const V = model.config.vocabSize;
        for (const kase of loadExpected(name).cases) {
          const steps = kase.greedy.max_new_tokens;
          const key = `${name}/${kase.name}`;
          if (!cpuRuns.has(key)) cpuRuns.set(key, run(weights.model(cpu), kase.input_ids, steps));
          const want = await cpuRuns.get(key)!;
          const got = await run(model, kase.input_ids, steps);
          assert.ok(maxAbsDiff(got.logits, want.logits) <= 1e-4, `${key}: prompt logits gpu vs cpu ${maxAbsDiff(got.logits, want.logits)}`);
          kase.logits_positions.forEach((pos, r) => {
            const diff = maxAbsDiff(got.logits.subarray(pos * V, (pos + 1) * V), kase.logits[r]);
            assert.ok(diff <= 0.05, `${key} position ${pos}: ${diff} from the f32 reference`);
          });
          for (let pos = 0; pos < kase.seq_len; pos++) {
            if (kase.argmax_top2_gap[pos] > 0.5) assert.equal(argmax(got.logits.subarray(pos * V, (pos + 1) * V)), kase.argmax[pos], `${key} argmax at ${pos}`);
          }
          // Decoding: the CPU's tokens on the same weights (until a step too close to call), the reference's until
          // its first step with a top-2 gap under 0.5 (where f16 rounding may flip the choice).
          for (let step = 0; step < steps; step++) {
            assert.ok(maxAbsDiff(got.stepLogits[step], want.stepLogits[step]) <= 1e-4, `${key} step ${step}: logits gpu vs cpu`);
            assert.equal(got.tokens[step], want.tokens[step], `${key} step ${step}: token`);
            if (topTwoGap(want.stepLogits[step]) < 1e-3) break;
          }
          for (let step = 0; step < steps && kase.greedy.step_top2_gap[step] > 0.5; step++) {
            assert.equal(got.tokens[step], kase.greedy.new_tokens[step], `${key} step ${step}: the reference's token`);
          }
        }
      });
    }
  });
}
