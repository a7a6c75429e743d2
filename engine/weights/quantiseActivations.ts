// Activation quantisation for integer-dot matmuls, as llama.cpp does before `ggml_vec_dot_*_q8_*`: each row of
// x becomes Q8_0 (32-value blocks, for Q8_0/Q4_0/Q5_0 weights) or Q8_K (256-value blocks with per-16 sums, for the
// K-quants), and each weight block meets it in integer arithmetic, scaled once per block in f32.
//
// Layout of one quantised activation row of `cols` values (ours, not ggml's interleaved blocks: the kernels
// read the int8 values contiguously):
//   Q8_0: int8 q[cols], then f32 d[cols/32] (each d already rounded through f16, as block_q8_0 stores it)
//   Q8_K: int8 q[cols], then f32 d[cols/256], then int16 bsums[cols/16] (the sum of each 16 values' q)
// The arithmetic, per llama.cpp's quantize_row_q8_0_ref / quantize_row_q8_K_ref:
//   Q8_0: amax = max|x|; d = amax/127; id = d ? 1/d : 0; q = roundf(x·id) (half away from zero); stored d = f16(d)
//   Q8_K: max = the x of largest |x| (first one); iscale = -127/max; q = min(127, nearest_int(iscale·x))
//         (half to even); d = 1/iscale (f32); an all-zero block has d = 0, q = 0
// And the dot products (ggml_vec_dot_q8_0_q8_0, _q4_0_q8_0, _q5_0_q8_0, _q4_K_q8_K, _q5_K_q8_K, _q6_K_q8_K), per block:
//   Q8_0 / Q4_0 / Q5_0:  acc += f32(Σ wq·xq) · (f16(wd)·xd)
//   Q4_K / Q5_K:  acc += (f16(wd)·xd) · Σ_j sc_j·Σ(wq·xq);  acc -= (f16(wdmin)·xd) · Σ_j m_j·(bsum_2j + bsum_2j+1)
//   Q6_K:         acc += (f16(wd)·xd) · Σ_g sc_g·Σ((wq - 32)·xq)   (g over the 16 groups of 16)
// with every integer sum exact in i32. `dotRowReference` is that arithmetic in TypeScript, the oracle of the
// WASM kernels (quantDotWat.ts); they sum the Q8_0/Q4_0/Q5_0 blocks' f32 terms in four lanes instead of one.
import { scaleMinK4 } from './dequantise';
import { GGML_TYPES, QuantDType } from './ggmlTypes';
import { f32ToF16 } from './halfPrecision';
import { f16ToF32Table } from './tensor';

const f = Math.fround;

export type ActivationQuant = 'Q8_0' | 'Q8_K';

/** The weight types that have an integer dot over quantised activations (Q5_1 keeps f32 activations). */
export type DotWeightDType = 'Q8_0' | 'Q4_0' | 'Q5_0' | 'Q4_K' | 'Q5_K' | 'Q6_K';

export function hasIntegerDot(dtype: QuantDType): dtype is DotWeightDType {
  return dtype in ACTIVATION_QUANT_OF;
}

/** The activation format each weight type's integer dot takes. */
export const ACTIVATION_QUANT_OF: Record<DotWeightDType, ActivationQuant> = { Q8_0: 'Q8_0', Q4_0: 'Q8_0', Q5_0: 'Q8_0', Q4_K: 'Q8_K', Q5_K: 'Q8_K', Q6_K: 'Q8_K' };

/** Bytes of one quantised activation row of `cols` values. */
export function quantisedRowBytes(format: ActivationQuant, cols: number): number {
  return format === 'Q8_0' ? cols + (cols / 32) * 4 : cols + (cols / 256) * 4 + (cols / 16) * 2;
}

/** half to even, as ggml's nearest_int (the 1.5·2^23 trick) for |v| < 2^22. */
function nearestEven(v: number): number {
  const r = Math.round(v);
  return r - v === 0.5 && (r & 1) !== 0 ? r - 1 : r;
}

/** roundf: half away from zero. */
function roundAway(v: number): number {
  return v < 0 ? -Math.round(-v) : Math.round(v);
}

/**
 * Quantises rows [0, n) of x [n, cols] into `dst` at byte offset `at`, row after row (each
 * quantisedRowBytes(format, cols) bytes). `at` must be a multiple of 4.
 */
export function quantiseActivations(format: ActivationQuant, x: Float32Array, n: number, cols: number, dst: Uint8Array, at = 0): void {
  const stride = quantisedRowBytes(format, cols);
  const q = new Int8Array(dst.buffer, dst.byteOffset, dst.byteLength);
  const table = f16ToF32Table();
  for (let t = 0; t < n; t++) {
    const row = at + t * stride;
    const xo = t * cols;
    const scales = new Float32Array(dst.buffer, dst.byteOffset + row + cols, format === 'Q8_0' ? cols / 32 : cols / 256);
    if (format === 'Q8_0') {
      for (let b = 0; b < cols / 32; b++) {
        let amax = 0;
        for (let j = 0; j < 32; j++) amax = Math.max(amax, Math.abs(x[xo + 32 * b + j]));
        const d = f(amax / 127);
        const id = d !== 0 ? f(1 / d) : 0;
        for (let j = 0; j < 32; j++) q[row + 32 * b + j] = roundAway(f(x[xo + 32 * b + j] * id));
        scales[b] = table[f32ToF16(d)];
      }
      continue;
    }
    const bsums = new Int16Array(dst.buffer, dst.byteOffset + row + cols + (cols / 256) * 4, cols / 16);
    for (let b = 0; b < cols / 256; b++) {
      const o = xo + 256 * b;
      let max = 0, amax = 0;
      for (let j = 0; j < 256; j++) {
        const ax = Math.abs(x[o + j]);
        if (ax > amax) {
          amax = ax;
          max = x[o + j];
        }
      }
      if (amax === 0) {
        scales[b] = 0;
        for (let j = 0; j < 256; j++) q[row + 256 * b + j] = 0;
        for (let j = 0; j < 16; j++) bsums[16 * b + j] = 0;
        continue;
      }
      const iscale = f(-127 / max);
      for (let j = 0; j < 256; j++) q[row + 256 * b + j] = Math.min(127, nearestEven(f(iscale * x[o + j])));
      for (let j = 0; j < 16; j++) {
        let sum = 0;
        for (let i = 0; i < 16; i++) sum += q[row + 256 * b + 16 * j + i];
        bsums[16 * b + j] = sum;
      }
      scales[b] = f(1 / iscale);
    }
  }
}

/** The values a quantised activation row stands for (q·d), for tolerance checks. */
export function dequantiseActivationRow(format: ActivationQuant, src: Uint8Array, at: number, cols: number): Float32Array {
  const q = new Int8Array(src.buffer, src.byteOffset + at, cols);
  const block = format === 'Q8_0' ? 32 : 256;
  const scales = new Float32Array(src.buffer.slice(src.byteOffset + at + cols, src.byteOffset + at + cols + (cols / block) * 4));
  return Float32Array.from(q, (v, i) => v * scales[Math.floor(i / block)]);
}

/**
 * One output of the integer-dot matmul: weight row bytes `w` at `wAt` (cols values of `dtype`) against the
 * quantised activation row at `xAt` of `xq` (format ACTIVATION_QUANT_OF[dtype]); the arithmetic of the header.
 * `magnitude`: Σ |each block's f32 term| instead, the scale of the kernels' rounding differences.
 */
export function dotRowReference(dtype: QuantDType, w: Uint8Array, wAt: number, xq: Uint8Array, xAt: number, cols: number, magnitude = false): number {
  const table = f16ToF32Table();
  const half = (at: number) => table[w[at] | (w[at + 1] << 8)];
  const xi = new Int8Array(xq.buffer, xq.byteOffset + xAt, cols);
  const view = new DataView(xq.buffer, xq.byteOffset);
  const xd = (b: number) => view.getFloat32(xAt + cols + 4 * b, true);
  const bsum = (g: number) => view.getInt16(xAt + cols + (cols / 256) * 4 + 2 * g, true);
  const { blockBytes } = GGML_TYPES[dtype];
  // An int sum times an f32 scale, as C does it: the int converted to f32 first (|magnitude|: for error bounds).
  const term = (d: number, sumi: number) => (magnitude ? Math.abs(d * sumi) : f(d * f(sumi)));
  let acc = 0;
  if (dtype === 'Q8_0' || dtype === 'Q4_0' || dtype === 'Q5_0') {
    for (let b = 0; b < cols / 32; b++) {
      const at = wAt + b * blockBytes;
      const qs = dtype === 'Q5_0' ? at + 6 : at + 2;
      const nibble = (j: number) => (j < 16 ? w[qs + j] & 15 : w[qs + j - 16] >> 4);
      let sumi = 0;
      for (let j = 0; j < 32; j++) {
        const fifth = (w[at + 2 + (j >> 3)] >> (j & 7)) & 1;
        const wq = dtype === 'Q8_0' ? (w[at + 2 + j] << 24) >> 24 : dtype === 'Q4_0' ? nibble(j) - 8 : (nibble(j) | (fifth << 4)) - 16;
        sumi += wq * xi[32 * b + j];
      }
      acc = f(acc + (magnitude ? Math.abs(sumi * f(half(at) * xd(b))) : f(sumi * f(half(at) * xd(b)))));
    }
    return acc;
  }
  for (let b = 0; b < cols / 256; b++) {
    const at = wAt + b * blockBytes;
    const x0 = 256 * b;
    if (dtype === 'Q6_K') {
      let sumi = 0;
      for (let g = 0; g < 16; g++) {
        const c = g >> 3, h = (g >> 1) & 3; // half c; quarter h of the half (32 values), 16-group g&1 of it
        let s = 0;
        for (let i = 0; i < 16; i++) {
          const l = 16 * (g & 1) + i;
          const ql = w[at + 64 * c + 32 * (h & 1) + l];
          const qh = w[at + 128 + 32 * c + l];
          const q = ((h < 2 ? ql & 15 : ql >> 4) | (((qh >> (2 * h)) & 3) << 4)) - 32;
          s += q * xi[x0 + 128 * c + 32 * h + l];
        }
        sumi += ((w[at + 192 + g] << 24) >> 24) * s;
      }
      acc = f(acc + term(f(half(at + 208) * xd(b)), sumi));
      continue;
    }
    let sumi = 0, summs = 0;
    for (let j = 0; j < 8; j++) {
      const [sc, m] = scaleMinK4(w, at + 4, j);
      let s = 0;
      for (let l = 0; l < 32; l++) {
        const byte = w[at + (dtype === 'Q4_K' ? 16 : 48) + 32 * (j >> 1) + l];
        let q = j & 1 ? byte >> 4 : byte & 15;
        if (dtype === 'Q5_K') q += ((w[at + 16 + l] >> j) & 1) << 4;
        s += q * xi[x0 + 32 * j + l];
      }
      sumi += sc * s;
      summs += m * (bsum(16 * b + 2 * j) + bsum(16 * b + 2 * j + 1));
    }
    acc = f(acc + term(f(half(at) * xd(b)), sumi));
    acc = f(acc - (magnitude ? -1 : 1) * term(f(half(at + 2) * xd(b)), summs));
  }
  return acc;
}
