// How the GPU latent store lays out one token's latents of one layer: a row of words holding [c_kv (r) | k_pe (dr)]
// as f32 bits (fp32 pools) or as packed f16 pairs (fp16 pools: c_kv and k_pe both 16-bit, as HostLatentStore keeps
// them). Rows are page·PAGE_TOKENS + slot in the layer's buffer. r and dr are even, so k_pe starts on a word.
import type { LatentFormat } from '../../../cache/latentFormat';

export type GpuLatentFormat = Extract<LatentFormat, 'fp32' | 'fp16'>;

export function latentRowWords(format: GpuLatentFormat, r: number, dr: number): number {
  return format === 'fp32' ? r + dr : (r + dr) / 2;
}

/** WGSL: `fn latentAt(row: u32, i: u32) -> f32` over the binding L (row width p.rowWords), i in [0, r + dr). */
export function latentRead(format: GpuLatentFormat): string {
  return format === 'fp32'
    ? 'fn latentAt(row: u32, i: u32) -> f32 { return bitcast<f32>(L[row * p.rowWords + i]); }'
    : 'fn latentAt(row: u32, i: u32) -> f32 { let v = unpack2x16float(L[row * p.rowWords + (i >> 1u)]); return select(v.x, v.y, (i & 1u) == 1u); }';
}

/** WGSL: the word holding elements (2w, 2w+1) (fp16) or element w (fp32) of a row, from two f32 values. */
export function latentWord(format: GpuLatentFormat): string {
  return format === 'fp32'
    ? 'fn latentWord(a: f32, b: f32) -> u32 { return bitcast<u32>(a); }'
    : 'fn latentWord(a: f32, b: f32) -> u32 { return f16Bits(bitcast<u32>(a)) | (f16Bits(bitcast<u32>(b)) << 16u); }';
}

/** WGSL f32 -> f16 bits, rounded to nearest even: engine/weights/halfPrecision.ts's f32BitsToF16, word for word. */
export const F16_BITS = `fn f16Bits(x: u32) -> u32 {
  let sign = (x >> 16u) & 0x8000u;
  let ex = (x >> 23u) & 0xffu;
  let mant = x & 0x7fffffu;
  if (ex == 0xffu) { return sign | 0x7c00u | select(0u, 0x200u | (mant >> 13u), mant != 0u); }
  let e = i32(ex) - 127 + 15;
  if (e >= 0x1f) { return sign | 0x7c00u; }
  if (e <= 0) {
    if (e < -10) { return sign; }
    let full = mant | 0x800000u;
    let shift = u32(14 - e);
    var h = full >> shift;
    let rest = full & ((1u << shift) - 1u);
    let half = 1u << (shift - 1u);
    if (rest > half || (rest == half && (h & 1u) != 0u)) { h = h + 1u; }
    return sign | h;
  }
  var h = (u32(e) << 10u) | (mant >> 13u);
  let rest = mant & 0x1fffu;
  if (rest > 0x1000u || (rest == 0x1000u && (h & 1u) != 0u)) { h = h + 1u; }
  return sign | h;
}`;

/** Elements per word of a row. */
export function perWord(format: GpuLatentFormat): number {
  return format === 'fp32' ? 1 : 2;
}
