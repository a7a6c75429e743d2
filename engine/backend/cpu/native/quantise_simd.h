// Activation quantisation for the integer-dot kernels, written once over vec_simd.h's vector type and compiled
// twice (quantise_avx512.c, quantise_avx2.c): quantiseActivations.ts's Q8_0 and Q8_K (layout and arithmetic there,
// after llama.cpp's quantize_row_q8_0_ref / quantize_row_q8_K_ref), byte for byte: every f32 step is the same
// single rounding, roundf's halves away from zero and nearest_int's halves to even included. Compiled with
// -ffp-contract=off.
#include "vec_simd.h"
#include "kernels.h"

#if VEC_BITS == 512
typedef __m512i vi;
AI vf vabs(vf a) { return _mm512_abs_ps(a); }
/** Bit l set where lane l of a equals b. */
AI unsigned veq_bits(vf a, vf b) { return _mm512_cmp_ps_mask(a, b, _CMP_EQ_OQ); }
/** roundf of each lane (halves away from zero), as an integer. */
AI vi vround_away(vf t) {
  const vf whole = _mm512_roundscale_ps(t, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
  const __mmask16 away = _mm512_cmp_ps_mask(_mm512_abs_ps(_mm512_sub_ps(t, whole)), vset1(0.5f), _CMP_GE_OQ); // frac exact
  const vf step = _mm512_castsi512_ps(_mm512_or_si512(_mm512_and_si512(_mm512_castps_si512(t), _mm512_set1_epi32((int)0x80000000)),
                                                      _mm512_castps_si512(vset1(1.0f)))); // ±1
  return _mm512_cvttps_epi32(_mm512_mask_add_ps(whole, away, whole, step));
}
/** nearest_int of each lane (halves to even), at most 127. */
AI vi vnearest_max127(vf t) {
  return _mm512_min_epi32(_mm512_cvt_roundps_epi32(t, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC), _mm512_set1_epi32(127));
}
/** The lanes (each within int8) as VL bytes at p. */
AI void vstore_i8(uint8_t *p, vi q) { _mm_storeu_si128((__m128i *)p, _mm512_cvtepi32_epi8(q)); }
AI int vsum_i32(vi q) { return _mm512_reduce_add_epi32(q); }
#else
typedef __m256i vi;
AI vf vabs(vf a) { return _mm256_andnot_ps(vset1(-0.0f), a); }
AI unsigned veq_bits(vf a, vf b) { return (unsigned)_mm256_movemask_ps(_mm256_cmp_ps(a, b, _CMP_EQ_OQ)); }
AI vi vround_away(vf t) {
  const vf whole = _mm256_round_ps(t, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
  const vf away = _mm256_cmp_ps(vabs(_mm256_sub_ps(t, whole)), vset1(0.5f), _CMP_GE_OQ); // frac exact
  const vf step = _mm256_or_ps(_mm256_and_ps(t, vset1(-0.0f)), vset1(1.0f)); // ±1
  return _mm256_cvttps_epi32(_mm256_blendv_ps(whole, _mm256_add_ps(whole, step), away));
}
AI vi vnearest_max127(vf t) { return _mm256_min_epi32(_mm256_cvtps_epi32(t), _mm256_set1_epi32(127)); }
AI void vstore_i8(uint8_t *p, vi q) {
  const __m128i h = _mm_packs_epi32(_mm256_castsi256_si128(q), _mm256_extracti128_si256(q, 1));
  _mm_storel_epi64((__m128i *)p, _mm_packs_epi16(h, h));
}
AI int vsum_i32(vi q) {
  __m128i s = _mm_add_epi32(_mm256_castsi256_si128(q), _mm256_extracti128_si256(q, 1));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4e));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xb1));
  return _mm_cvtsi128_si32(s);
}
#endif

/** Q8_0: per 32 values, d = max|x| / 127, q = roundf(x / d), d stored through f16. */
static void quantise_q8_0(const float *x, uint8_t *dst, size_t n, size_t cols) {
  const size_t stride = cols + cols / 32 * 4;
  for (size_t t = 0; t < n; t++) {
    const float *xr = x + t * cols;
    uint8_t *row = dst + t * stride;
    for (size_t b = 0; b < cols / 32; b++) {
      const float *xb = xr + 32 * b;
      vf m = vzero();
      for (int i = 0; i < 32 / VL; i++) m = vmax(m, vabs(vload(xb + VL * i)));
      const float d = vhmax(m) / 127.0f;
      const vf id = vset1(d != 0.0f ? 1.0f / d : 0.0f);
      for (int i = 0; i < 32 / VL; i++) vstore_i8(row + 32 * b + VL * i, vround_away(vmul(vload(xb + VL * i), id)));
      const float stored = _cvtsh_ss(_cvtss_sh(d, _MM_FROUND_TO_NEAREST_INT));
      __builtin_memcpy(row + cols + 4 * b, &stored, 4);
    }
  }
}

/** Q8_K: per 256 values, the x of largest |x| (the first one) sets iscale = −127/max, q = min(127, nearest(iscale·x)), d = 1/iscale; plus the sums of each 16 q. */
static void quantise_q8_k(const float *x, uint8_t *dst, size_t n, size_t cols) {
  const size_t stride = cols + cols / 256 * 4 + cols / 16 * 2;
  for (size_t t = 0; t < n; t++) {
    const float *xr = x + t * cols;
    uint8_t *row = dst + t * stride;
    int16_t bsums[16];
    for (size_t b = 0; b < cols / 256; b++) {
      const float *xb = xr + 256 * b;
      vf m = vzero();
      for (int i = 0; i < 256 / VL; i++) m = vmax(m, vabs(vload(xb + VL * i)));
      const float amax = vhmax(m);
      float d = 0.0f;
      if (amax == 0.0f) {
        __builtin_memset(row + 256 * b, 0, 256);
        __builtin_memset(bsums, 0, sizeof bsums);
      } else {
        float max = 0.0f;
        for (int i = 0; i < 256 / VL; i++) {
          const unsigned at = veq_bits(vabs(vload(xb + VL * i)), vset1(amax));
          if (at) {
            max = xb[VL * i + __builtin_ctz(at)];
            break;
          }
        }
        const float iscale = -127.0f / max;
        for (int g = 0; g < 16; g++) {
          int sum = 0;
          for (int i = 0; i < 16 / VL; i++) {
            const vi q = vnearest_max127(vmul(vload(xb + 16 * g + VL * i), vset1(iscale)));
            vstore_i8(row + 256 * b + 16 * g + VL * i, q);
            sum += vsum_i32(q);
          }
          bsums[g] = (int16_t)sum;
        }
        d = 1.0f / iscale;
      }
      __builtin_memcpy(row + cols + 4 * b, &d, 4);
      __builtin_memcpy(row + cols + cols / 256 * 4 + 32 * b, bsums, sizeof bsums);
    }
  }
}
