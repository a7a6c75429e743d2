// Rounding to a binary floating-point format, written from the definition in float64 arithmetic (nearest
// representable value, ties to the even significand, subnormals below the smallest normal, overflow to
// infinity): the reference the float16/bfloat16 encoders are tested against.

export const F16 = { fracBits: 10, minExp: -14, maxFinite: 65504 };
export const BF16 = { fracBits: 7, minExp: -126, maxFinite: (2 - 2 ** -7) * 2 ** 127 };

/** The value `x` rounds to in a binary format with `fracBits` fraction bits and smallest normal exponent `minExp`. */
export function roundToFormat(x: number, f: { fracBits: number; minExp: number; maxFinite: number }): number {
  if (!Number.isFinite(x) || x === 0) return x;
  const a = Math.abs(x);
  let e = Math.floor(Math.log2(a));
  while (2 ** e > a) e--;
  while (2 ** (e + 1) <= a) e++;
  const ulp = 2 ** (Math.max(e, f.minExp) - f.fracBits);
  const q = a / ulp; // exact: a has 24 significant bits and ulp is a power of two
  let r = Math.floor(q);
  const rest = q - r;
  if (rest > 0.5 || (rest === 0.5 && r % 2 === 1)) r++;
  const v = r * ulp;
  return (x < 0 ? -1 : 1) * (v > f.maxFinite ? Infinity : v);
}
