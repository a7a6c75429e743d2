// Matmul over GGML block-quantised weights: the fast WASM kernels (blocks decoded in registers) against the
// reference kernel (a block at a time, double accumulation), and the reference against dequantise-then-f32.
import * as assert from 'node:assert/strict';
import { CpuBackend } from '../../engine/backend/cpu/cpuBackend';
import { matmulRows } from '../../engine/backend/cpu/matmulKernel';
import { signedUniform, mulberry32 } from '../../engine/generate/seededRandom';
import { GGML_TYPES, QuantDType } from '../../engine/weights/ggmlTypes';
import { quantiseRow } from '../../engine/weights/quantise';
import { NormalStream } from '../../engine/weights/seededNormal';
import { allocateTensor, Tensor, toF32 } from '../../engine/weights/tensor';

const QUANT_TYPES: QuantDType[] = ['Q8_0', 'Q4_0', 'Q5_0', 'Q5_1', 'Q4_K', 'Q5_K', 'Q6_K'];

function quantisedTensor(dtype: QuantDType, rows: number, cols: number, seed: number): Tensor {
  const values = new Float32Array(rows * cols);
  new NormalStream([seed]).fill(values, 0, 1);
  const { tensor, bytes } = allocateTensor(`w${seed}`, dtype, [rows, cols]);
  quantiseRow(dtype, values, bytes);
  return tensor;
}

function f32Tensor(values: Float32Array, rows: number, cols: number): Tensor {
  const { tensor } = allocateTensor('f32', 'F32', [rows, cols]);
  (tensor.data as Float32Array).set(values);
  return tensor;
}

/** Σ_i |x[t, i]|·|W[r, i]|: the scale of each output's rounding error. */
function absScale(x: Float32Array, n: number, w: Tensor): Float32Array {
  const [rows, cols] = w.shape;
  const out = new Float32Array(n * rows);
  matmulRows(out, x.map(Math.abs), n, f32Tensor(toF32(w).map(Math.abs), rows, cols), 0, rows);
  return out;
}

// n = 1 is decode (tiles of 1 token x 4 rows); n > 8 prefill (4-token tiles and the 1-3 token tails).
const SHAPES: [number, number, number][] = [[1, 37, 256], [1, 64, 2048], [2, 9, 512], [9, 33, 512], [17, 8, 256], [64, 100, 1024]];

describe('CPU backend: matmul over quantised weights', function () {
  const backends: CpuBackend[] = [];
  before(async () => {
    // f32 activations: the integer-dot kernels (which quantise them) have their own tests (integerDot.test.ts).
    backends.push(await CpuBackend.create({ threads: 1, integerDot: false }), await CpuBackend.create({ threads: 2, minParallelWork: 0, integerDot: false }));
  });
  after(() => backends.forEach((b) => b.dispose()));

  for (const dtype of QUANT_TYPES) {
    it(`${dtype}: the fast kernel equals the reference within f32 accumulation error, n = 1 and n > 8, 1 and 2 threads`, () => {
      for (const [n, rows, cols] of SHAPES) {
        const w = quantisedTensor(dtype, rows, cols, rows * 7 + cols);
        const x = Float32Array.from({ length: n * cols }, signedUniform(n * 13 + cols));
        const want = new Float32Array(n * rows);
        matmulRows(want, x, n, w, 0, rows);
        const scale = absScale(x, n, w);
        for (const backend of backends) {
          const adopted = backend.adoptWeight(w);
          assert.notEqual(adopted, w, 'adopted into the arena');
          const got = new Float32Array(n * rows).fill(NaN);
          backend.matmul(got, x, n, adopted);
          for (let i = 0; i < got.length; i++) {
            // f32 sums of cols/8 lane partials: a relative error of a few units of 2^-24 per level of the sum.
            const bound = scale[i] * 2 ** -24 * 16 * Math.log2(cols) + 1e-30;
            if (!(Math.abs(got[i] - want[i]) <= bound)) assert.fail(`${backend.name} n=${n} rows=${rows} cols=${cols} out ${i}: ${got[i]} vs ${want[i]} (bound ${bound})`);
          }
        }
      }
    });

    it(`${dtype}: the reference kernel equals dequantise-then-f32 matmul`, () => {
      const reference = new CpuBackend();
      for (const [n, rows, cols] of SHAPES) {
        const w = quantisedTensor(dtype, rows, cols, rows + cols);
        const x = Float32Array.from({ length: n * cols }, signedUniform(n + 3 * cols));
        const got = new Float32Array(n * rows);
        reference.matmul(got, x, n, w);
        const want = new Float32Array(n * rows);
        matmulRows(want, x, n, f32Tensor(toF32(w), rows, cols), 0, rows);
        const scale = absScale(x, n, w);
        // Both accumulate in double; the orders differ, so the f32 results may differ by one rounding.
        for (let i = 0; i < got.length; i++) assert.ok(Math.abs(got[i] - want[i]) <= scale[i] * 2 ** -23, `n=${n} out ${i}: ${got[i]} vs ${want[i]}`);
      }
    });

    it(`${dtype}: in-register decode is exact for arbitrary block bytes (W times the identity gives W back)`, () => {
      // Random bytes: every field takes arbitrary values, the f16 scales any finite one (an inf scale would turn
      // the identity's 0·inf into NaN across the whole row, hiding the rest).
      const rows = 12;
      const cols = 256;
      const { tensor } = allocateTensor('random bytes', dtype, [rows, cols]);
      const next = mulberry32(dtype.length * 97 + dtype.charCodeAt(1));
      const bytes = tensor.data as Uint8Array;
      for (let i = 0; i < bytes.length; i++) bytes[i] = Math.floor(next() * 256);
      const { blockBytes } = GGML_TYPES[dtype];
      const halves = { Q8_0: [0], Q4_0: [0], Q5_0: [0], Q5_1: [0, 2], Q4_K: [0, 2], Q5_K: [0, 2], Q6_K: [208] }[dtype];
      for (let b = 0; b < bytes.length; b += blockBytes) for (const h of halves) if ((bytes[b + h + 1] & 0x7c) === 0x7c) bytes[b + h + 1] &= ~0x40;
      const identity = new Float32Array(cols * cols);
      for (let c = 0; c < cols; c++) identity[c * cols + c] = 1;
      const decoded = toF32(tensor);
      for (const backend of backends) {
        const got = new Float32Array(cols * rows);
        backend.matmul(got, identity, cols, backend.adoptWeight(tensor));
        for (let c = 0; c < cols; c++) {
          for (let r = 0; r < rows; r++) {
            const g = got[c * rows + r];
            const want = decoded[r * cols + c];
            if (g !== want) assert.fail(`${backend.name}: W[${r}, ${c}] came back as ${g}, expected ${want}`);
          }
        }
      }
    });
  }

  it('a quantised weight whose rows are not whole blocks cannot be made, with a one-line error', () => {
    assert.throws(() => allocateTensor('model.layers.0.mlp.down_proj.weight', 'Q4_K', [16, 1000]), /^Error: Q4_K: a row of 1000 elements is not a whole number of 256-element blocks$/);
    for (const backend of backends) assert.throws(() => backend.allocateWeight('w', 'Q8_0', [4, 40]), /Q8_0: a row of 40 elements/);
  });
});
