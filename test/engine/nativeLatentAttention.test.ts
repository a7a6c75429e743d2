// Native latent attention (native/attention_simd.h through nativeLatentAttention.ts) against the double-precision
// reference and the WASM path, per output within latentAgreementBound: V2-Lite's 512 + 64 latent rows in the
// cache's pages of 16 tokens, narrow rows whose width leaves an AVX-512 tail, causal limits per row (an extend),
// a row that sees nothing, 1 and 2 threads, every instruction set this CPU runs; and the binding's refusals (a
// table latent_table did not write, operands past the bank, misshapen chunks).
// Skipped with the reason when the module is not built; LATENT_REQUIRE_NATIVE=1 (CI) makes that a failure.
import * as assert from 'node:assert/strict';
import type { LatentChunk } from '../../engine/cache/latentCache';
import type { LatentAttention } from '../../engine/backend/cpu/attentionJobs';
import { CpuBackend } from '../../engine/backend/cpu/cpuBackend';
import type { KernelsOption } from '../../engine/backend/cpu/kernelChoice';
import { attendLatentReference } from '../../engine/backend/cpu/latentAttention';
import { latentAgreementBounds } from '../../engine/backend/cpu/nativeLatentAttention';
import { bindNative, NativeIsa } from '../../engine/backend/cpu/nativeKernels';
import { wasm } from '../../engine/backend/cpu/wasmKernels';
import { signedUniform } from '../../engine/generate/seededRandom';
import { nativeIsas } from './nativeIsas';

/** A random problem: `length` cached tokens in chunks of `chunk`, `rows` query rows seeing `visible(i)` tokens. */
function problem(r: number, dr: number, length: number, chunk: number, rows: number, visible: (i: number) => number, seed: number): LatentAttention {
  const rand = signedUniform(seed);
  const latents: LatentChunk[] = [];
  for (let start = 0; start < length; start += chunk) {
    const count = Math.min(chunk, length - start);
    latents.push({ start, count, cKv: Float32Array.from({ length: count * r }, rand), kPe: Float32Array.from({ length: count * dr }, rand) });
  }
  // Queries of a few units, as a trained model's, so that the softmax is far from uniform.
  const q = (n: number) => Float32Array.from({ length: n }, () => 4 * rand());
  return {
    out: new Float32Array(rows * r).fill(NaN), qLat: q(rows * r), qPe: q(rows * dr), rows,
    visible: Int32Array.from({ length: rows }, (_, i) => visible(i)), latents, kvLoraRank: r, ropeDim: dr, scale: 0.07,
  };
}

function attend(b: CpuBackend | undefined, a: LatentAttention): Float32Array {
  const out = new Float32Array(a.rows * a.kvLoraRank).fill(NaN);
  if (b) b.attendLatentRows({ ...a, out });
  else attendLatentReference({ ...a, out });
  return out;
}

function assertWithin(label: string, got: Float32Array, want: Float32Array, bounds: Float64Array): void {
  let worst = 0;
  for (let i = 0; i < got.length; i++) {
    const diff = Math.abs(got[i] - want[i]);
    if (!(diff <= bounds[i])) assert.fail(`${label}: output ${i} is ${got[i]}, expected ${want[i]} (|diff| ${diff} > bound ${bounds[i]})`);
    if (bounds[i] > 0) worst = Math.max(worst, diff / bounds[i]);
  }
  assert.ok(worst < 1, label);
}

describe('CPU backend: native latent attention', function () {
  let isas: NativeIsa[] = [];
  const natives: CpuBackend[] = [];
  let wasmPath: CpuBackend;
  before(async function () {
    isas = nativeIsas(this);
    wasmPath = await CpuBackend.create({ threads: 1, kernels: 'wasm' });
    for (const isa of isas) {
      const kernels = `native-${isa}` as KernelsOption;
      // The 2-thread backend splits every job, however small, so that the workers run the kernel too.
      natives.push(await CpuBackend.create({ threads: 1, kernels }), await CpuBackend.create({ threads: 2, minParallelWork: 0, kernels }));
    }
  });
  after(() => [wasmPath, ...natives].forEach((b) => b?.dispose()));

  const cases: [string, LatentAttention][] = [
    ['decode over 2,047 tokens of 512 + 64 in pages of 16', problem(512, 64, 2047, 16, 16, () => 2047, 1)],
    ['an extend of 3 tokens × 16 heads, causal limits', problem(512, 64, 300, 16, 48, (i) => 297 + Math.floor(i / 16), 2)],
    ['rows of 40 + 8 (an AVX-512 tail), one long chunk, one row seeing nothing, one seeing one token', problem(40, 8, 77, 77, 7, (i) => [0, 1, 5, 76, 77, 77, 33][i], 3)],
    ['a single cached token', problem(512, 64, 1, 16, 16, () => 1, 4)],
    ['40,000 tokens in pages of 16 (more latents than the scratch area of the WASM path holds)', problem(512, 64, 40_000, 16, 3, (i) => 40_000 - 7 * i, 5)],
  ];
  for (const [name, a] of cases) {
    it(`${name}: within the bound of the reference and of the WASM path, 1 and 2 threads`, () => {
      const bounds = latentAgreementBounds(a);
      const reference = attend(undefined, a);
      const portable = attend(wasmPath, a);
      assertWithin('WASM path vs reference', portable, reference, bounds);
      for (const b of natives) {
        const got = attend(b, a);
        assertWithin(`${b.name} vs reference`, got, reference, bounds);
        assertWithin(`${b.name} vs WASM path`, got, portable, bounds);
      }
    });
  }

  it('runs natively only where chosen: LATENT_CPU_KERNELS=wasm binds none of the fused kernels', () => {
    const kernels = (b: CpuBackend) => (b as unknown as { fast: { pool: { kernelsOf(bank: number): Record<string, unknown> } } }).fast.pool.kernelsOf(0);
    for (const op of ['latent_table', 'attend_latent', 'softmax_rows', 'silu_mul']) {
      assert.equal(op in kernels(wasmPath), false, op);
      for (const b of natives) assert.equal(typeof kernels(b)[op], 'function', `${b.name}: ${op}`);
    }
  });

  describe('the binding', () => {
    const memory = () => new wasm.Memory({ initial: 4, maximum: 8, shared: true });
    const chunk = (n: number, width: number) => new Float32Array(n * width).fill(0.5);
    /** Params at 0, table at 64, q_lat/q_pe/visible/scores/out after it, for `rows` rows over one chunk of 16. */
    const setUp = (m: ReturnType<typeof memory>, isa: NativeIsa, table = 64) => {
      const k = bindNative(m, isa);
      k.latent_table(table, [chunk(16, 16)], [chunk(16, 8)], 16, 8);
      new Uint32Array(m.buffer, 0, 7).set([table, 1024, 2048, 3072, 4096, 8192, 0x3f800000]);
      new Uint32Array(m.buffer, 3072, 2).set([16, 16]);
      return k;
    };

    it('attends on a table latent_table wrote, and refuses any other bytes at that offset', () => {
      for (const isa of isas) {
        const m = memory();
        const k = setUp(m, isa);
        k.attend_latent(0, 0, 0, 1, 2, 0, 0, 2, 0);
        // Every latent is 0.5, so every output is 0.5 whatever the weights.
        assert.deepEqual([...new Float32Array(m.buffer, 8192, 32)], new Array(32).fill(0.5));
        new Uint8Array(m.buffer, 64, 8).fill(7);
        assert.throws(() => k.attend_latent(0, 0, 0, 1, 2, 0, 0, 2, 0), /no latent table/);
      }
    });

    it('operands past the bank, rows past `rows`, and misshapen chunks are errors', () => {
      for (const isa of isas) {
        const m = memory();
        const k = setUp(m, isa);
        assert.throws(() => k.attend_latent(0, 0, 0, 1, 2, 0, 0, 3, 0), RangeError);
        new Uint32Array(m.buffer, 0, 7)[5] = 4 * 65536 - 16; // out runs past the bank's 4 pages
        assert.throws(() => k.attend_latent(0, 0, 0, 1, 2, 0, 0, 2, 0), /out of bounds/);
        new Uint32Array(m.buffer, 3072, 1)[0] = 17; // a row that sees more tokens than the table holds
        new Uint32Array(m.buffer, 0, 7)[5] = 8192;
        assert.throws(() => k.attend_latent(0, 0, 0, 1, 2, 0, 0, 2, 0), /more tokens/);
        assert.throws(() => k.latent_table(64, [chunk(16, 16)], [chunk(15, 8)], 16, 8), /k_pe/);
        assert.throws(() => k.latent_table(64, [chunk(16, 16)], [chunk(16, 8)], 12, 8), /multiples of 8/);
        assert.throws(() => k.latent_table(4 * 65536, [chunk(16, 16)], [chunk(16, 8)], 16, 8), /out of bounds/);
      }
    });
  });
});
