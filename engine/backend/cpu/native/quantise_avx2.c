// Activation quantisation for the integer-dot kernels on AVX2: quantise_avx512.c's (quantiseActivations.ts's Q8_0
// and Q8_K, after llama.cpp's quantize_row_q8_0_ref / quantize_row_q8_K_ref) on 256-bit vectors, byte for byte:
// every f32 step is the same single rounding, roundf's halves away from zero and nearest_int's halves to even
// included. Compiled with -mavx2 -mf16c -ffp-contract=off.
#include <immintrin.h>
#include "kernels.h"

static inline __m256 abs_ps(__m256 v) { return _mm256_andnot_ps(_mm256_set1_ps(-0.0f), v); }

static inline float max8(__m256 v) {
  __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  m = _mm_max_ps(m, _mm_movehl_ps(m, m));
  return _mm_cvtss_f32(_mm_max_ss(m, _mm_movehdup_ps(m)));
}

/** roundf of each lane (halves away from zero), as an integer. */
static inline __m256i round_away(__m256 t) {
  const __m256 whole = _mm256_round_ps(t, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
  const __m256 away = _mm256_cmp_ps(abs_ps(_mm256_sub_ps(t, whole)), _mm256_set1_ps(0.5f), _CMP_GE_OQ); // frac exact
  const __m256 step = _mm256_or_ps(_mm256_and_ps(t, _mm256_set1_ps(-0.0f)), _mm256_set1_ps(1.0f)); // ±1
  return _mm256_cvttps_epi32(_mm256_blendv_ps(whole, _mm256_add_ps(whole, step), away));
}

/** 32 int32 (each within int8) as 32 bytes, in order. */
static inline __m256i pack32(__m256i a, __m256i b, __m256i c, __m256i d) {
  const __m256i ab = _mm256_packs_epi32(a, b), cd = _mm256_packs_epi32(c, d);
  return _mm256_permutevar8x32_epi32(_mm256_packs_epi16(ab, cd), _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
}

/** Q8_0: per 32 values, d = max|x| / 127, q = roundf(x / d), d stored through f16. */
static void quantise_q8_0(const float *x, uint8_t *dst, size_t n, size_t cols) {
  const size_t stride = cols + cols / 32 * 4;
  for (size_t t = 0; t < n; t++) {
    const float *xr = x + t * cols;
    uint8_t *row = dst + t * stride;
    for (size_t b = 0; b < cols / 32; b++) {
      __m256 v[4], m = _mm256_setzero_ps();
      for (int i = 0; i < 4; i++) m = _mm256_max_ps(m, abs_ps(v[i] = _mm256_loadu_ps(xr + 32 * b + 8 * i)));
      const float d = max8(m) / 127.0f;
      const __m256 id = _mm256_set1_ps(d != 0.0f ? 1.0f / d : 0.0f);
      __m256i q[4];
      for (int i = 0; i < 4; i++) q[i] = round_away(_mm256_mul_ps(v[i], id));
      _mm256_storeu_si256((__m256i *)(row + 32 * b), pack32(q[0], q[1], q[2], q[3]));
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
      __m256 m = _mm256_setzero_ps();
      for (int i = 0; i < 32; i++) m = _mm256_max_ps(m, abs_ps(_mm256_loadu_ps(xb + 8 * i)));
      const float amax = max8(m);
      float d = 0.0f;
      if (amax == 0.0f) {
        __builtin_memset(row + 256 * b, 0, 256);
        __builtin_memset(bsums, 0, sizeof bsums);
      } else {
        float max = 0.0f;
        for (int i = 0; i < 256; i++) {
          if (__builtin_fabsf(xb[i]) == amax) {
            max = xb[i];
            break;
          }
        }
        const float iscale = -127.0f / max;
        for (int i = 0; i < 8; i++) {
          __m256i q[4];
          for (int k = 0; k < 4; k++) {
            q[k] = _mm256_min_epi32(_mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(xb + 32 * i + 8 * k), _mm256_set1_ps(iscale))), _mm256_set1_epi32(127));
          }
          _mm256_storeu_si256((__m256i *)(row + 256 * b + 32 * i), pack32(q[0], q[1], q[2], q[3]));
          for (int h = 0; h < 2; h++) {
            __m256i s = _mm256_add_epi32(q[2 * h], q[2 * h + 1]);
            __m128i s4 = _mm_add_epi32(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1));
            s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, 0x4e));
            s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, 0xb1));
            bsums[2 * i + h] = (int16_t)_mm_cvtsi128_si32(s4);
          }
        }
        d = 1.0f / iscale;
      }
      __builtin_memcpy(row + cols + 4 * b, &d, 4);
      __builtin_memcpy(row + cols + cols / 256 * 4 + 32 * b, bsums, sizeof bsums);
    }
  }
}

const struct quantise_set quantise_avx2 = { quantise_q8_0, quantise_q8_k };
