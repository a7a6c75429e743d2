// The native kernels (engine/backend/cpu/native/, every instruction set this CPU runs) against the WASM kernels:
// each op on random shapes within the summation-order bound (agreementBound in kernelChoice.ts: the two sum the
// same exactly-rounded products in different orders), exact f16/bf16 decoding, the integer-dot ops bit for bit,
// writes confined to the rows or columns asked for, bounds checks, and through the whole model the fixtures'
// logits on 1 and 2 threads.
// Skipped with the reason when the module is not built; LATENT_REQUIRE_NATIVE=1 (CI) makes that a failure.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { CpuBackend } from '../../engine/backend/cpu/cpuBackend';
import { agreementBound, KernelsOption, quantisationCases } from '../../engine/backend/cpu/kernelChoice';
import { kernelModule } from '../../engine/backend/cpu/kernelModule';
import { kernelsOn } from '../../engine/backend/cpu/kernelSet';
import { bindNative, NATIVE_DOT_OPS, NativeIsa } from '../../engine/backend/cpu/nativeKernels';
import { KernelExports, wasm } from '../../engine/backend/cpu/wasmKernels';
import { mulberry32, signedUniform } from '../../engine/generate/seededRandom';
import { GGML_TYPES } from '../../engine/weights/ggmlTypes';
import { quantiseRow } from '../../engine/weights/quantise';
import { ACTIVATION_QUANT_OF, DotWeightDType, quantiseActivations, quantisedRowBytes } from '../../engine/weights/quantiseActivations';
import { NormalStream } from '../../engine/weights/seededNormal';
import type { DType } from '../../engine/weights/safetensors';
import { allocateTensor, toF32 } from '../../engine/weights/tensor';
import { checkFixtureLogits, FIXTURE_NAMES } from './fixtureModel';
import { nativeIsas } from './nativeIsas';
import { randomTensor } from './backendInputs';

/** Whether this CPU has AVX-512 VNNI, which the native integer-dot kernels need (Linux reports it in cpuinfo). */
const CPU_INFO = fs.existsSync('/proc/cpuinfo') ? fs.readFileSync('/proc/cpuinfo', 'utf8') : '';
const CPU_HAS_VNNI = /\bavx512_vnni\b/.test(CPU_INFO);
/** The integer dots run on AVX-512 VNNI or, with the same results, on AVX2 (with F16C for the scales). */
const CPU_HAS_DOTS = CPU_HAS_VNNI || (/\bavx2\b/.test(CPU_INFO) && /\bf16c\b/.test(CPU_INFO));


/** Asserts |got - want| <= agreementBound for every output of x·Wᵀ (W as decoded, f32 [rows, cols]). */
function assertAgree(label: string, got: Float32Array, want: Float32Array, x: Float32Array, w: Float32Array, n: number, rows: number, cols: number): void {
  let worst = 0;
  for (let t = 0; t < n; t++) {
    for (let r = 0; r < rows; r++) {
      let absSum = 0;
      for (let i = 0; i < cols; i++) absSum += Math.abs(x[t * cols + i] * w[r * cols + i]);
      const diff = Math.abs(got[t * rows + r] - want[t * rows + r]);
      const bound = agreementBound('matmul', cols, absSum);
      if (!(diff <= bound)) assert.fail(`${label}: output [${t}, ${r}] is ${got[t * rows + r]}, WASM ${want[t * rows + r]} (|diff| ${diff} > bound ${bound})`);
      worst = Math.max(worst, diff / bound);
    }
  }
  assert.ok(worst < 1, label);
}

describe('CPU backend: native kernels against the WASM kernels', function () {
  let isas: NativeIsa[] = [];
  let reference: CpuBackend;
  const natives: CpuBackend[] = [];
  before(async function () {
    isas = nativeIsas(this);
    reference = await CpuBackend.create({ threads: 1, kernels: 'wasm' });
    for (const isa of isas) {
      const kernels = `native-${isa}` as KernelsOption;
      // The 2-thread backend splits every job, however small, so that the workers' kernels are exercised too.
      natives.push(await CpuBackend.create({ threads: 1, kernels }), await CpuBackend.create({ threads: 2, minParallelWork: 0, kernels }));
    }
  });
  after(() => [reference, ...natives].forEach((b) => b?.dispose()));

  it('auto picks the native kernels on this machine', async () => {
    const auto = await CpuBackend.create({ threads: 1, kernels: 'auto' });
    try {
      assert.equal(auto.name, 'cpu-native-1t');
      assert.match(auto.info().device, new RegExp(`native ${isas[0]} kernels`));
    } finally {
      auto.dispose();
    }
  });

  for (const dtype of ['F32', 'F16', 'BF16'] as DType[]) {
    it(`${dtype}: x·Wᵀ within the summation-order bound of WASM for n = 1, 3, 17, 64, odd row counts, 1 and 2 threads`, async () => {
      // Columns 8 mod 16 take AVX-512's half-vector tail; row counts that are not multiples of the tiles take the row tail.
      for (const [rows, cols] of [[1, 8], [37, 40], [129, 136], [7, 520], [301, 1032]]) {
        const ref = randomTensor('w', dtype, [rows, cols], rows * 31 + cols);
        const w = toF32(ref);
        for (const n of [1, 3, 17, 64]) {
          const x = Float32Array.from({ length: n * cols }, signedUniform(n * 7 + cols));
          const want = new Float32Array(n * rows);
          reference.matmul(want, x, n, reference.adoptWeight(ref));
          for (const backend of natives) {
            const got = new Float32Array(n * rows).fill(NaN);
            backend.matmul(got, x, n, backend.adoptWeight(ref));
            assertAgree(`${backend.info().device} ${dtype} n=${n} rows=${rows} cols=${cols}`, got, want, x, w, n, rows, cols);
          }
        }
      }
    });
  }

  for (const [dtype, finiteOnly] of [['F16', false], ['F16', true], ['BF16', false]] as [DType, boolean][]) {
    it(`${dtype}${finiteOnly ? ' without inf/nan' : ''}: every bit pattern is decoded exactly, as by the WASM kernels`, async () => {
      // W holds the patterns as [count / 8, 8]; x is the 8x8 identity, so out[c, r] = W[r, c] (0·inf is NaN in both).
      const patterns = Array.from({ length: 65536 }, (_, i) => i).filter((i) => !finiteOnly || (i & 0x7c00) !== 0x7c00);
      const { tensor } = allocateTensor('all', dtype, [patterns.length / 8, 8]);
      tensor.data.set(patterns);
      const x = new Float32Array(64);
      for (let c = 0; c < 8; c++) x[c * 8 + c] = 1;
      const want = new Float32Array(patterns.length);
      reference.matmul(want, x, 8, reference.adoptWeight(tensor));
      for (const backend of natives) {
        const got = new Float32Array(patterns.length);
        backend.matmul(got, x, 8, backend.adoptWeight(tensor));
        for (let i = 0; i < got.length; i++) {
          if (!(got[i] === want[i] || (Number.isNaN(got[i]) && Number.isNaN(want[i])))) assert.fail(`${backend.name}: output ${i} is ${got[i]}, WASM ${want[i]}`);
        }
      }
    });
  }

  for (const op of NATIVE_DOT_OPS) {
    const dtype = op.slice(4).toUpperCase() as DotWeightDType;
    it(`${dtype}: the integer-dot kernel is bit-identical to WASM for n = 1-12 and 64, row tails and sub-ranges, long rows, quantised and random blocks`, async () => {
      const { blockElements, blockBytes } = GGML_TYPES[dtype];
      const format = ACTIVATION_QUANT_OF[dtype];
      const m = new wasm.Memory({ initial: 256, maximum: 256, shared: true }); // 16 MiB
      const bytes = new Uint8Array(m.buffer);
      const f32 = new Float32Array(m.buffer);
      const [X, W, A, B] = [0, 1 << 20, 1 << 22, 3 << 22]; // byte offsets
      const next = mulberry32(dtype.charCodeAt(1) * 97);
      // The integer-dot kernels: AVX-512 (BW + VNNI) or AVX2, bound exactly where the CPU has one of them, under
      // either instruction set's name (an AVX-512 CPU without VNNI gets the AVX2 ones).
      for (const isa of isas) {
        assert.equal(op in bindNative(m, isa), CPU_HAS_DOTS, `${isa}: native ${op} bound`);
        if (!CPU_HAS_DOTS) continue;
        const [ref, nat] = [kernelsOn({ wasm: await kernelModule() }, m), kernelsOn({ wasm: await kernelModule(), native: isa }, m)];
        for (const [n, rows, blocks, r0, r1, random] of [[1, 37, 8, 0, 37, 0], [2, 9, 3, 0, 9, 1], [3, 5, 1, 1, 4, 0], [4, 13, 2, 2, 13, 1], [5, 6, 4, 0, 6, 0], [9, 11, 2, 3, 10, 1], [64, 21, 2, 0, 21, 0], [7, 64, 1, 0, 64, 1],
          // Long rows (32-value types: 128 blocks and more go through chunks of 64): tiles of 8 and of 4, a partial chunk.
          [12, 7, 130, 1, 7, 1], [8, 3, 200, 0, 3, 0]]) {
          const cols = blocks * blockElements;
          const wBytes = bytes.subarray(W, W + rows * blocks * blockBytes);
          if (random) {
            // Every field arbitrary, the f16 scales finite and small enough that no product overflows f32.
            for (let i = 0; i < wBytes.length; i++) wBytes[i] = Math.floor(next() * 256);
            const halves = { Q8_0: [0], Q4_0: [0], Q5_0: [0], Q4_K: [0, 2], Q5_K: [0, 2], Q6_K: [208] }[dtype];
            for (let b = 0; b < wBytes.length; b += blockBytes) for (const h of halves) wBytes[b + h + 1] &= 0x3f;
          } else {
            const values = new Float32Array(rows * cols);
            new NormalStream([rows * 7 + cols]).fill(values, 0, 1);
            quantiseRow(dtype, values, wBytes);
          }
          const x = Float32Array.from({ length: n * cols }, signedUniform(n * 13 + cols));
          if (n > 2) x.fill(0, cols, 2 * cols); // an all-zero token
          quantiseActivations(format, x, n, cols, bytes, X);
          assert.ok(X + n * quantisedRowBytes(format, cols) <= W);
          const outs = [ref, nat].map((k, i) => {
            const at = i ? B : A;
            f32.fill(NaN, at / 4, at / 4 + n * rows);
            k[op](X, W, at, n, rows, cols, r0, r1, 4);
            return f32.slice(at / 4, at / 4 + n * rows);
          });
          for (let i = 0; i < n * rows; i++) {
            const [a, b] = [outs[0][i], outs[1][i]];
            const r = i % rows;
            if (r < r0 || r >= r1) assert.ok(Number.isNaN(a) && Number.isNaN(b), `${isa} ${op} wrote row ${r} outside [${r0}, ${r1})`);
            else if (!Object.is(a, b)) assert.fail(`${isa} ${op} n=${n} rows=${rows} cols=${cols} out [${Math.floor(i / rows)}, ${r}]: ${b}, WASM ${a}`);
          }
        }
        assert.throws(() => nat[op](X, W, A, 1, 4, blockElements / 2, 0, 4, 4), RangeError, 'cols not a whole number of blocks');
        assert.throws(() => nat[op](X, m.buffer.byteLength - blockBytes, A, 1, 2, blockElements, 0, 2, 4), RangeError, 'W past the bank');
      }
    });
  }

  it('activation quantisation (Q8_0, Q8_K) is quantiseActivations byte for byte, rounding ties included', () => {
    const m = new wasm.Memory({ initial: 256, maximum: 256, shared: true });
    const bytes = new Uint8Array(m.buffer);
    const [X, A, B] = [0, 1 << 22, 3 << 22];
    for (const isa of isas) {
      const nat = bindNative(m, isa);
      // Beside the integer dots, on either instruction set: bound exactly where they are.
      assert.equal('quantise_q8_0' in nat && 'quantise_q8_k' in nat, CPU_HAS_DOTS, `${isa}: native quantisation bound`);
      if (!('quantise_q8_0' in nat)) continue;
      for (const [format, op] of [['Q8_0', 'quantise_q8_0'], ['Q8_K', 'quantise_q8_k']] as const) {
        for (const [n, cols] of [[1, 256], [2, 2048], [5, 1536], [64, 512]]) {
          const x = quantisationCases(n, cols, n * cols);
          for (let i = 0; i < x.length; i += 97) x[i] *= 1e-3; // small and large blocks alike
          new Float32Array(m.buffer, X, n * cols).set(x);
          const size = n * quantisedRowBytes(format, cols);
          bytes.fill(0xee, A, A + size + 4);
          bytes.fill(0xee, B, B + size + 4);
          quantiseActivations(format, x, n, cols, bytes, A);
          nat[op]!(X, B, n, cols);
          for (let i = 0; i < size + 4; i++) if (bytes[A + i] !== bytes[B + i]) assert.fail(`${op} n=${n} cols=${cols}: byte ${i} is ${bytes[B + i]}, quantiseActivations' ${bytes[A + i]}`);
        }
        assert.throws(() => nat[op]!(X, B, 1, 16), RangeError, 'cols not a whole number of blocks');
        assert.throws(() => nat[op]!(m.buffer.byteLength - 64, B, 1, 256), RangeError, 'x past the bank');
      }
    }
  });

  it('quantised weights through the backend: native integer-dot matmuls equal the WASM ones bit for bit, 1 and 2 threads', async () => {
    const wasmDot = await CpuBackend.create({ threads: 1, integerDot: true, kernels: 'wasm' });
    const nativeDots = await Promise.all(isas.map((isa) => CpuBackend.create({ threads: 2, minParallelWork: 0, integerDot: true, kernels: `native-${isa}` as KernelsOption })));
    try {
      for (const op of NATIVE_DOT_OPS) {
        const dtype = op.slice(4).toUpperCase() as DotWeightDType;
        const [rows, cols] = [67, 4 * GGML_TYPES[dtype].blockElements];
        const values = new Float32Array(rows * cols);
        new NormalStream([cols]).fill(values, 0, 1);
        const { tensor, bytes } = allocateTensor(dtype, dtype, [rows, cols]);
        quantiseRow(dtype, values, bytes);
        for (const n of [1, 2, 17]) {
          const x = Float32Array.from({ length: n * cols }, signedUniform(n + cols));
          const want = new Float32Array(n * rows);
          wasmDot.matmul(want, x, n, wasmDot.adoptWeight(tensor));
          for (const backend of nativeDots) {
            const got = new Float32Array(n * rows);
            backend.matmul(got, x, n, backend.adoptWeight(tensor));
            for (let i = 0; i < got.length; i++) if (!Object.is(got[i], want[i])) assert.fail(`${backend.name} ${dtype} n=${n} out ${i}: ${got[i]}, WASM ${want[i]}`);
          }
        }
      }
    } finally {
      [wasmDot, ...nativeDots].forEach((b) => b.dispose());
    }
  });

  describe('the kernels on a bank', () => {
    const memory = () => new wasm.Memory({ initial: 64, maximum: 256, shared: true }); // 4 MiB, growable to 16
    const kernels = async (isa: NativeIsa | undefined, m: ReturnType<typeof memory>): Promise<KernelExports> => kernelsOn({ wasm: await kernelModule(), native: isa }, m);

    it('x·Wᵀ writes only the rows r0..r1 asked for, and p·W only the columns c0..c1', async () => {
      for (const isa of isas) {
        const m = memory();
        const [ref, nat] = [await kernels(undefined, m), await kernels(isa, m)];
        const f32 = new Float32Array(m.buffer);
        const [X, W, OUT] = [0, 1 << 16, 1 << 18]; // float offsets
        const [n, rows, cols] = [5, 41, 72];
        f32.set(Float32Array.from({ length: n * cols }, signedUniform(1)), X);
        f32.set(Float32Array.from({ length: rows * cols }, signedUniform(2)), W);
        for (const [r0, r1] of [[0, 41], [4, 12], [13, 14], [36, 41]]) {
          for (const k of [ref, nat]) {
            f32.fill(NaN, OUT, OUT + n * rows);
            k.matmul_f32(X * 4, W * 4, OUT * 4, n, rows, cols, r0, r1, 8);
            for (let t = 0; t < n; t++) {
              for (let r = 0; r < rows; r++) assert.equal(Number.isNaN(f32[OUT + t * rows + r]), r < r0 || r >= r1, `${k === nat ? isa : 'wasm'} x·Wᵀ [${r0}, ${r1}) at [${t}, ${r}]`);
            }
          }
        }
        // p·W: p [n, k], W [k, m]; the outputs of the two kernels compared within the bound.
        for (const [n2, k2, m2, c0, c1] of [[1, 37, 40, 0, 40], [3, 130, 136, 8, 128], [17, 1, 8, 0, 8], [64, 9, 56, 16, 48]]) {
          const p = Float32Array.from({ length: n2 * k2 }, signedUniform(n2 + k2));
          const w = Float32Array.from({ length: k2 * m2 }, signedUniform(m2));
          f32.set(p, X);
          f32.set(w, W);
          const outs = [ref, nat].map((k) => {
            f32.fill(NaN, OUT, OUT + n2 * m2);
            k.matmul_nn_f32(X * 4, W * 4, OUT * 4, n2, k2, m2, c0, c1, 0);
            return f32.slice(OUT, OUT + n2 * m2);
          });
          for (let t = 0; t < n2; t++) {
            for (let c = 0; c < m2; c++) {
              const [a, b] = [outs[0][t * m2 + c], outs[1][t * m2 + c]];
              if (c < c0 || c >= c1) {
                assert.ok(Number.isNaN(b), `${isa} p·W wrote column ${c} outside [${c0}, ${c1})`);
                continue;
              }
              let absSum = 0;
              for (let s = 0; s < k2; s++) absSum += Math.abs(p[t * k2 + s] * w[s * m2 + c]);
              assert.ok(Math.abs(a - b) <= agreementBound('nn', k2, absSum), `${isa} p·W n=${n2} k=${k2} m=${m2} [${t}, ${c}]: ${b} vs WASM ${a}`);
            }
          }
        }
      }
    });

    it('an operand past the bank is a RangeError, and the grown part of a bank is reachable', async () => {
      for (const isa of isas) {
        const m = memory();
        const nat = await kernels(isa, m);
        const size = m.buffer.byteLength;
        // W's last row would end 4 bytes past the memory.
        assert.throws(() => nat.matmul_f32(0, size - 4 * 64 + 4, 4096, 1, 1, 64, 0, 1, 4), RangeError);
        assert.throws(() => nat.matmul_f16(0, 0, 4096, 1, 4, 12, 0, 4, 4), RangeError, 'cols not a multiple of 8');
        assert.throws(() => nat.matmul_nn_f32(0, 0, 4096, 1, 4, 16, 0, 24, 0), RangeError, 'columns past m');
        m.grow(64);
        // After growing, W at the old end (now inside) works through the kernels bound before.
        const f32 = new Float32Array(m.buffer);
        f32.fill(0.5, size / 4, size / 4 + 64);
        f32.fill(2, 0, 64);
        nat.matmul_f32(0, size, 4096, 1, 1, 64, 0, 1, 4);
        assert.equal(new Float32Array(m.buffer)[1024], 64);
      }
    });
  });

  for (const name of FIXTURE_NAMES) {
    it(`fixture ${name}: logits within 1e-4 and the greedy continuation with native kernels, 1 and 2 threads`, async () => {
      for (const backend of natives) await checkFixtureLogits(name, backend);
    });
  }
});
