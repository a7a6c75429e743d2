// Which kernels the fast CPU backend runs: the native module's (native/, AVX-512 or AVX2 with FMA) where it
// loads and agrees with the WASM kernels on a small self-check at start, else the WASM SIMD kernels, the portable
// path. LATENT_CPU_KERNELS (or CpuBackendOptions.kernels) = auto (default) | wasm | native | native-avx512 |
// native-avx2; `native*` fails loudly where auto would fall back.
import { mulberry32, signedUniform } from '../../generate/seededRandom';
import { GGML_TYPES } from '../../weights/ggmlTypes';
import { f32Bits, f32BitsToBf16, f32ToF16 } from '../../weights/halfPrecision';
import { ACTIVATION_QUANT_OF, DotWeightDType, quantiseActivations, quantisedRowBytes } from '../../weights/quantiseActivations';
import { f16ToF32Table } from '../../weights/tensor';
import { kernelModule } from './kernelModule';
import type { KernelSet } from './kernelSet';
import type { LatentChunk } from '../../cache/latentCache';
import { siluAgreementBound, softmaxAgreementBound } from './activationBounds';
import { softmax } from './headAttention';
import { attendLatentReference } from './latentAttention';
import { bindNative, loadNativeModule, NATIVE_DOT_OPS, NATIVE_QUANTISE_OPS, NativeFusedOps, NativeIsa, NativeOps } from './nativeKernels';
import { attendLatentNative, latentAgreementBounds } from './nativeLatentAttention';
import type { MatmulJob } from './kernelThreads';
import { instantiateKernels, KernelExports, wasm, WasmMemory, WasmModule } from './wasmKernels';

export const KERNEL_CHOICES = ['auto', 'wasm', 'native', 'native-avx512', 'native-avx2'] as const;
export type KernelsOption = (typeof KERNEL_CHOICES)[number];

/** The most tokens a quantised matmul takes the WASM integer-dot kernels for (wider ones are faster in f32). */
export const WASM_INTEGER_DOT_MAX_TOKENS = 2;

export interface KernelChoice {
  set: KernelSet;
  /**
   * The most tokens a quantised matmul takes the integer-dot kernels for (quantised activations, as llama.cpp),
   * by default: the native ones beat the f32-activation kernels at every n (4-14x at n = 64; native F16 0.8-1.2x,
   * test/bench/quantMatmul.ts), so every n; the WASM ones only in decode.
   */
  integerDotMaxTokens: number;
  /** What runs the matmuls, for info() and `latent info`: e.g. "native avx512 kernels". */
  description: string;
  /** Why this choice (a fallback says what failed). */
  reason: string;
}

/** The option, else LATENT_CPU_KERNELS, else auto; throws on an unknown value. */
export function requestedKernels(option?: string): KernelsOption {
  const value = option ?? process.env.LATENT_CPU_KERNELS ?? 'auto';
  if (!(KERNEL_CHOICES as readonly string[]).includes(value)) {
    throw new RangeError(`cpu kernels must be one of ${KERNEL_CHOICES.join(', ')} (LATENT_CPU_KERNELS or the kernels option), not "${value}"`);
  }
  return value as KernelsOption;
}

/**
 * How far the native and the WASM kernels may differ on one output, given S = Σ|x_i·w_i| (or Σ|p_s·w_s|) over its
 * `terms` products: both compute every product exactly-rounded and only sum in different orders. By Higham's
 * bound a dot product summed in f32 over m terms per partial sum, then over a tree of depth d, is off by at most
 * γ_(m+d)·S (γ_k = k·u/(1 - k·u), u = 2^-24). x·Wᵀ: WASM sums cols/4 terms per lane then 4 lanes (m + d =
 * cols/4 + 2), AVX2 cols/8 then 8 lanes (cols/8 + 3), AVX-512 cols/16 (+1 for a tail of 8) then 16 lanes (≤ cols/8
 * + 5): the two differ by at most (3·cols/8 + 7)·u·S. p·W sums its k terms in the same order on both (k + k).
 */
export function agreementBound(op: 'matmul' | 'nn', terms: number, absSum: number): number {
  const k = op === 'matmul' ? (3 * terms) / 8 + 7 : 2 * terms;
  const u = 2 ** -24;
  return ((k * u) / (1 - k * u)) * absSum;
}

const cached = new Map<KernelsOption, Promise<KernelChoice>>();

/** The kernels for `requested` (checked once per process). */
export function chooseKernels(requested: KernelsOption): Promise<KernelChoice> {
  let choice = cached.get(requested);
  if (!choice) cached.set(requested, (choice = decide(requested)));
  return choice;
}

async function decide(requested: KernelsOption): Promise<KernelChoice> {
  const module = await kernelModule();
  const wasmOnly = (reason: string): KernelChoice => ({ set: { wasm: module }, integerDotMaxTokens: WASM_INTEGER_DOT_MAX_TOKENS, description: 'WebAssembly SIMD kernels', reason });
  if (requested === 'wasm') return wasmOnly('asked for: LATENT_CPU_KERNELS or the kernels option is wasm');
  const fail = (why: string): KernelChoice => {
    if (requested !== 'auto') throw new Error(`cpu backend: native kernels (${requested}) are not available: ${why}`);
    return wasmOnly(why);
  };
  const loaded = loadNativeModule();
  if ('error' in loaded) return fail(loaded.error);
  const isas = loaded.module.isas();
  const isa: NativeIsa | undefined = requested === 'auto' || requested === 'native' ? isas[0] : isas.find((i) => `native-${i}` === requested);
  if (!isa) return fail(`this CPU has none of the native module's instruction sets (${requested})`);
  const checked = selfCheck(module, isa);
  if ('mismatch' in checked) {
    const { mismatch } = checked;
    // A module that loads but computes wrong is a bug worth seeing, even when auto falls back.
    if (requested === 'auto') console.warn(`cpu backend: native ${isa} kernels failed their self-check (${mismatch}); using the WASM kernels`);
    return fail(`the self-check failed: ${mismatch}`);
  }
  const dots = NATIVE_DOT_OPS.some((op) => op in checked.native);
  return {
    set: { wasm: module, native: isa },
    integerDotMaxTokens: dots ? Infinity : WASM_INTEGER_DOT_MAX_TOKENS,
    description: `native ${isa} kernels (f32/f16/bf16 matmul${dots ? ', integer dot over quantised weights' : ''}, latent attention, softmax, silu; WebAssembly SIMD for the rest)`,
    reason: `${loaded.file} loaded and agrees with the WASM kernels`,
  };
}

/**
 * Runs every native op against its WASM export on small random shapes (tails included), latent attention, which has
 * none, against the double-precision reference, and the elementwise ones against their TypeScript: the ops, or the
 * first disagreement.
 */
function selfCheck(module: WasmModule, isa: NativeIsa): { native: NativeOps } | { mismatch: string } {
  const memory = new wasm.Memory({ initial: 16, maximum: 16, shared: true });
  const ref = instantiateKernels(module, memory);
  let native: NativeOps & NativeFusedOps;
  try {
    native = bindNative(memory, isa);
  } catch (e) {
    return { mismatch: (e as Error).message };
  }
  const rand = signedUniform(54321);
  const mismatch = matmulSelfCheck(ref, native, memory) ?? quantiseSelfCheck(native, memory) ?? dotSelfCheck(ref, native, memory) ??
    latentSelfCheck(native, memory, rand) ?? activationSelfCheck(native, rand);
  return mismatch ? { mismatch } : { native };
}

/** The f32/f16/bf16 matmuls against their WASM exports within the summation-order bound. */
function matmulSelfCheck(ref: KernelExports, native: NativeOps, memory: InstanceType<typeof wasm.Memory>): string | undefined {
  const f32 = new Float32Array(memory.buffer);
  const u16 = new Uint16Array(memory.buffer);
  const rand = signedUniform(12345);
  const f16 = f16ToF32Table();
  // Float offsets: x, W, then the WASM and the native outputs.
  const [X, W, A, B] = [0, 4096, 8192, 12288];
  for (const op of ['matmul_f32', 'matmul_f16', 'matmul_bf16', 'matmul_f16_finite', 'matmul_nn_f32'] as const) {
    const nn = op === 'matmul_nn_f32';
    // (n, rows, cols); for p·W rows is k and cols is m. Columns of 40 and 8 leave a tail of 8 on AVX-512.
    for (const [n, rows, cols] of [[1, 13, 40], [5, 9, 48], [6, 7, 8]]) {
      const x = Float32Array.from({ length: n * (nn ? rows : cols) }, rand);
      f32.set(x, X);
      const w = new Float32Array(rows * cols); // W as the kernels decode it
      for (let i = 0; i < w.length; i++) {
        const v = rand();
        if (op === 'matmul_f16' || op === 'matmul_f16_finite') w[i] = f16[(u16[W * 2 + i] = f32ToF16(v))];
        else if (op === 'matmul_bf16') w[i] = floatOf((u16[W * 2 + i] = f32BitsToBf16(f32Bits(v))) << 16);
        else w[i] = f32[W + i] = v;
      }
      const end = nn ? cols : rows;
      ref[op](X * 4, W * 4, A * 4, n, rows, cols, 0, end, 4);
      native[op](X * 4, W * 4, B * 4, n, rows, cols, 0, end, 4);
      for (let t = 0; t < n; t++) {
        for (let j = 0; j < end; j++) {
          let absSum = 0;
          if (nn) for (let s = 0; s < rows; s++) absSum += Math.abs(x[t * rows + s] * w[s * cols + j]);
          else for (let i = 0; i < cols; i++) absSum += Math.abs(x[t * cols + i] * w[j * cols + i]);
          const [a, b] = [f32[A + t * end + j], f32[B + t * end + j]];
          if (!(Math.abs(a - b) <= agreementBound(nn ? 'nn' : 'matmul', nn ? rows : cols, absSum))) {
            return `${op} n=${n} rows=${rows} cols=${cols}: output [${t}, ${j}] is ${b}, the WASM kernel's ${a}`;
          }
        }
      }
    }
  }
  return undefined;
}

/**
 * Activation values whose quantisation hits every rounding case: per 32 values a block with max|x| = 127 (so
 * d = 1 and x·(1/d) = x: halves, both signs), one led by a negative value, an all-zero one, then random ones.
 */
export function quantisationCases(n: number, cols: number, seed: number): Float32Array {
  const x = Float32Array.from({ length: n * cols }, signedUniform(seed));
  const ties = [127, 2.5, -2.5, 0.5, -0.5, 1.5, -1.5, 126.5, -126.5, 0, -0, 3.4999998, -3.5000002];
  x.set(ties, 0);
  if (x.length >= 64) x.set(ties.map((v) => -v), 32);
  if (x.length >= 512) x.fill(0, 256, 512);
  return x;
}

/** The native activation quantisation against quantiseActivations, byte for byte. */
function quantiseSelfCheck(native: NativeOps, memory: InstanceType<typeof wasm.Memory>): string | undefined {
  const bytes = new Uint8Array(memory.buffer);
  const [X, A, B] = [0, 1 << 16, 1 << 17];
  for (const op of NATIVE_QUANTISE_OPS) {
    const kernel = native[op];
    if (!kernel) continue;
    const format = op === 'quantise_q8_0' ? 'Q8_0' : 'Q8_K';
    const [n, cols] = [3, 768];
    const x = quantisationCases(n, cols, 99);
    new Float32Array(memory.buffer, X, n * cols).set(x);
    const size = n * quantisedRowBytes(format, cols);
    bytes.fill(0xee, A, A + size);
    bytes.fill(0xee, B, B + size);
    quantiseActivations(format, x, n, cols, bytes, A);
    kernel(X, B, n, cols);
    for (let i = 0; i < size; i++) if (bytes[A + i] !== bytes[B + i]) return `${op}: byte ${i} is ${bytes[B + i]}, quantiseActivations' ${bytes[A + i]}`;
  }
  return undefined;
}

/** The f16 scales of each weight type's block (byte offsets), kept finite in random blocks. */
const BLOCK_HALVES: Record<DotWeightDType, number[]> = { Q8_0: [0], Q4_0: [0], Q5_0: [0], Q4_K: [0, 2], Q5_K: [0, 2], Q6_K: [208] };

/**
 * The native integer-dot ops against their WASM exports on random blocks (every field arbitrary, scales finite)
 * and quantised random activations: bit-identical, over several tokens, a row sub-range and row tails.
 */
function dotSelfCheck(ref: KernelExports, native: NativeOps, memory: InstanceType<typeof wasm.Memory>): string | undefined {
  const bytes = new Uint8Array(memory.buffer);
  const f32 = new Float32Array(memory.buffer);
  const next = mulberry32(777);
  const rand = signedUniform(778);
  const [X, W, A, B] = [0, 1 << 15, 1 << 17, 1 << 18]; // byte offsets
  for (const op of NATIVE_DOT_OPS) {
    const kernel = native[op];
    if (!kernel) continue;
    const dtype = op.slice(4).toUpperCase() as DotWeightDType;
    const { blockElements, blockBytes } = GGML_TYPES[dtype];
    for (const [n, rows, blocks, r0, r1] of [[1, 9, 2, 0, 9], [5, 7, 3, 1, 6], [6, 5, 1, 0, 5]]) {
      const cols = blocks * blockElements;
      for (let i = 0; i < rows * blocks * blockBytes; i++) bytes[W + i] = Math.floor(next() * 256);
      for (let b = 0; b < rows * blocks; b++) for (const h of BLOCK_HALVES[dtype]) bytes[W + b * blockBytes + h + 1] &= 0x3f;
      quantiseActivations(ACTIVATION_QUANT_OF[dtype], Float32Array.from({ length: n * cols }, rand), n, cols, bytes, X);
      f32.fill(NaN, A / 4, A / 4 + n * rows);
      f32.fill(NaN, B / 4, B / 4 + n * rows);
      ref[op](X, W, A, n, rows, cols, r0, r1, 4);
      kernel(X, W, B, n, rows, cols, r0, r1, 4);
      for (let i = 0; i < n * rows; i++) {
        const [a, b] = [f32[A / 4 + i], f32[B / 4 + i]];
        if (!(a === b || (Number.isNaN(a) && Number.isNaN(b)))) return `${op} n=${n} rows=${rows} cols=${cols}: output ${i} is ${b}, the WASM kernel's ${a}`;
      }
    }
  }
  return undefined;
}

/** softmax_rows and silu_mul against the TypeScript they replace (tails included), within activationBounds.ts. */
function activationSelfCheck(native: NativeFusedOps, rand: () => number): string | undefined {
  const [rows, stride] = [3, 37];
  const scores = Float32Array.from({ length: rows * stride }, () => 30 * rand());
  const visible = Int32Array.from([37, 21, 1]);
  const [ts, got] = [scores.slice(), scores.slice()];
  softmax(ts, rows, stride, visible, 0.25);
  native.softmax_rows(got, rows, stride, visible, 0.25);
  for (let i = 0; i < rows; i++) {
    const maxAbs = scores.subarray(i * stride, i * stride + visible[i]).reduce((m, v) => Math.max(m, Math.abs(v * 0.25)), 0);
    for (let j = 0; j < stride; j++) {
      const [a, b] = [ts[i * stride + j], got[i * stride + j]];
      if (!(Math.abs(a - b) <= softmaxAgreementBound(a, visible[i], maxAbs))) return `softmax_rows: [${i}, ${j}] is ${b}, the TypeScript's ${a}`;
    }
  }
  const gate = Float32Array.from({ length: 45 }, () => 20 * rand());
  const up = Float32Array.from({ length: 45 }, rand);
  const silu = gate.slice();
  native.silu_mul(silu, up);
  for (let i = 0; i < gate.length; i++) {
    const want = (gate[i] / (1 + Math.exp(-gate[i]))) * up[i];
    if (!(Math.abs(silu[i] - want) <= siluAgreementBound(want, up[i]))) return `silu_mul: output ${i} is ${silu[i]}, the TypeScript's ${want}`;
  }
  return undefined;
}

/**
 * Native latent attention on two small problems (rows of 40 + 8 leave an AVX-512 tail) within latentAgreementBound,
 * staged by the backend's own attendLatentNative, its one call run on this thread.
 */
function latentSelfCheck(native: NativeFusedOps, memory: WasmMemory, rand: () => number): string | undefined {
  const oneThread = { runMatmul: (j: MatmulJob) => native.attend_latent(j.x, j.w, j.out, j.n, j.rows, j.cols, 0, j.split, j.rowBlock) };
  for (const [r, dr, length, chunk, rows] of [[40, 8, 37, 16, 5], [64, 16, 20, 20, 3]]) {
    const latents: LatentChunk[] = [];
    for (let start = 0; start < length; start += chunk) {
      const count = Math.min(chunk, length - start);
      latents.push({ start, count, cKv: Float32Array.from({ length: count * r }, rand), kPe: Float32Array.from({ length: count * dr }, rand) });
    }
    const problem = {
      out: new Float32Array(rows * r), qLat: Float32Array.from({ length: rows * r }, rand), qPe: Float32Array.from({ length: rows * dr }, rand),
      rows, visible: Int32Array.from({ length: rows }, (_, i) => length - 3 * i), latents, kvLoraRank: r, ropeDim: dr, scale: 0.3,
    };
    const want = { ...problem, out: new Float32Array(rows * r) };
    attendLatentReference(want);
    attendLatentNative(problem, length, rows, oneThread, 0, memory, native);
    const got = problem.out;
    const bounds = latentAgreementBounds(want);
    for (let i = 0; i < got.length; i++) {
      if (!(Math.abs(got[i] - want.out[i]) <= bounds[i])) return `attend_latent r=${r} dr=${dr} length=${length}: output ${i} is ${got[i]}, the reference's ${want.out[i]}`;
    }
  }
  return undefined;
}

function floatOf(bits: number): number {
  return new Float32Array(new Uint32Array([bits]).buffer)[0];
}
