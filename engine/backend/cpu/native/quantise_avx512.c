// Activation quantisation for the integer-dot kernels, on AVX-512: quantiseActivations.ts's Q8_0 and Q8_K
// (layout and arithmetic there, after llama.cpp's quantize_row_q8_0_ref / quantize_row_q8_K_ref), byte for byte:
// every f32 step is the same single rounding, roundf's halves away from zero and nearest_int's halves to even
// included. Compiled with -mavx512f -mavx512bw -mf16c -ffp-contract=off.
#include <immintrin.h>
#include "kernels.h"

/** roundf of each lane (halves away from zero), as an integer. */
static inline __m512i round_away(__m512 t) {
  const __m512 whole = _mm512_roundscale_ps(t, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
  const __m512 frac = _mm512_sub_ps(t, whole); // exact
  const __mmask16 away = _mm512_cmp_ps_mask(_mm512_abs_ps(frac), _mm512_set1_ps(0.5f), _CMP_GE_OQ);
  const __m512i sign = _mm512_and_si512(_mm512_castps_si512(t), _mm512_set1_epi32((int)0x80000000));
  const __m512 step = _mm512_castsi512_ps(_mm512_or_si512(sign, _mm512_castps_si512(_mm512_set1_ps(1.0f)))); // ±1
  return _mm512_cvttps_epi32(_mm512_mask_add_ps(whole, away, whole, step));
}

/** Q8_0: per 32 values, d = max|x| / 127, q = roundf(x / d), d stored through f16. */
static void quantise_q8_0(const float *x, uint8_t *dst, size_t n, size_t cols) {
  const size_t stride = cols + cols / 32 * 4;
  for (size_t t = 0; t < n; t++) {
    const float *xr = x + t * cols;
    uint8_t *row = dst + t * stride;
    for (size_t b = 0; b < cols / 32; b++) {
      const __m512 v0 = _mm512_loadu_ps(xr + 32 * b), v1 = _mm512_loadu_ps(xr + 32 * b + 16);
      const float amax = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_abs_ps(v0), _mm512_abs_ps(v1)));
      const float d = amax / 127.0f;
      const float id = d != 0.0f ? 1.0f / d : 0.0f;
      _mm_storeu_si128((__m128i *)(row + 32 * b), _mm512_cvtepi32_epi8(round_away(_mm512_mul_ps(v0, _mm512_set1_ps(id)))));
      _mm_storeu_si128((__m128i *)(row + 32 * b + 16), _mm512_cvtepi32_epi8(round_away(_mm512_mul_ps(v1, _mm512_set1_ps(id)))));
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
      __m512 m = _mm512_setzero_ps();
      for (int i = 0; i < 16; i++) m = _mm512_max_ps(m, _mm512_abs_ps(_mm512_loadu_ps(xb + 16 * i)));
      const float amax = _mm512_reduce_max_ps(m);
      float d = 0.0f;
      if (amax == 0.0f) {
        __builtin_memset(row + 256 * b, 0, 256);
        __builtin_memset(bsums, 0, sizeof bsums);
      } else {
        float max = 0.0f;
        for (int i = 0; i < 16; i++) {
          const __m512 v = _mm512_loadu_ps(xb + 16 * i);
          const __mmask16 at = _mm512_cmp_ps_mask(_mm512_abs_ps(v), _mm512_set1_ps(amax), _CMP_EQ_OQ);
          if (at) {
            max = xb[16 * i + __builtin_ctz(at)];
            break;
          }
        }
        const float iscale = -127.0f / max;
        for (int i = 0; i < 16; i++) {
          const __m512 v = _mm512_mul_ps(_mm512_loadu_ps(xb + 16 * i), _mm512_set1_ps(iscale));
          const __m512i q = _mm512_min_epi32(_mm512_cvt_roundps_epi32(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC), _mm512_set1_epi32(127));
          _mm_storeu_si128((__m128i *)(row + 256 * b + 16 * i), _mm512_cvtepi32_epi8(q));
          bsums[i] = (int16_t)_mm512_reduce_add_epi32(q);
        }
        d = 1.0f / iscale;
      }
      __builtin_memcpy(row + cols + 4 * b, &d, 4);
      __builtin_memcpy(row + cols + cols / 256 * 4 + 32 * b, bsums, sizeof bsums);
    }
  }
}

const struct quantise_set quantise_avx512 = { quantise_q8_0, quantise_q8_k };
