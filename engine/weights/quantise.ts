// Quantisation into GGML's block types, following llama.cpp's reference quantisers (`quantize_row_*_ref` in
// ggml-quants.c, the ones used when no importance matrix is given): Q8_0, Q4_0 and Q5_0 scale by the block's
// largest magnitude, Q5_1 spans the block's [min, max]; Q4_K and Q5_K fit a scale and a min per 32-value
// sub-block by a weighted least-squares search over candidate scales (make_qkx2_quants), Q6_K a scale per 16
// values (make_qx_quants); the sub-block scales are then themselves quantised (6-bit, or int8 for Q6_K) against a
// block's f16 d (and dmin), and the values are requantised against the scales as stored. Every f32 operation is
// rounded as in C (Math.fround), in C's order, so that the blocks match llama.cpp's. Layouts: see dequantise.ts.
import { scaleMinK4 } from './dequantise';
import { f32ToF16 } from './halfPrecision';
import { GGML_TYPES, QK_K, QuantDType } from './ggmlTypes';
import { f16ToF32Table } from './tensor';

const f = Math.fround;
const GROUP_MAX_EPS = f(1e-15);
const TENTH = f(0.1);

/** C's nearest_int: round to nearest, ties to even (by adding 1.5·2^23 in f32), for |x| < 2^22. */
function nearestInt(x: number): number {
  return f(x + 12582912) - 12582912;
}

/** C's roundf: halves away from zero. */
function roundAway(x: number): number {
  return x < 0 ? -Math.round(-x) : Math.round(x);
}

function halfBits(value: number): number {
  return f32ToF16(value);
}

function halfValue(bits: number): number {
  return f16ToF32Table()[bits];
}

function putHalf(dst: Uint8Array, at: number, bits: number): void {
  dst[at] = bits & 0xff;
  dst[at + 1] = bits >> 8;
}

/**
 * make_qkx2_quants: levels L[0..n) in 0..nmax with x ≈ scale·L - theMin, minimising the weighted squared error
 * over nstep+1 candidate scales around nmax/(max - min). Returns [scale, theMin].
 */
function fitScaleMin(n: number, nmax: number, x: Float32Array, xo: number, w: Float32Array, L: Uint8Array, lo: number, rmin: number, rdelta: number, nstep: number): [number, number] {
  const Laux = new Uint8Array(n);
  let min = x[xo];
  let max = x[xo];
  let sumW = w[0];
  let sumX = f(sumW * x[xo]);
  for (let i = 1; i < n; i++) {
    const v = x[xo + i];
    if (v < min) min = v;
    if (v > max) max = v;
    sumW = f(sumW + w[i]);
    sumX = f(sumX + f(w[i] * v));
  }
  if (min > 0) min = 0;
  if (max === min) {
    L.fill(0, lo, lo + n);
    return [0, -min];
  }
  let iscale = f(nmax / f(max - min));
  let scale = f(1 / iscale);
  let bestError = 0;
  for (let i = 0; i < n; i++) {
    const l = Math.max(0, Math.min(nmax, nearestInt(f(iscale * f(x[xo + i] - min)))));
    L[lo + i] = l;
    const diff = f(f(f(scale * l) + min) - x[xo + i]);
    bestError = f(bestError + f(w[i] * f(diff * diff)));
  }
  if (nstep < 1) return [scale, -min];
  for (let is = 0; is <= nstep; is++) {
    // `min` moves with each better candidate, and later candidates are placed around the new one, as in C.
    iscale = f(f(f(rmin + f(rdelta * is)) + nmax) / f(max - min));
    let sumL = 0;
    let sumL2 = 0;
    let sumXL = 0;
    for (let i = 0; i < n; i++) {
      const l = Math.max(0, Math.min(nmax, nearestInt(f(iscale * f(x[xo + i] - min)))));
      Laux[i] = l;
      const wl = f(w[i] * l);
      sumL = f(sumL + wl);
      sumL2 = f(sumL2 + f(wl * l));
      sumXL = f(sumXL + f(wl * x[xo + i]));
    }
    const D = f(f(sumW * sumL2) - f(sumL * sumL));
    if (D > 0) {
      let thisScale = f(f(f(sumW * sumXL) - f(sumX * sumL)) / D);
      let thisMin = f(f(f(sumL2 * sumX) - f(sumL * sumXL)) / D);
      if (thisMin > 0) {
        thisMin = 0;
        thisScale = f(sumXL / sumL2);
      }
      let curError = 0;
      for (let i = 0; i < n; i++) {
        const diff = f(f(f(thisScale * Laux[i]) + thisMin) - x[xo + i]);
        curError = f(curError + f(w[i] * f(diff * diff)));
      }
      if (curError < bestError) {
        L.set(Laux, lo);
        bestError = curError;
        scale = thisScale;
        min = thisMin;
      }
    }
  }
  return [scale, -min];
}

/**
 * make_qx_quants with rmse_type 1 (weights x²): signed levels L in 0..2·nmax-1 (value L - nmax) with
 * x ≈ scale·(L - nmax), searching 18 scales around -nmax/max. Returns the scale.
 */
function fitScale(n: number, nmax: number, x: Float32Array, xo: number, L: Uint8Array, lo: number): number {
  const max = largestMagnitude(x, xo, n);
  if (Math.abs(max) < GROUP_MAX_EPS) {
    L.fill(0, lo, lo + n);
    return 0;
  }
  const level = (iscale: number, v: number) => Math.max(-nmax, Math.min(nmax - 1, nearestInt(f(iscale * v))));
  let iscale = f(-nmax / max);
  let sumLX = 0;
  let sumL2 = 0;
  for (let i = 0; i < n; i++) {
    const v = x[xo + i];
    const l = level(iscale, v);
    L[lo + i] = l + nmax;
    const w = f(v * v);
    sumLX = f(sumLX + f(f(w * v) * l));
    sumL2 = f(sumL2 + f(f(w * l) * l));
  }
  let scale = sumL2 ? f(sumLX / sumL2) : 0;
  let best = f(scale * sumLX);
  for (let is = -9; is <= 9; is++) {
    if (is === 0) continue;
    iscale = f(-f(nmax + f(TENTH * is)) / max);
    sumLX = 0;
    sumL2 = 0;
    for (let i = 0; i < n; i++) {
      const v = x[xo + i];
      const l = level(iscale, v);
      const w = f(v * v);
      sumLX = f(sumLX + f(f(w * v) * l));
      sumL2 = f(sumL2 + f(f(w * l) * l));
    }
    if (sumL2 > 0 && f(sumLX * sumLX) > f(best * sumL2)) {
      for (let i = 0; i < n; i++) L[lo + i] = level(iscale, x[xo + i]) + nmax;
      scale = f(sumLX / sumL2);
      best = f(scale * sumLX);
    }
  }
  return scale;
}

function q8_0(x: Float32Array, xo: number, y: Uint8Array, at: number): void {
  let amax = 0;
  for (let j = 0; j < 32; j++) amax = Math.max(amax, Math.abs(x[xo + j]));
  const d = f(amax / 127);
  const id = d ? f(1 / d) : 0;
  putHalf(y, at, halfBits(d));
  for (let j = 0; j < 32; j++) y[at + 2 + j] = roundAway(f(x[xo + j] * id)) & 0xff;
}

/** The value of largest magnitude among x[xo .. xo+n), signed (the first one of a tie, as ggml keeps). */
function largestMagnitude(x: Float32Array, xo: number, n: number): number {
  let amax = 0;
  let max = 0;
  for (let j = 0; j < n; j++) {
    const v = x[xo + j];
    if (amax < Math.abs(v)) {
      amax = Math.abs(v);
      max = v;
    }
  }
  return max;
}

function q4_0(x: Float32Array, xo: number, y: Uint8Array, at: number): void {
  const max = largestMagnitude(x, xo, 32);
  const d = f(max / -8);
  const id = d ? f(1 / d) : 0;
  putHalf(y, at, halfBits(d));
  for (let j = 0; j < 16; j++) {
    const q0 = Math.min(15, Math.trunc(f(f(x[xo + j] * id) + 8.5)));
    const q1 = Math.min(15, Math.trunc(f(f(x[xo + 16 + j] * id) + 8.5)));
    y[at + 2 + j] = q0 | (q1 << 4);
  }
}

/** Q5_0: d = max/-16 (max the value of largest magnitude), levels 0..31 truncated from x/d + 16.5. */
function q5_0(x: Float32Array, xo: number, y: Uint8Array, at: number): void {
  const max = largestMagnitude(x, xo, 32);
  const d = f(max / -16);
  const id = d ? f(1 / d) : 0;
  putHalf(y, at, halfBits(d));
  putFiveBits(y, at + 2, (j) => Math.min(31, Math.trunc(f(f(x[xo + j] * id) + 16.5))));
}

/** Q5_1: d = (max - min)/31 and m = min, levels truncated from (x - min)/d + 0.5. */
function q5_1(x: Float32Array, xo: number, y: Uint8Array, at: number): void {
  let min = Infinity;
  let max = -Infinity;
  for (let j = 0; j < 32; j++) {
    const v = x[xo + j];
    if (v < min) min = v;
    if (v > max) max = v;
  }
  const d = f(f(max - min) / 31);
  const id = d ? f(1 / d) : 0;
  putHalf(y, at, halfBits(d));
  putHalf(y, at + 2, halfBits(min));
  // C's (uint8_t) cast: only the low 5 bits reach the block.
  putFiveBits(y, at + 4, (j) => Math.trunc(f(f(f(x[xo + j] - min) * id) + 0.5)) & 31);
}

/** Packs 32 five-bit levels as qh (u32, bit j = level j's fifth bit) then 16 bytes of nibbles (j | j+16 << 4). */
function putFiveBits(y: Uint8Array, at: number, level: (j: number) => number): void {
  let qh = 0;
  for (let j = 0; j < 16; j++) {
    const l0 = level(j);
    const l1 = level(j + 16);
    y[at + 4 + j] = (l0 & 0xf) | ((l1 & 0xf) << 4);
    qh |= ((l0 >> 4) << j) | ((l1 >> 4) << (j + 16));
  }
  for (let k = 0; k < 4; k++) y[at + k] = (qh >>> (8 * k)) & 0xff;
}

/** Q4_K and Q5_K: eight sub-blocks of 32 with a 6-bit scale and min each; `bits` is 4 or 5. */
function kQuantScaleMin(bits: 4 | 5, x: Float32Array, xo: number, y: Uint8Array, at: number): void {
  const nmax = (1 << bits) - 1;
  const L = new Uint8Array(QK_K);
  const weights = new Float32Array(32);
  const scales = new Float32Array(8);
  const mins = new Float32Array(8);
  let maxScale = 0;
  let maxMin = 0;
  for (let j = 0; j < 8; j++) {
    let sumX2 = 0;
    for (let l = 0; l < 32; l++) sumX2 = f(sumX2 + f(x[xo + 32 * j + l] * x[xo + 32 * j + l]));
    const avX = f(Math.sqrt(f(sumX2 / 32)));
    for (let l = 0; l < 32; l++) weights[l] = f(avX + Math.abs(x[xo + 32 * j + l]));
    const [scale, min] = bits === 4 ? fitScaleMin(32, 15, x, xo + 32 * j, weights, L, 32 * j, -1, TENTH, 20) : fitScaleMin(32, 31, x, xo + 32 * j, weights, L, 32 * j, -0.5, TENTH, 15);
    scales[j] = scale;
    mins[j] = min;
    if (scale > maxScale) maxScale = scale;
    if (min > maxMin) maxMin = min;
  }
  const invScale = maxScale > 0 ? f(63 / maxScale) : 0;
  const invMin = maxMin > 0 ? f(63 / maxMin) : 0;
  const sc = at + 4;
  y.fill(0, sc, sc + 12);
  for (let j = 0; j < 8; j++) {
    const ls = Math.min(63, nearestInt(f(invScale * scales[j])) & 0xff);
    const lm = Math.min(63, nearestInt(f(invMin * mins[j])) & 0xff);
    if (j < 4) {
      y[sc + j] = ls;
      y[sc + j + 4] = lm;
    } else {
      y[sc + j + 4] = (ls & 0xf) | ((lm & 0xf) << 4);
      y[sc + j - 4] |= (ls >> 4) << 6;
      y[sc + j] |= (lm >> 4) << 6;
    }
  }
  const dBits = halfBits(f(maxScale / 63));
  const dminBits = halfBits(f(maxMin / 63));
  putHalf(y, at, dBits);
  putHalf(y, at + 2, dminBits);
  for (let j = 0; j < 8; j++) {
    const [s, m] = scaleMinK4(y, sc, j);
    const d = f(halfValue(dBits) * s);
    if (!d) continue;
    const dm = f(halfValue(dminBits) * m);
    for (let ii = 0; ii < 32; ii++) L[32 * j + ii] = Math.max(0, Math.min(nmax, nearestInt(f(f(x[xo + 32 * j + ii] + dm) / d))));
  }
  if (bits === 4) {
    for (let c = 0; c < 4; c++) for (let l = 0; l < 32; l++) y[at + 16 + 32 * c + l] = L[64 * c + l] | (L[64 * c + l + 32] << 4);
    return;
  }
  const qh = at + 16;
  const ql = at + 48;
  y.fill(0, qh, qh + 32);
  for (let c = 0; c < 4; c++) {
    for (let j = 0; j < 32; j++) {
      let l1 = L[64 * c + j];
      let l2 = L[64 * c + j + 32];
      if (l1 > 15) {
        l1 -= 16;
        y[qh + j] |= 1 << (2 * c);
      }
      if (l2 > 15) {
        l2 -= 16;
        y[qh + j] |= 2 << (2 * c);
      }
      y[ql + 32 * c + j] = l1 | (l2 << 4);
    }
  }
}

function q6_K(x: Float32Array, xo: number, y: Uint8Array, at: number): void {
  const L = new Uint8Array(QK_K);
  const scales = new Float32Array(16);
  let maxScale = 0;
  let maxAbsScale = 0;
  for (let ib = 0; ib < 16; ib++) {
    const scale = fitScale(16, 32, x, xo + 16 * ib, L, 16 * ib);
    scales[ib] = scale;
    if (Math.abs(scale) > maxAbsScale) {
      maxAbsScale = Math.abs(scale);
      maxScale = scale;
    }
  }
  y.fill(0, at, at + GGML_TYPES.Q6_K.blockBytes);
  if (maxAbsScale < GROUP_MAX_EPS) return; // all zero: d = 0
  const iscale = f(-128 / maxScale);
  const dBits = halfBits(f(1 / iscale));
  putHalf(y, at + 208, dBits);
  const sc = at + 192;
  for (let ib = 0; ib < 16; ib++) y[sc + ib] = Math.min(127, nearestInt(f(iscale * scales[ib]))) & 0xff;
  for (let j = 0; j < 16; j++) {
    const d = f(halfValue(dBits) * ((y[sc + j] << 24) >> 24));
    if (!d) continue;
    for (let ii = 0; ii < 16; ii++) L[16 * j + ii] = Math.max(-32, Math.min(31, nearestInt(f(x[xo + 16 * j + ii] / d)))) + 32;
  }
  for (let c = 0; c < 2; c++) {
    const ql = at + 64 * c;
    const qh = at + 128 + 32 * c;
    const Lc = 128 * c;
    for (let l = 0; l < 32; l++) {
      const [a, b, cc, dd] = [L[Lc + l], L[Lc + l + 32], L[Lc + l + 64], L[Lc + l + 96]];
      y[ql + l] = (a & 0xf) | ((cc & 0xf) << 4);
      y[ql + l + 32] = (b & 0xf) | ((dd & 0xf) << 4);
      y[qh + l] = (a >> 4) | ((b >> 4) << 2) | ((cc >> 4) << 4) | ((dd >> 4) << 6);
    }
  }
}

const ENCODE: Record<QuantDType, (x: Float32Array, xo: number, y: Uint8Array, at: number) => void> = {
  Q8_0: q8_0,
  Q4_0: q4_0,
  Q5_0: q5_0,
  Q5_1: q5_1,
  Q4_K: (x, xo, y, at) => kQuantScaleMin(4, x, xo, y, at),
  Q5_K: (x, xo, y, at) => kQuantScaleMin(5, x, xo, y, at),
  Q6_K: q6_K,
};

/** Quantises `src` (a whole number of blocks) into `dst` from byte `at`; returns the bytes written. */
export function quantiseRow(dtype: QuantDType, src: Float32Array, dst: Uint8Array, at = 0): number {
  const { blockElements, blockBytes } = GGML_TYPES[dtype];
  if (src.length % blockElements !== 0) throw new Error(`${dtype}: a row of ${src.length} values is not a whole number of ${blockElements}-value blocks`);
  const blocks = src.length / blockElements;
  if (at + blocks * blockBytes > dst.length) throw new Error(`${dtype}: ${blocks} blocks need ${blocks * blockBytes} B at ${at}, the buffer has ${dst.length} B`);
  const encode = ENCODE[dtype];
  for (let k = 0; k < blocks; k++) encode(src, k * blockElements, dst, at + k * blockBytes);
  return blocks * blockBytes;
}
