// How far the native elementwise kernels (native/activation_simd.h) may be from the TypeScript they replace, per
// output; kernelChoice.ts's self-check and the tests hold them to it.
// - softmax_rows (headAttention.ts's softmax): both round s·scale to f32 (natively with scale in f32: u·|s|) and
//   e^(s - max) (natively s - max in f32: u·|s - max|, then exp within 2 ulp; TypeScript's exp in double, rounded
//   once), so each exponent moves by at most 4u·S, S = the row's max |s·scale|, and each weight by a factor within
//   e^(±8u·S); the sum of L weights (f32 natively, double in TypeScript) and the normalisation add at most
//   (L + 16)·u relative: |p_native - p_ts| <= (e^(8u·S) - 1 + (L + 16)·u)·p, plus 2^-126 where e^(s - max)
//   leaves f32's normal range (0 natively, a subnormal in TypeScript; the sum is at least 1).
// - silu_mul: silu(g)·up = g·σ(g)·up, natively exp (2 ulp), 1 + e, the division and two products in f32 (7u
//   relative at most), in TypeScript in double and rounded once (u): 10u·|silu(g)·up|; below g = -87.3 exp
//   underflows to 0 natively, an absolute error under 100·2^-126·|up|.
const U = 2 ** -24;

export function softmaxAgreementBound(p: number, visible: number, maxAbsScore: number): number {
  return (Math.expm1(8 * U * maxAbsScore) + (visible + 16) * U) * Math.abs(p) + 2 ** -126;
}

export function siluAgreementBound(want: number, up: number): number {
  return 10 * U * Math.abs(want) + 100 * 2 ** -126 * Math.abs(up);
}
