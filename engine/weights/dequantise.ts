// Dequantisation of GGML's block-quantised types, bit for bit as llama.cpp's reference `dequantize_row_*`
// (ggml-quants.c): every f32 operation in the same order, each rounded to f32 (Math.fround), so a decoded
// weight here equals llama.cpp's. (ggml-base is built without FMA contraction on x86-64, so a·b - c is two
// roundings there, as here.) The layouts, per block:
//   Q8_0 (32 values, 34 B):  f16 d, int8 q[32]                         x = q·d
//   Q4_0 (32 values, 18 B):  f16 d, u8 qs[16]: value j is the low nibble of qs[j] (j < 16), else the high
//                            nibble of qs[j-16]                        x = (q-8)·d
//   Q5_0 (32 values, 22 B):  f16 d, u32 qh (little-endian), u8 qs[16]: as Q4_0, with bit j of qh as value j's
//                            fifth bit                                 x = (q-16)·d
//   Q5_1 (32 values, 24 B):  f16 d, f16 m, u32 qh, u8 qs[16]: as Q5_0 x = q·d + m
//   Q4_K (256 values, 144 B): f16 d, f16 dmin, u8 scales[12] (eight 6-bit scale/min pairs, packed), u8 qs[128]:
//                            sub-block s (32 values) is the low (s even) or high (s odd) nibbles of
//                            qs[32·(s>>1) ..]                          x = (d·sc_s)·q - (dmin·m_s)
//   Q5_K (256 values, 176 B): as Q4_K, with u8 qh[32] before qs: bit s of qh[l] is the fifth bit of value l of
//                            sub-block s                               x = (d·sc_s)·(q + 16·h) - (dmin·m_s)
//   Q6_K (256 values, 210 B): u8 ql[128], u8 qh[64], int8 scales[16], f16 d; each half (128 values) takes 64 B
//                            of ql and 32 of qh: value 32g+l (g < 4) is the low (g < 2) or high nibble of
//                            ql[l + 32·(g&1)], with bits 2g, 2g+1 of qh[l] on top; scale = scales[value/16]
//                                                                      x = (d·sc)·(q - 32)
import { GGML_TYPES, QuantDType } from './ggmlTypes';
import { f16ToF32Table } from './tensor';

const f = Math.fround;

/** The 6-bit scale and min of sub-block `j` (0..7) of a Q4_K/Q5_K block's 12 packed bytes at `at`. */
export function scaleMinK4(bytes: Uint8Array, at: number, j: number): [number, number] {
  if (j < 4) return [bytes[at + j] & 63, bytes[at + j + 4] & 63];
  return [(bytes[at + j + 4] & 0xf) | ((bytes[at + j - 4] >> 6) << 4), (bytes[at + j + 4] >> 4) | ((bytes[at + j] >> 6) << 4)];
}

function half(bytes: Uint8Array, at: number): number {
  return f16ToF32Table()[bytes[at] | (bytes[at + 1] << 8)];
}

function q8_0(b: Uint8Array, at: number, out: Float32Array, o: number): void {
  const d = half(b, at);
  for (let j = 0; j < 32; j++) out[o + j] = f(((b[at + 2 + j] << 24) >> 24) * d);
}

function q4_0(b: Uint8Array, at: number, out: Float32Array, o: number): void {
  const d = half(b, at);
  for (let j = 0; j < 16; j++) {
    const q = b[at + 2 + j];
    out[o + j] = f(((q & 0xf) - 8) * d);
    out[o + j + 16] = f(((q >> 4) - 8) * d);
  }
}

/** Q5_0 and Q5_1 (`mAt` the byte offset of Q5_1's f16 min; null for Q5_0): nibbles plus 32 fifth bits in qh. */
function q5(b: Uint8Array, at: number, out: Float32Array, o: number, mAt: number | null): void {
  const d = half(b, at);
  const m = mAt === null ? 0 : half(b, at + mAt);
  const qhAt = mAt === null ? at + 2 : at + 4;
  const qh = (b[qhAt] | (b[qhAt + 1] << 8) | (b[qhAt + 2] << 16) | (b[qhAt + 3] << 24)) >>> 0;
  const offset = mAt === null ? 16 : 0;
  for (let j = 0; j < 16; j++) {
    const q = b[qhAt + 4 + j];
    const q0 = ((q & 0xf) | (((qh >>> j) & 1) << 4)) - offset;
    const q1 = ((q >> 4) | (((qh >>> (j + 16)) & 1) << 4)) - offset;
    // Q5_1 rounds the product, then the sum (no FMA), as ggml does.
    out[o + j] = mAt === null ? f(q0 * d) : f(f(q0 * d) + m);
    out[o + j + 16] = mAt === null ? f(q1 * d) : f(f(q1 * d) + m);
  }
}

function q4_K(b: Uint8Array, at: number, out: Float32Array, o: number): void {
  const d = half(b, at);
  const dmin = half(b, at + 2);
  for (let s = 0; s < 8; s++) {
    const [sc, m] = scaleMinK4(b, at + 4, s);
    const d1 = f(d * sc);
    const m1 = f(dmin * m);
    const qs = at + 16 + 32 * (s >> 1);
    const shift = (s & 1) * 4;
    for (let l = 0; l < 32; l++) out[o + 32 * s + l] = f(f(d1 * ((b[qs + l] >> shift) & 0xf)) - m1);
  }
}

function q5_K(b: Uint8Array, at: number, out: Float32Array, o: number): void {
  const d = half(b, at);
  const dmin = half(b, at + 2);
  const qh = at + 16;
  for (let s = 0; s < 8; s++) {
    const [sc, m] = scaleMinK4(b, at + 4, s);
    const d1 = f(d * sc);
    const m1 = f(dmin * m);
    const qs = at + 48 + 32 * (s >> 1);
    const shift = (s & 1) * 4;
    for (let l = 0; l < 32; l++) {
      const q = ((b[qs + l] >> shift) & 0xf) + ((b[qh + l] >> s) & 1) * 16;
      out[o + 32 * s + l] = f(f(d1 * q) - m1);
    }
  }
}

function q6_K(b: Uint8Array, at: number, out: Float32Array, o: number): void {
  const d = half(b, at + 208);
  for (let c = 0; c < 2; c++) {
    const ql = at + 64 * c;
    const qh = at + 128 + 32 * c;
    const sc = at + 192 + 8 * c;
    for (let g = 0; g < 4; g++) {
      const qlAt = ql + 32 * (g & 1);
      const shift = (g >> 1) * 4;
      for (let l = 0; l < 32; l++) {
        const q = (((b[qlAt + l] >> shift) & 0xf) | (((b[qh + l] >> (2 * g)) & 3) << 4)) - 32;
        const scale = (b[sc + 2 * g + (l >> 4)] << 24) >> 24;
        out[o + 128 * c + 32 * g + l] = f(f(d * scale) * q);
      }
    }
  }
}

const DECODE: Record<QuantDType, (b: Uint8Array, at: number, out: Float32Array, o: number) => void> = {
  Q8_0: q8_0,
  Q4_0: q4_0,
  Q5_0: (b, at, out, o) => q5(b, at, out, o, null),
  Q5_1: (b, at, out, o) => q5(b, at, out, o, 2),
  Q4_K: q4_K,
  Q5_K: q5_K,
  Q6_K: q6_K,
};

/** Decodes the one block of `dtype` at byte `at` of `bytes` into out[o .. o + blockElements). */
export function dequantiseBlock(dtype: QuantDType, bytes: Uint8Array, at: number, out: Float32Array, o = 0): void {
  DECODE[dtype](bytes, at, out, o);
}

/** Decodes `count` values (whole blocks) starting at block `firstBlock` of `bytes` into out[0 .. count). */
export function dequantiseBlocks(dtype: QuantDType, bytes: Uint8Array, firstBlock: number, count: number, out: Float32Array): void {
  const { blockElements, blockBytes } = GGML_TYPES[dtype];
  if (count % blockElements !== 0) throw new Error(`${dtype}: ${count} values are not a whole number of ${blockElements}-value blocks`);
  const decode = DECODE[dtype];
  for (let k = 0; k < count / blockElements; k++) decode(bytes, (firstBlock + k) * blockBytes, out, k * blockElements);
}
