// The elementwise kernels, written over vec_simd.h's vector type: softmax of score rows (latent attention's, and
// the naive path's head attention, headAttention.ts) and SwiGLU's silu(gate)·up (cpuBackend.siluMul). Semantics
// are the TypeScript's; exp is vec_simd.h's (2 ulp), and the bounds are in native/README.md.
#ifndef LATENT_ACTIVATION_SIMD_H
#define LATENT_ACTIVATION_SIMD_H
#include <stdint.h>
#include "vec_simd.h"

/** Softmax of one row's first `visible` scores in place; the rest of the row becomes 0. */
static void softmax_row(float *s, size_t visible, size_t length) {
  vf m = vset1(-INFINITY);
  size_t j = 0;
  for (; j + VL <= visible; j += VL) m = vmax(m, vload(s + j));
  float max = vhmax(m);
  for (; j < visible; j++) max = s[j] > max ? s[j] : max;
  const vf vm = vset1(max);
  vf sum = vzero();
  for (j = 0; j + VL <= visible; j += VL) {
    const vf e = vexp(vsub(vload(s + j), vm));
    vstore(s + j, e);
    sum = vadd(sum, e);
  }
  if (j < visible) {
    // The tail's missing lanes are -inf, whose exp is 0.
    float tail[VL];
    for (size_t k = 0; k < VL; k++) tail[k] = j + k < visible ? s[j + k] : -INFINITY;
    const vf e = vexp(vsub(vload(tail), vm));
    vstore(tail, e);
    for (size_t k = 0; j + k < visible; k++) s[j + k] = tail[k];
    sum = vadd(sum, e);
  }
  const float total = vsum(sum);
  const vf inv = vset1(total > 0 ? 1.0f / total : 0.0f);
  for (j = 0; j + VL <= visible; j += VL) vstore(s + j, vmul(vload(s + j), inv));
  if (j < visible) vstore_n(s + j, vmul(vload_n(s + j, visible - j), inv), visible - j);
  for (j = visible; j < length; j++) s[j] = 0.0f;
}

/** Per row i of s [rows, stride]: its first visible[i] entries times `scale`, then softmax; the rest 0. */
static void softmax_rows(float *s, size_t rows, size_t stride, const int32_t *visible, float scale) {
  const vf vs = vset1(scale);
  for (size_t i = 0; i < rows; i++) {
    float *row = s + i * stride;
    const size_t n = (size_t)visible[i];
    size_t j = 0;
    for (; j + VL <= n; j += VL) vstore(row + j, vmul(vload(row + j), vs));
    for (; j < n; j++) row[j] *= scale;
    softmax_row(row, n, stride);
  }
}

/**
 * g[i] = silu(g[i])·u[i], silu(v) = v·σ(v). σ from e = e^-|v| <= 1, so that exp never overflows: 1/(1 + e) for
 * v >= 0, e/(1 + e) below (a nan takes the second and stays nan).
 */
static void silu_mul(float *g, const float *u, size_t n) {
  size_t i = 0;
  const vf one = vset1(1.0f);
  for (; i < n; i += VL) {
    const size_t lanes = n - i < VL ? n - i : VL;
    const vf v = lanes == VL ? vload(g + i) : vload_n(g + i, lanes);
    const vf up = lanes == VL ? vload(u + i) : vload_n(u + i, lanes);
    const vf e = vexp(vneg_abs(v));
    const vf sigma = vdiv(vselect_ge0(v, one, e), vadd(one, e));
    const vf out = vmul(vmul(v, sigma), up);
    if (lanes == VL) vstore(g + i, out);
    else vstore_n(g + i, out, lanes);
  }
}
#endif
