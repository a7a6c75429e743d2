// The fast CPU backend (WASM SIMD kernels, worker threads) against the reference backend: the matmul on random
// inputs for every dtype and awkward shapes, every f16/bf16 bit pattern decoded exactly, both attentions,
// and through the whole model the fixtures' logits, greedy continuations and naive/absorbed agreement.
import * as assert from 'node:assert/strict';
import { ContiguousLatentCache, LatentChunk } from '../../engine/cache/latentCache';
import { CpuBackend } from '../../engine/backend/cpu/cpuBackend';
import { matmulRows } from '../../engine/backend/cpu/matmulKernel';
import type { DType } from '../../engine/weights/safetensors';
import { allocateTensor, Tensor } from '../../engine/weights/tensor';
import { signedUniform } from '../../engine/generate/seededRandom';
import { inputs, randomTensor } from './backendInputs';
import { checkFixtureLogits, FIXTURE_NAMES, loadExpected, loadFixtureModel, maxAbsDiff } from './fixtureModel';

const prng = signedUniform;


describe('CPU backend: WASM kernels and worker threads', function () {
  const backends: CpuBackend[] = [];
  before(async () => {
    // Every job of the 2-thread backend is split, however small, so the tiny fixtures exercise the workers too.
    // The WASM kernels, whatever the machine has: nativeKernels.test.ts checks the native ones against them.
    backends.push(await CpuBackend.create({ threads: 1, kernels: 'wasm' }), await CpuBackend.create({ threads: 2, minParallelWork: 0, kernels: 'wasm' }));
  });
  after(() => backends.forEach((b) => b.dispose()));

  for (const dtype of ['F32', 'F16', 'BF16'] as DType[]) {
    it(`${dtype} matmul equals the reference within f32 rounding, for any n and row count, 1 and 2 threads`, async () => {
      for (const [n, rows, cols] of [[1, 37, 64], [3, 64, 128], [5, 130, 256], [17, 9, 40], [1, 1, 8], [64, 100, 512]]) {
        const ref = randomTensor('w', dtype, [rows, cols], rows * 31 + cols);
        const x = Float32Array.from({ length: n * cols }, prng(n * 7 + cols));
        const want = new Float32Array(n * rows);
        matmulRows(want, x, n, ref, 0, rows);
        for (const backend of backends) {
          const w = backend.adoptWeight(ref);
          assert.notEqual(w, ref, 'adopted into the arena');
          const got = new Float32Array(n * rows).fill(NaN);
          backend.matmul(got, x, n, w);
          // f32 accumulation of `cols` products of magnitude <= 1.
          const diff = maxAbsDiff(got, want);
          assert.ok(diff <= cols * 2 ** -22, `${backend.name} n=${n} rows=${rows} cols=${cols}: max |diff| ${diff}`);
        }
      }
    });
  }

  for (const dtype of ['F16', 'BF16'] as DType[]) {
    it(`${dtype}: every one of the 65,536 bit patterns is decoded exactly`, async () => {
      // W holds all patterns as [8192, 8]; x is the 8x8 identity, so out[c, r] = W[r, c] (0·inf is NaN in both).
      const { tensor } = allocateTensor('all', dtype, [8192, 8]);
      for (let i = 0; i < 65536; i++) tensor.data[i] = i;
      const x = new Float32Array(64);
      for (let c = 0; c < 8; c++) x[c * 8 + c] = 1;
      const want = new Float32Array(8 * 8192);
      matmulRows(want, x, 8, tensor, 0, 8192);
      for (const backend of backends) {
        const got = new Float32Array(8 * 8192);
        backend.matmul(got, x, 8, backend.adoptWeight(tensor));
        for (let i = 0; i < got.length; i++) {
          const same = got[i] === want[i] || (Number.isNaN(got[i]) && Number.isNaN(want[i]));
          if (!same) assert.fail(`${backend.name}: output ${i} is ${got[i]}, expected ${want[i]}`);
        }
      }
    });
  }

  it('F16 weights without inf/nan (the fast decode): every finite bit pattern is decoded exactly', async () => {
    // The 63,488 finite patterns as [7936, 8]; x is the 8x8 identity, so out[c, r] = W[r, c].
    const { tensor } = allocateTensor('finite', 'F16', [7936, 8]);
    let k = 0;
    for (let i = 0; i < 65536; i++) if ((i & 0x7c00) !== 0x7c00) tensor.data[k++] = i;
    const x = new Float32Array(64);
    for (let c = 0; c < 8; c++) x[c * 8 + c] = 1;
    const want = new Float32Array(8 * 7936);
    matmulRows(want, x, 8, tensor, 0, 7936);
    for (const backend of backends) {
      const got = new Float32Array(8 * 7936);
      backend.matmul(got, x, 8, backend.adoptWeight(tensor));
      for (let i = 0; i < got.length; i++) if (got[i] !== want[i]) assert.fail(`${backend.name}: output ${i} is ${got[i]}, expected ${want[i]}`);
    }
  });

  /** Latent attention on random inputs, every backend against the double-precision reference. */
  function checkLatentAttention(r: number, dr: number, length: number, rows: number, chunkSize: number): void {
    const reference = new CpuBackend();
    const rand = prng(5);
    const chunks: LatentChunk[] = [];
    for (let start = 0; start < length; start += chunkSize) {
      const count = Math.min(chunkSize, length - start);
      chunks.push({ start, count, cKv: Float32Array.from({ length: count * r }, rand), kPe: Float32Array.from({ length: count * dr }, rand) });
    }
    const qLat = Float32Array.from({ length: rows * r }, rand);
    const qPe = Float32Array.from({ length: rows * dr }, rand);
    const visible = Int32Array.from({ length: rows }, (_, i) => (i === 0 ? 1 : length - (i % 5) * 13));
    const attend = (b: CpuBackend) => {
      const out = new Float32Array(rows * r).fill(NaN);
      b.attendLatentRows({ out, qLat, qPe, rows, visible, latents: chunks, kvLoraRank: r, ropeDim: dr, scale: 0.3 });
      return out;
    };
    const want = attend(reference);
    for (const backend of backends) {
      const diff = maxAbsDiff(attend(backend), want);
      assert.ok(diff <= 1e-5, `${backend.name}: max |diff| ${diff}`);
    }
  }

  it('latent attention equals the reference: several chunks, causal limits, 1 and 2 threads', async () => {
    checkLatentAttention(64, 16, 150, 12, 40);
  });

  it('latent attention equals the reference when the query rows must go through the scratch area in groups', async () => {
    // 100,000 latent rows and 96 query rows need more than the 64 MiB scratch area at once.
    checkLatentAttention(64, 16, 100_000, 96, 4000);
  });

  it('latent attention equals the reference when the latents alone overflow the scratch area (segments combined)', async () => {
    // 40,000 tokens of V2-Lite's 512 + 64 latent rows are 92 MB, beyond the 64 MiB scratch area; pages of 16 and
    // one contiguous chunk both.
    checkLatentAttention(512, 64, 40_000, 5, 16);
    checkLatentAttention(512, 64, 40_000, 3, 40_000);
  });

  it('per-head matmuls equal the reference: one job over evenly spaced heads, and head by head otherwise, n = 1 and 3', async () => {
    const reference = new CpuBackend();
    const [H, o, din, stride, offset] = [5, 24, 16, 40, 8];
    const heads = Array.from({ length: H }, (_, h) => randomTensor(`w${h}`, 'F16', [o, din], 40 + h));
    for (const backend of backends) {
      const even = heads.map((t) => backend.adoptWeight(t));
      // Another weight between heads 2 and 3 breaks the even spacing: those calls go head by head.
      const uneven = heads.map((t, h) => (h === 3 && backend.adoptWeight(randomTensor('gap', 'F32', [8, 8], 1)), backend.adoptWeight(t)));
      for (const n of [1, 3]) {
        const want = await reference.read(reference.linearPerHead(inputs([reference], n, H * stride, 3)[0], heads, stride, offset));
        for (const [how, ws] of [['evenly spaced', even], ['unevenly spaced', uneven]] as const) {
          const got = await backend.read(backend.linearPerHead(inputs([backend], n, H * stride, 3)[0], ws, stride, offset));
          assert.ok(maxAbsDiff(got, want) <= 1e-5, `${backend.name}, ${how}, n = ${n}: max |diff| ${maxAbsDiff(got, want)}`);
        }
      }
    }
  });

  it('routed experts equal the reference: in the scratch area, and by the general path for an expert whose weights are not all in the arena', async () => {
    const reference = new CpuBackend();
    const [n, D, I, E] = [37, 48, 40, 5];
    const experts = Array.from({ length: E }, (_, e) => ({
      gate: randomTensor(`g${e}`, 'F16', [I, D], 10 + e), up: randomTensor(`u${e}`, 'F16', [I, D], 20 + e), down: randomTensor(`d${e}`, 'F16', [D, I], 30 + e),
    }));
    const spec = { topK: 2, method: 'greedy' as const, nGroup: 1, topkGroup: 1, normTopkProb: false, routedScalingFactor: 1 };
    const run = (b: CpuBackend, adopt: (t: Tensor, e: number) => Tensor) => {
      const [x, logits] = [inputs([b], n, D, 1)[0], inputs([b], n, E, 2)[0]];
      const ws = experts.map((w, e) => ({ gate: adopt(w.gate, e), up: adopt(w.up, e), down: adopt(w.down, e) }));
      return b.read(b.routedExperts(x, b.route(logits, spec), ws));
    };
    const want = await run(reference, (t) => t);
    for (const backend of backends) {
      for (const [how, adopt] of [
        ['every expert in the scratch area', (t: Tensor) => backend.adoptWeight(t)],
        // Expert 3's up stays a host tensor: that expert takes the general path (linear), the rest the scratch.
        ['expert 3 on the general path', (t: Tensor, e: number) => (e === 3 && t.name.startsWith('u') ? t : backend.adoptWeight(t))],
      ] as const) {
        const diff = maxAbsDiff(await run(backend, adopt), want);
        assert.ok(diff <= 1e-5, `${backend.name}, ${how}: max |diff| ${diff}`);
      }
    }
  });

  it('head attention equals the reference: queries after a cached prefix, 1 and 2 threads', async () => {
    const reference = new CpuBackend();
    const [H, nopeDim, ropeDim, vDim, n, pos0] = [3, 16, 8, 16, 37, 50];
    const length = pos0 + n;
    const rand = prng(9);
    const q = Float32Array.from({ length: n * H * (nopeDim + ropeDim) }, rand);
    const kv = Float32Array.from({ length: length * H * (nopeDim + vDim) }, rand);
    const kPe = Float32Array.from({ length: length * ropeDim }, rand);
    const visible = Int32Array.from({ length: n }, (_, j) => pos0 + j + 1);
    const attend = (b: CpuBackend) => {
      const out = new Float32Array(n * H * vDim).fill(NaN);
      b.attendHeadRows({ out, q, kv, kPe, n, heads: H, length, nopeDim, ropeDim, vDim, visible, scale: 0.2 });
      return out;
    };
    const want = attend(reference);
    for (const backend of backends) {
      const diff = maxAbsDiff(attend(backend), want);
      assert.ok(diff <= 1e-5, `${backend.name}: max |diff| ${diff}`);
    }
  });

  for (const name of FIXTURE_NAMES) {
    it(`fixture ${name}: absorbed and naive attention agree within 1e-5, on 2 threads`, async () => {
      const model = loadFixtureModel(name, backends[1]);
      const newCache = () => new ContiguousLatentCache(model.config.numLayers, model.config.kvLoraRank, model.config.qkRopeHeadDim);
      for (const kase of loadExpected(name).cases) {
        const tokens = kase.input_ids.slice(0, 64);
        const [naive] = await model.forward([{ cache: newCache(), tokens, logits: 'all' }], { attentionPath: 'naive' });
        const [absorbed] = await model.forward([{ cache: newCache(), tokens, logits: 'all' }], { attentionPath: 'absorbed' });
        const diff = maxAbsDiff(naive, absorbed);
        assert.ok(diff <= 1e-5, `${kase.name}: max |diff| ${diff}`);
      }
    });

    it(`fixture ${name}: logits within 1e-4 and the greedy continuation, on 2 threads`, async () => {
      await checkFixtureLogits(name, backends[1]);
    });
  }
});
