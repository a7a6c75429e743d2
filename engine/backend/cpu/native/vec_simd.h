// The vector type the fused kernels (attention_simd.h, activation_simd.h) are written over: 16 f32 lanes when
// VEC_BITS is 512 (AVX-512F), 8 when it is 256 (AVX2), with FMA either way; and e^x on it.
#ifndef LATENT_VEC_SIMD_H
#define LATENT_VEC_SIMD_H
#include <immintrin.h>
#include <math.h>
#include <stddef.h>

#define AI static inline __attribute__((always_inline))

#if VEC_BITS == 512
typedef __m512 vf;
#define VL 16
AI vf vzero(void) { return _mm512_setzero_ps(); }
AI vf vset1(float v) { return _mm512_set1_ps(v); }
AI vf vfma(vf a, vf b, vf c) { return _mm512_fmadd_ps(a, b, c); }
AI vf vmul(vf a, vf b) { return _mm512_mul_ps(a, b); }
AI vf vadd(vf a, vf b) { return _mm512_add_ps(a, b); }
AI vf vsub(vf a, vf b) { return _mm512_sub_ps(a, b); }
AI vf vmax(vf a, vf b) { return _mm512_max_ps(a, b); }
AI vf vdiv(vf a, vf b) { return _mm512_div_ps(a, b); }
/** -|a| */
AI vf vneg_abs(vf a) { return _mm512_castsi512_ps(_mm512_or_si512(_mm512_castps_si512(a), _mm512_set1_epi32((int)0x80000000u))); }
/** t where v >= 0, else f (nan: f). */
AI vf vselect_ge0(vf v, vf t, vf f) { return _mm512_mask_blend_ps(_mm512_cmp_ps_mask(v, _mm512_setzero_ps(), _CMP_GE_OQ), f, t); }
/** The first `lanes` floats at p (the rest zero). */
AI vf vload_n(const float *p, size_t lanes) { return _mm512_maskz_loadu_ps((__mmask16)((1u << lanes) - 1), p); }
AI vf vload(const float *p) { return _mm512_loadu_ps(p); }
AI void vstore(float *p, vf v) { _mm512_storeu_ps(p, v); }
AI void vstore_n(float *p, vf v, size_t lanes) { _mm512_mask_storeu_ps(p, (__mmask16)((1u << lanes) - 1), v); }
AI float vsum(vf a) { return _mm512_reduce_add_ps(a); }
AI float vhmax(vf a) { return _mm512_reduce_max_ps(a); }
AI vf vround(vf a) { return _mm512_roundscale_ps(a, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
/** a·2^n for integral n in [-126, 127]. */
AI vf vldexp(vf a, vf n) { return _mm512_scalef_ps(a, n); }
/** a where x >= lo, else 0. */
AI vf vzero_below(vf a, vf x, float lo) { return _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(x, vset1(lo), _CMP_GE_OQ), a); }
#elif VEC_BITS == 256
typedef __m256 vf;
#define VL 8
AI vf vzero(void) { return _mm256_setzero_ps(); }
AI vf vset1(float v) { return _mm256_set1_ps(v); }
AI vf vfma(vf a, vf b, vf c) { return _mm256_fmadd_ps(a, b, c); }
AI vf vmul(vf a, vf b) { return _mm256_mul_ps(a, b); }
AI vf vadd(vf a, vf b) { return _mm256_add_ps(a, b); }
AI vf vsub(vf a, vf b) { return _mm256_sub_ps(a, b); }
AI vf vmax(vf a, vf b) { return _mm256_max_ps(a, b); }
AI vf vdiv(vf a, vf b) { return _mm256_div_ps(a, b); }
AI vf vneg_abs(vf a) { return _mm256_or_ps(a, _mm256_set1_ps(-0.0f)); }
AI vf vselect_ge0(vf v, vf t, vf f) { return _mm256_blendv_ps(f, t, _mm256_cmp_ps(v, _mm256_setzero_ps(), _CMP_GE_OQ)); }
AI vf vload_n(const float *p, size_t lanes) {
  float tmp[8] = { 0 };
  for (size_t i = 0; i < lanes; i++) tmp[i] = p[i];
  return _mm256_loadu_ps(tmp);
}
AI vf vload(const float *p) { return _mm256_loadu_ps(p); }
AI void vstore(float *p, vf v) { _mm256_storeu_ps(p, v); }
AI void vstore_n(float *p, vf v, size_t lanes) {
  float tmp[8];
  _mm256_storeu_ps(tmp, v);
  for (size_t i = 0; i < lanes; i++) p[i] = tmp[i];
}
AI float vsum(vf a) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}
AI float vhmax(vf a) {
  __m128 s = _mm_max_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
  s = _mm_max_ps(s, _mm_movehl_ps(s, s));
  s = _mm_max_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}
AI vf vround(vf a) { return _mm256_round_ps(a, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
AI vf vldexp(vf a, vf n) {
  const __m256i bits = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
  return _mm256_mul_ps(a, _mm256_castsi256_ps(bits));
}
AI vf vzero_below(vf a, vf x, float lo) { return _mm256_and_ps(a, _mm256_cmp_ps(x, vset1(lo), _CMP_GE_OQ)); }
#else
#error "define VEC_BITS as 512 or 256"
#endif

/**
 * e^x for x <= 0: x = n·ln2 + f, |f| <= ln2/2, e^f by Cephes' degree-6 expf polynomial, times 2^n. Within 2 ulp
 * of e^x (1.26 ulp the worst of every 1e-6 step over [-87.4, 0], both widths); 0 below -87.33654 = ln 2^-126,
 * where e^x leaves f32's normal range (an absolute error under 2^-126).
 */
AI vf vexp(vf x) {
  const vf n = vround(vmul(x, vset1(1.44269504088896341f)));
  vf f = vfma(n, vset1(-0.693359375f), x);
  f = vfma(n, vset1(2.12194440e-4f), f);
  vf p = vset1(1.9875691500e-4f);
  p = vfma(p, f, vset1(1.3981999507e-3f));
  p = vfma(p, f, vset1(8.3334519073e-3f));
  p = vfma(p, f, vset1(4.1665795894e-2f));
  p = vfma(p, f, vset1(1.6666665459e-1f));
  p = vfma(p, f, vset1(5.0000001201e-1f));
  p = vfma(p, vmul(f, f), vadd(f, vset1(1.0f)));
  return vzero_below(vldexp(p, vmax(n, vset1(-126.0f))), x, -87.33654f);
}
#endif
