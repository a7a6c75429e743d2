// The native elementwise kernels (native/activation_simd.h) against the TypeScript they replace, per output within
// activationBounds.ts: softmax_rows (the naive path's head attention) on rows with wide score ranges, tails and
// causal limits (0, 1 and every entry visible), and silu_mul on random gates and the special values; head attention
// through the native backends against the reference; and the binding's refusals. Every instruction set this CPU runs.
// Skipped with the reason when the module is not built; LATENT_REQUIRE_NATIVE=1 (CI) makes that a failure.
import * as assert from 'node:assert/strict';
import { siluAgreementBound, softmaxAgreementBound } from '../../engine/backend/cpu/activationBounds';
import { CpuBackend } from '../../engine/backend/cpu/cpuBackend';
import { attendHeadsReference, softmax } from '../../engine/backend/cpu/headAttention';
import type { KernelsOption } from '../../engine/backend/cpu/kernelChoice';
import { bindNative, NativeIsa } from '../../engine/backend/cpu/nativeKernels';
import { wasm } from '../../engine/backend/cpu/wasmKernels';
import { signedUniform } from '../../engine/generate/seededRandom';
import { nativeIsas } from './nativeIsas';

const ops = (isa: NativeIsa) => bindNative(new wasm.Memory({ initial: 1, maximum: 1, shared: true }), isa);

describe('CPU backend: native softmax and silu', function () {
  let isas: NativeIsa[] = [];
  before(function () {
    isas = nativeIsas(this);
  });

  it('softmax_rows: every weight within the bound of the TypeScript softmax, wide score ranges, tails, causal limits', () => {
    const rand = signedUniform(9);
    for (const isa of isas) {
      const k = ops(isa);
      for (const [stride, spread] of [[1, 1], [7, 50], [16, 3], [37, 400], [300, 30], [2048, 10]]) {
        const visible = Int32Array.from(new Set([0, 1, Math.ceil(stride / 2), stride - 1, stride].filter((v) => v >= 0 && v <= stride)));
        const rows = visible.length;
        const scores = Float32Array.from({ length: rows * stride }, () => spread * rand());
        const [ts, got] = [scores.slice(), scores.slice()];
        // Past a row's limit the scratch holds stale values: both must write 0 there.
        for (let i = 0; i < rows; i++) got.fill(123, i * stride + visible[i], (i + 1) * stride);
        softmax(ts, rows, stride, visible, 0.3);
        k.softmax_rows(got, rows, stride, visible, 0.3);
        for (let i = 0; i < rows; i++) {
          const maxAbs = scores.subarray(i * stride, i * stride + visible[i]).reduce((m, v) => Math.max(m, Math.abs(v * 0.3)), 0);
          let total = 0;
          for (let j = 0; j < stride; j++) {
            const [a, b] = [ts[i * stride + j], got[i * stride + j]];
            total += b;
            const bound = softmaxAgreementBound(a, visible[i], maxAbs);
            if (!(Math.abs(a - b) <= bound)) assert.fail(`${isa} stride ${stride} row ${i} (visible ${visible[i]}): [${j}] is ${b}, TypeScript ${a} (bound ${bound})`);
          }
          if (visible[i] > 0) assert.ok(Math.abs(total - 1) < 1e-5, `${isa}: row ${i} sums to ${total}`);
        }
      }
    }
  });

  it('silu_mul: every output within the bound of the TypeScript, random gates, tails, and 0, ±inf, nan, large |g|', () => {
    const rand = signedUniform(10);
    const specials = [0, -0, Infinity, -Infinity, NaN, -100, 100, -87.5, -87.2, 88.8, 1e-30, -1e-30, 3.4e38, -3.4e38];
    for (const isa of isas) {
      const k = ops(isa);
      for (const n of [1, 7, 8, 15, 16, 17, 33, 1000]) {
        const gate = Float32Array.from({ length: n }, (_, i) => (i < specials.length && n >= 33 ? specials[i] : 25 * rand()));
        const up = Float32Array.from({ length: n }, () => 3 * rand());
        const got = gate.slice();
        k.silu_mul(got, up);
        for (let i = 0; i < n; i++) {
          const want = Math.fround((gate[i] / (1 + Math.exp(-gate[i]))) * up[i]);
          if (Number.isNaN(want)) {
            assert.ok(Number.isNaN(got[i]), `${isa}: silu(${gate[i]})·${up[i]} is ${got[i]}, expected nan`);
            continue;
          }
          if (!Number.isFinite(want)) {
            assert.equal(got[i], want, `${isa}: silu(${gate[i]})·${up[i]}`);
            continue;
          }
          const bound = siluAgreementBound(want, up[i]);
          if (!(Math.abs(got[i] - want) <= bound)) assert.fail(`${isa}: silu(${gate[i]})·${up[i]} is ${got[i]}, TypeScript ${want} (bound ${bound})`);
        }
      }
    }
  });

  it('head attention through the native backends equals the reference: queries after a cached prefix, 1 and 2 threads', async () => {
    const rand = signedUniform(11);
    const [H, nopeDim, ropeDim, vDim, n, pos0] = [3, 16, 8, 16, 37, 50];
    const length = pos0 + n;
    const a = {
      q: Float32Array.from({ length: n * H * (nopeDim + ropeDim) }, rand), kv: Float32Array.from({ length: length * H * (nopeDim + vDim) }, rand),
      kPe: Float32Array.from({ length: length * ropeDim }, rand), n, heads: H, length, nopeDim, ropeDim, vDim,
      visible: Int32Array.from({ length: n }, (_, j) => pos0 + j + 1), scale: 0.4,
    };
    const want = new Float32Array(n * H * vDim);
    attendHeadsReference({ ...a, out: want });
    for (const isa of isas) {
      for (const threads of [1, 2]) {
        const b = await CpuBackend.create({ threads, minParallelWork: 0, kernels: `native-${isa}` as KernelsOption });
        try {
          const got = new Float32Array(n * H * vDim).fill(NaN);
          b.attendHeadRows({ ...a, out: got });
          const diff = got.reduce((m, x, i) => Math.max(m, Math.abs(x - want[i])), 0);
          assert.ok(diff <= 1e-5, `${b.name}: max |diff| ${diff}`);
        } finally {
          b.dispose();
        }
      }
    }
  });

  it('the binding refuses arrays of the wrong type or length and limits past the row', () => {
    for (const isa of isas) {
      const k = ops(isa);
      assert.throws(() => k.silu_mul(new Float32Array(4), new Float32Array(5)), /one length/);
      assert.throws(() => k.silu_mul(new Float64Array(4) as unknown as Float32Array, new Float32Array(4)), TypeError);
      assert.throws(() => k.softmax_rows(new Float32Array(8), 2, 4, Int32Array.from([4, 5]), 1), /visible/);
      assert.throws(() => k.softmax_rows(new Float32Array(7), 2, 4, Int32Array.from([4, 4]), 1), /rows x stride/);
      assert.throws(() => k.softmax_rows(new Float32Array(8), 2, 4, Float32Array.from([4, 4]) as unknown as Int32Array, 1), TypeError);
    }
  });
});
