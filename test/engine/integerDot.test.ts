// The WASM integer-dot kernels over quantised weights and quantised activations (quantDotWat.ts): against the
// TypeScript reference of the same integer arithmetic (quantiseActivations.ts), and the whole quantised-activation
// matmul against the f32-activation reference within the error that quantising the activations allows. (The
// native kernels are held bit-identical to these in nativeKernels.test.ts.)
import * as assert from 'node:assert/strict';
import { CpuBackend } from '../../engine/backend/cpu/cpuBackend';
import { matmulRows } from '../../engine/backend/cpu/matmulKernel';
import { mulberry32, signedUniform } from '../../engine/generate/seededRandom';
import { GGML_TYPES, QuantDType, rowBytes } from '../../engine/weights/ggmlTypes';
import { quantiseRow } from '../../engine/weights/quantise';
import { ACTIVATION_QUANT_OF, dequantiseActivationRow, DotWeightDType, dotRowReference, quantiseActivations, quantisedRowBytes } from '../../engine/weights/quantiseActivations';
import { NormalStream } from '../../engine/weights/seededNormal';
import { allocateTensor, Tensor, toF32 } from '../../engine/weights/tensor';

const QUANT_TYPES: DotWeightDType[] = ['Q8_0', 'Q4_0', 'Q5_0', 'Q4_K', 'Q5_K', 'Q6_K'];
const SHAPES: [number, number, number][] = [[1, 37, 256], [1, 64, 2048], [2, 9, 512], [9, 33, 512], [17, 8, 256], [64, 100, 1024]];

function quantisedTensor(dtype: QuantDType, rows: number, cols: number, seed: number): Tensor {
  const values = new Float32Array(rows * cols);
  new NormalStream([seed]).fill(values, 0, 1);
  const { tensor, bytes } = allocateTensor(`w${seed}`, dtype, [rows, cols]);
  quantiseRow(dtype, values, bytes);
  return tensor;
}

/** A tensor of random bytes (every field arbitrary; the f16 scales finite). */
function randomBytesTensor(dtype: DotWeightDType, rows: number, cols: number, seed: number): Tensor {
  const { tensor } = allocateTensor('random bytes', dtype, [rows, cols]);
  const next = mulberry32(seed);
  const bytes = tensor.data as Uint8Array;
  for (let i = 0; i < bytes.length; i++) bytes[i] = Math.floor(next() * 256);
  const { blockBytes } = GGML_TYPES[dtype];
  const halves = { Q8_0: [0], Q4_0: [0], Q5_0: [0], Q4_K: [0, 2], Q5_K: [0, 2], Q6_K: [208] }[dtype];
  // Finite and small enough that no product overflows f32.
  for (let b = 0; b < bytes.length; b += blockBytes) for (const h of halves) bytes[b + h + 1] &= 0x3f;
  return tensor;
}

/** The reference integer-dot matmul, and Σ|terms| per output (the scale of f32 summation-order differences). */
function referenceDot(dtype: DotWeightDType, x: Float32Array, n: number, w: Tensor): { want: Float32Array; magnitude: Float32Array } {
  const [rows, cols] = w.shape;
  const format = ACTIVATION_QUANT_OF[dtype];
  const stride = quantisedRowBytes(format, cols);
  const xq = new Uint8Array(n * stride);
  quantiseActivations(format, x, n, cols, xq);
  const bytes = w.data as Uint8Array;
  const want = new Float32Array(n * rows), magnitude = new Float32Array(n * rows);
  for (let t = 0; t < n; t++) {
    for (let r = 0; r < rows; r++) {
      want[t * rows + r] = dotRowReference(dtype, bytes, r * rowBytes(dtype, cols), xq, t * stride, cols);
      magnitude[t * rows + r] = dotRowReference(dtype, bytes, r * rowBytes(dtype, cols), xq, t * stride, cols, true);
    }
  }
  return { want, magnitude };
}

describe('CPU backend: integer-dot matmul over quantised weights and activations', function () {
  const backends: CpuBackend[] = [];
  before(async () => {
    const kernels = 'wasm';
    backends.push(await CpuBackend.create({ threads: 1, integerDot: true, kernels }), await CpuBackend.create({ threads: 2, minParallelWork: 0, integerDot: true, kernels }));
  });
  after(() => backends.forEach((b) => b.dispose()));

  // The routed experts run gate, up and down in the bank's scratch area, with x quantised once for gate and up:
  // the same kernels on the same inputs as the expert-by-expert composition of linear and siluMul, so bit for bit.
  for (const [recipe, types] of [
    ['Q4_K gate/up, Q5_0 down (the Q4_K recipe for 1408-wide experts)', ['Q4_K', 'Q4_K', 'Q5_0']],
    ['Q8_0 gate, Q6_K up (x quantised two ways), Q4_K down', ['Q8_0', 'Q6_K', 'Q4_K']],
  ] as const) {
    it(`routed experts over ${recipe}: the scratch path equals linear·siluMul·linear expert by expert, bit for bit`, async () => {
      const [n, D, E, k] = [29, 256, 4, 2];
      const I = types[2] === 'Q5_0' ? 96 : 256;
      const experts = Array.from({ length: E }, (_, e) => ({
        gate: quantisedTensor(types[0], I, D, 10 + e), up: quantisedTensor(types[1], I, D, 20 + e), down: quantisedTensor(types[2], D, I, 30 + e),
      }));
      const spec = { topK: k, method: 'greedy' as const, nGroup: 1, topkGroup: 1, normTopkProb: false, routedScalingFactor: 1 };
      for (const b of backends) {
        const ws = experts.map((w) => ({ gate: b.adoptWeight(w.gate), up: b.adoptWeight(w.up), down: b.adoptWeight(w.down) }));
        const rows = (data: Float32Array, count: number, cols: number) => {
          const { tensor } = allocateTensor('rows', 'F32', [count, cols]);
          new Float32Array(tensor.data.buffer, tensor.data.byteOffset, count * cols).set(data);
          return b.embed(b.adoptWeight(tensor), Int32Array.from({ length: count }, (_, i) => i));
        };
        const xs = Float32Array.from({ length: n * D }, signedUniform(71));
        const x = rows(xs, n, D);
        const routing = b.route(rows(Float32Array.from({ length: n * E }, signedUniform(72)), n, E), spec);
        const got = await b.read(b.routedExperts(x, routing, ws));
        const { experts: chosen, weights } = await b.readRouting(routing);
        const want = new Float32Array(n * D);
        for (let e = 0; e < E; e++) {
          const slots = [...chosen.keys()].filter((s) => chosen[s] === e);
          if (slots.length === 0) continue;
          const tokens = slots.map((s) => Math.floor(s / k));
          const xe = rows(Float32Array.from(tokens.flatMap((t) => [...xs.subarray(t * D, (t + 1) * D)])), tokens.length, D);
          const y = await b.read(b.linear(b.siluMul(b.linear(xe, ws[e].gate), b.linear(xe, ws[e].up)), ws[e].down));
          tokens.forEach((t, i) => {
            for (let d = 0; d < D; d++) want[t * D + d] += y[i * D + d] * weights[slots[i]];
          });
        }
        for (let i = 0; i < want.length; i++) if (!Object.is(got[i], want[i])) assert.fail(`${b.name}: out ${i} is ${got[i]}, the composition's ${want[i]}`);
      }
    });
  }

  for (const dtype of QUANT_TYPES) {
    // The K-quants fold each super-block in scalar f32 as the reference does (bit-exact); Q8_0/Q4_0/Q5_0 sum their
    // blocks' f32 terms in four lanes, then across the lanes: within cols/32 roundings of Σ|terms|.
    const exact = dtype.endsWith('_K');
    it(`${dtype}: the kernel equals the TypeScript integer-dot reference${exact ? ' exactly' : ' within f32 summation error'}, n = 1 and n > 8, 1 and 2 threads`, () => {
      const cases: [Tensor, number][] = SHAPES.map(([n, rows, cols]) => [quantisedTensor(dtype, rows, cols, rows * 7 + cols), n]);
      cases.push([randomBytesTensor(dtype, 12, 512, dtype.charCodeAt(1) * 31), 3]);
      for (const [w, n] of cases) {
        const [rows, cols] = w.shape;
        const x = Float32Array.from({ length: n * cols }, signedUniform(n * 13 + cols));
        x[5] = 0; // a zero value, and (below) an all-zero token
        if (n > 2) x.fill(0, cols, 2 * cols);
        const { want, magnitude } = referenceDot(dtype, x, n, w);
        for (const backend of backends) {
          const got = new Float32Array(n * rows).fill(NaN);
          backend.matmul(got, x, n, backend.adoptWeight(w));
          for (let i = 0; i < got.length; i++) {
            const bound = exact ? 0 : magnitude[i] * 2 ** -24 * (cols / 32 + 4);
            if (!(Math.abs(got[i] - want[i]) <= bound)) assert.fail(`${backend.name} n=${n} rows=${rows} cols=${cols} out ${i}: ${got[i]} vs ${want[i]} (bound ${bound})`);
          }
        }
      }
    });

    it(`${dtype}: quantised activations stay within their rounding (0.57·d per value) of the f32-activation reference`, () => {
      for (const [n, rows, cols] of SHAPES) {
        const w = quantisedTensor(dtype, rows, cols, rows + 3 * cols);
        const x = Float32Array.from({ length: n * cols }, signedUniform(n + 5 * cols));
        const want = new Float32Array(n * rows);
        matmulRows(want, x, n, w, 0, rows);
        const format = ACTIVATION_QUANT_OF[dtype];
        const stride = quantisedRowBytes(format, cols);
        const xq = new Uint8Array(n * stride);
        quantiseActivations(format, x, n, cols, xq);
        // The bound: Σ_i |W_ri|·|x_ti - x̂_ti|, with |x - x̂| ≤ d/2 + 127·d·2^-11 (Q8_0's f16 scale) ≤ 0.57·d,
        // plus f32 summation slack; the test checks the actual rounding stays within it, too.
        const wf = toF32(w);
        const block = format === 'Q8_0' ? 32 : 256;
        let worstRelative = 0;
        const got = new Float32Array(n * rows);
        backends[0].matmul(got, x, n, backends[0].adoptWeight(w));
        for (let t = 0; t < n; t++) {
          const xhat = dequantiseActivationRow(format, xq, t * stride, cols);
          const dOf = (i: number) => Math.abs(new DataView(xq.buffer).getFloat32(t * stride + cols + 4 * Math.floor(i / block), true));
          for (let i = 0; i < cols; i++) assert.ok(Math.abs(x[t * cols + i] - xhat[i]) <= 0.57 * dOf(i) + 1e-30, `x̂[${t}, ${i}]`);
          {
            for (let r = 0; r < rows; r++) {
              let bound = 0, scale = 0;
              for (let i = 0; i < cols; i++) {
                bound += Math.abs(wf[r * cols + i]) * 0.57 * dOf(i);
                scale += Math.abs(wf[r * cols + i] * x[t * cols + i]);
              }
              const err = Math.abs(got[t * rows + r] - want[t * rows + r]);
              worstRelative = Math.max(worstRelative, err / scale);
              assert.ok(err <= bound + scale * 2 ** -16, `n=${n} rows=${rows} cols=${cols} out [${t}, ${r}]: ${got[t * rows + r]} vs ${want[t * rows + r]} (bound ${bound})`);
            }
          }
        }
        // Quantising the activations costs well under 1% of Σ|w·x| on these random rows.
        assert.ok(worstRelative < 0.01, `worst |error| / Σ|w·x| = ${worstRelative}`);
      }
    });
  }
});
