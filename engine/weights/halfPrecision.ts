// float32 -> float16 / bfloat16, rounded to nearest with ties to even (what torch's `.half()` and
// `.bfloat16()` do), so a checkpoint written in half precision holds the nearest half of each float32 value.

const f32 = new Float32Array(1);
const f32U32 = new Uint32Array(f32.buffer);

/** The bits of `x` rounded to float32 (what a kernel parameter declared f32 is passed as). */
export function f32Bits(x: number): number {
  f32[0] = x;
  return f32U32[0];
}

/** IEEE float16 bits of the float32 whose bits are `x` (overflow -> infinity, tiny values -> subnormals or 0). */
export function f32BitsToF16(x: number): number {
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  const mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant !== 0 ? 0x200 | (mant >>> 13) : 0); // inf, or NaN kept quiet
  const e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    // float16 subnormal: a count of 2^-24 steps. Below 2^-25 everything rounds to zero.
    if (e < -10) return sign;
    const full = mant | 0x800000;
    const shift = 14 - e;
    let h = full >>> shift;
    const rest = full & ((1 << shift) - 1);
    const half = 1 << (shift - 1);
    if (rest > half || (rest === half && (h & 1) !== 0)) h++;
    return sign | h; // a carry to 0x400 is exactly the smallest normal
  }
  let h = (e << 10) | (mant >>> 13);
  const rest = mant & 0x1fff;
  if (rest > 0x1000 || (rest === 0x1000 && (h & 1) !== 0)) h++; // a carry into the exponent is right, up to infinity
  return sign | h;
}

const oneFloat = new Float32Array(1);
const oneFloatBits = new Uint32Array(oneFloat.buffer);

/** float16 bits of a number (rounded to float32 first, then to float16). */
export function f32ToF16(value: number): number {
  oneFloat[0] = value;
  return f32BitsToF16(oneFloatBits[0]);
}

/** bfloat16 bits of the float32 whose bits are `x`: the top 16 bits, rounded. */
export function f32BitsToBf16(x: number): number {
  if ((x & 0x7f800000) === 0x7f800000 && (x & 0x7fffff) !== 0) return (x >>> 16) | 0x40; // NaN stays a (quiet) NaN
  return ((x >>> 0) + 0x7fff + ((x >>> 16) & 1)) >>> 16;
}

/** Rounds every value of `src` into `dst` as float16 (`dst.length` values). */
export function encodeF16(src: Float32Array, dst: Uint16Array): void {
  const bits = new Uint32Array(src.buffer, src.byteOffset, dst.length);
  for (let i = 0; i < dst.length; i++) dst[i] = f32BitsToF16(bits[i]);
}

/** Rounds every value of `src` into `dst` as bfloat16 (`dst.length` values). */
export function encodeBf16(src: Float32Array, dst: Uint16Array): void {
  const bits = new Uint32Array(src.buffer, src.byteOffset, dst.length);
  for (let i = 0; i < dst.length; i++) dst[i] = f32BitsToBf16(bits[i]);
}
