// The integer-dot kernels on AVX2 (no VNNI, no AVX-512: most laptops), for the same contract and the same result,
// bit for bit, as quant_dot_avx512.c and the WASM kernels (quantDotWat.ts); compiled with -mavx2 -mf16c and
// -ffp-contract=off. Integer sums are exact in any order; the f32 steps are the WASM kernels', one rounding each:
// - Q8_0 / Q4_0 / Q5_0 (32-value blocks): WASM lane l (l = 0..3) sums the products of the values whose index mod 8
//   is 2l or 2l+1; here each 16 values are shuffled so that dword l holds lane l's four, the weights made signed
//   (Q4_0 −8, Q5_0 −16), and |w|·sign(x, w) through `vpmaddubsw` then `vpmaddwd` gives the lane sums (a pair is at
//   most 2·128·127, inside i16). Per block acc_l = acc_l + f32(lane_l)·(f16(d)·xd); at the end (l0 + l1) + (l2 + l3).
// - Q4_K / Q5_K / Q6_K (256-value super-blocks): one exact i32 per super-block from `vpmaddubsw` (unsigned weights ×
//   int8 activations) and `vpmaddwd` with the sub-block scales, folded in scalar f32:
//   acc = acc + (f16(d)·xd)·f32(Σ sc·Σ q·x), then acc = acc − (f16(dmin)·xd)·f32(Σ m·bsum) (Q6_K: its −32 offset is
//   in the first sum, through the activations' per-16 sums).
// A tile is 4 tokens × 1 row in prefill (each weight block unpacked once for the 4) and 1 token × 4 rows in decode
// (the token's activation block loaded once for the 4 rows); rows go in blocks of row_block with every token over
// a block before the next. Each block step prefetches its share of the next tile's rows, as the AVX-512 kernels do.
#include <immintrin.h>
#include "kernels.h"
#include "quant_dot_common.h"

AI int32_t hsum8(__m256i v) {
  __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4e));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xb1));
  return _mm_cvtsi128_si32(s);
}

// ---- Q8_0 / Q4_0 / Q5_0 ----

enum { B32_Q8_0, B32_Q4_0, B32_Q5_0 };

/** Within each 16 bytes, dword l gathers bytes 2l, 2l+1, 8+2l, 9+2l: WASM lane l's values among the 16. */
AI __m256i lane_order(__m256i v) {
  const __m256i perm = _mm256_broadcastsi128_si256(_mm_setr_epi8(0, 1, 8, 9, 2, 3, 10, 11, 4, 5, 12, 13, 6, 7, 14, 15));
  return _mm256_shuffle_epi8(v, perm);
}

/** Byte i (0..31) is 0xff where bit i of the 32 bits at p is set. */
AI __m256i bits_to_bytes(const uint8_t *p) {
  uint32_t v;
  __builtin_memcpy(&v, p, 4);
  const __m256i bytes = _mm256_shuffle_epi8(_mm256_set1_epi32((int)v), _mm256_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1,
                                                                                       2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3));
  const __m256i bit = _mm256_set1_epi64x((long long)0x8040201008040201ull);
  return _mm256_cmpeq_epi8(_mm256_and_si256(bytes, bit), bit);
}

/** The block's 32 weights as signed bytes, values 0..31 in order. */
AI __m256i weights32(const int type, const uint8_t *blk) {
  if (type == B32_Q8_0) return _mm256_loadu_si256((const __m256i *)(blk + 2));
  const __m128i v = _mm_loadu_si128((const __m128i *)(blk + (type == B32_Q5_0 ? 6 : 2)));
  const __m128i low4 = _mm_set1_epi8(0x0f);
  __m256i q = _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(v, 4), low4), _mm_and_si128(v, low4));
  if (type == B32_Q5_0) q = _mm256_or_si256(q, _mm256_and_si256(bits_to_bytes(blk + 2), _mm256_set1_epi8(16)));
  return _mm256_sub_epi8(q, _mm256_set1_epi8(type == B32_Q4_0 ? 8 : 16));
}

/** The 4 WASM lane sums of one block: lane-ordered signed weights w against lane-ordered activations x. */
AI __m128i lane_sums(__m256i w, __m256i x) {
  const __m256i pairs = _mm256_maddubs_epi16(_mm256_sign_epi8(w, w), _mm256_sign_epi8(x, w));
  const __m256i quads = _mm256_madd_epi16(pairs, _mm256_set1_epi16(1));
  return _mm_add_epi32(_mm256_castsi256_si128(quads), _mm256_extracti128_si256(quads, 1));
}

/** Outputs (the token, rows 0..R-1) over all blocks. */
AI void tile32(const int type, const int R, const uint8_t *x, const uint8_t *w, size_t ws, float *out, size_t cols) {
  const size_t bb = type == B32_Q8_0 ? 34 : type == B32_Q4_0 ? 18 : 22;
  __m128 acc[4] = { _mm_setzero_ps(), _mm_setzero_ps(), _mm_setzero_ps(), _mm_setzero_ps() };
  for (size_t b = 0; b < cols / 32; b++) {
    prefetch_next_tile(w + R * ws + R * bb * b, R * bb);
    const __m256i xv = lane_order(_mm256_loadu_si256((const __m256i *)(x + 32 * b)));
    const float xd = f32_at(x + cols + 4 * b);
#pragma GCC unroll 4
    for (int r = 0; r < R; r++) {
      const uint8_t *blk = w + r * ws + b * bb;
      const __m128i sums = lane_sums(lane_order(weights32(type, blk)), xv);
      acc[r] = _mm_add_ps(acc[r], _mm_mul_ps(_mm_cvtepi32_ps(sums), _mm_set1_ps(half_at(blk) * xd)));
    }
  }
#pragma GCC unroll 4
  for (int r = 0; r < R; r++) {
    float a[4];
    _mm_storeu_ps(a, acc[r]);
    out[r] = (a[0] + a[1]) + (a[2] + a[3]);
  }
}

/** Outputs (tokens 0..T-1, one row) over all blocks (prefill: each weight block unpacked once for T tokens). */
AI void tile32_tokens(const int type, const int T, const uint8_t *x, size_t ts, const uint8_t *w, float *out, size_t rows, size_t cols) {
  const size_t nb = cols / 32, bb = type == B32_Q8_0 ? 34 : type == B32_Q4_0 ? 18 : 22;
  __m128 acc[4] = { _mm_setzero_ps(), _mm_setzero_ps(), _mm_setzero_ps(), _mm_setzero_ps() };
  for (size_t b = 0; b < nb; b++) {
    prefetch_next_tile(w + nb * bb + bb * b, bb);
    const uint8_t *blk = w + b * bb;
    const __m256i wv = lane_order(weights32(type, blk));
    const float wd = half_at(blk);
#pragma GCC unroll 4
    for (int t = 0; t < T; t++) {
      const uint8_t *xt = x + t * ts;
      const __m128i sums = lane_sums(wv, lane_order(_mm256_loadu_si256((const __m256i *)(xt + 32 * b))));
      acc[t] = _mm_add_ps(acc[t], _mm_mul_ps(_mm_cvtepi32_ps(sums), _mm_set1_ps(wd * f32_at(xt + cols + 4 * b))));
    }
  }
#pragma GCC unroll 4
  for (int t = 0; t < T; t++) {
    float a[4];
    _mm_storeu_ps(a, acc[t]);
    out[t * rows] = (a[0] + a[1]) + (a[2] + a[3]);
  }
}

// ---- Q4_K / Q5_K / Q6_K ----

enum { K_Q4_K, K_Q5_K, K_Q6_K };

/**
 * Σ sc·Σ q·x (Q6_K: with its −32 offset) and Σ m·bsum of one super-block (blk, block b of its row) against each of
 * T (≤ 4) tokens (x, stride ts): the block is unpacked once for the T tokens.
 */
AI void dot_super_block(const int type, const int T, const uint8_t *blk, const uint8_t *x, size_t ts, size_t b, size_t cols,
                        int32_t isum[4], int32_t summs[4]) {
  const size_t nb = cols / 256;
  const __m256i low4 = _mm256_set1_epi8(0x0f);
  __m256i acc[4];
#pragma GCC unroll 4
  for (int t = 0; t < T; t++) acc[t] = _mm256_setzero_si256();
#define XQ(t) (x + (t) * ts + 256 * b)
#define BSUMS(t) (x + (t) * ts + cols + 4 * nb + 32 * b)
  if (type == K_Q6_K) {
    // ql [128], qh [64], int8 scales [16] (one per 16 values), f16 d. Value 128c + 32h + l: the nibble of
    // ql[64c + 32(h&1) + l] (low for h < 2) with bits 2h, 2h+1 of qh[32c + l] above.
    const __m256i sc = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(blk + 192)));
    for (int c = 0; c < 2; c++) {
      const __m256i qh = _mm256_loadu_si256((const __m256i *)(blk + 128 + 32 * c));
      for (int h = 0; h < 4; h++) {
        const __m256i ql = _mm256_loadu_si256((const __m256i *)(blk + 64 * c + 32 * (h & 1)));
        const __m256i lo = h < 2 ? _mm256_and_si256(ql, low4) : _mm256_and_si256(_mm256_srli_epi16(ql, 4), low4);
        const __m256i hi = _mm256_and_si256(_mm256_slli_epi16(_mm256_srli_epi16(qh, 2 * h), 4), _mm256_set1_epi8(0x30));
        const __m256i q = _mm256_or_si256(lo, hi);
        const int g = 8 * c + 2 * h; // the scale groups of these 32 values: g, g + 1
        const __m256i scales = _mm256_setr_m128i(_mm_set1_epi16((short)(int8_t)blk[192 + g]), _mm_set1_epi16((short)(int8_t)blk[192 + g + 1]));
#pragma GCC unroll 4
        for (int t = 0; t < T; t++) {
          const __m256i pairs = _mm256_maddubs_epi16(q, _mm256_loadu_si256((const __m256i *)(XQ(t) + 128 * c + 32 * h)));
          acc[t] = _mm256_add_epi32(acc[t], _mm256_madd_epi16(pairs, scales));
        }
      }
    }
    const __m256i offsets = _mm256_mullo_epi16(sc, _mm256_set1_epi16(-32));
#pragma GCC unroll 4
    for (int t = 0; t < T; t++) {
      isum[t] = hsum8(_mm256_add_epi32(acc[t], _mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)BSUMS(t)), offsets)));
      summs[t] = 0;
    }
    return;
  }
  // Q4_K/Q5_K: f16 d, f16 dmin, 12 bytes of 6-bit scales and mins, [Q5_K: 32 bytes of fifth bits], 128 bytes of
  // nibbles (32 bytes per pair of sub-blocks: low nibbles sub-block 2p, high 2p+1). Scales as get_scale_min_k4.
  uint32_t s[4];
  kquant_scales_mins(blk + 4, s);
  const uint8_t *sm = (const uint8_t *)s; // sc0..sc7, m0..m7
  const uint8_t *qs = blk + (type == K_Q4_K ? 16 : 48);
  const __m256i qh = type == K_Q5_K ? _mm256_loadu_si256((const __m256i *)(blk + 16)) : _mm256_setzero_si256();
  for (int p = 0; p < 4; p++) {
    const __m256i bits = _mm256_loadu_si256((const __m256i *)(qs + 32 * p));
    __m256i lo = _mm256_and_si256(bits, low4), hi = _mm256_and_si256(_mm256_srli_epi16(bits, 4), low4);
    if (type == K_Q5_K) {
      // Sub-block j's fifth bit is bit j of qh[l].
      const __m256i one = _mm256_set1_epi8(1);
      lo = _mm256_or_si256(lo, _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 2 * p), one), 4));
      hi = _mm256_or_si256(hi, _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 2 * p + 1), one), 4));
    }
    const __m256i slo = _mm256_set1_epi16(sm[2 * p]), shi = _mm256_set1_epi16(sm[2 * p + 1]);
#pragma GCC unroll 4
    for (int t = 0; t < T; t++) {
      const __m256i plo = _mm256_maddubs_epi16(lo, _mm256_loadu_si256((const __m256i *)(XQ(t) + 64 * p)));
      const __m256i phi = _mm256_maddubs_epi16(hi, _mm256_loadu_si256((const __m256i *)(XQ(t) + 64 * p + 32)));
      acc[t] = _mm256_add_epi32(acc[t], _mm256_add_epi32(_mm256_madd_epi16(plo, slo), _mm256_madd_epi16(phi, shi)));
    }
  }
  // Σ m_j · (bsum 2j + bsum 2j+1): each min against its pair of 16-sums.
  const __m256i mins = _mm256_cvtepu8_epi16(_mm_shuffle_epi8(_mm_loadl_epi64((const __m128i *)(sm + 8)),
                                                             _mm_setr_epi8(0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7)));
#pragma GCC unroll 4
  for (int t = 0; t < T; t++) {
    isum[t] = hsum8(acc[t]);
    summs[t] = hsum8(_mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)BSUMS(t)), mins));
  }
#undef XQ
#undef BSUMS
}

/** acc = acc + (f16(d)·xd)·f32(isum), then acc − (f16(dmin)·xd)·f32(summs) (not for Q6_K), as the WASM fold. */
AI float fold_k(const int type, float acc, const uint8_t *blk, float xd, int32_t isum, int32_t summs) {
  acc = acc + (half_at(type == K_Q6_K ? blk + 208 : blk) * xd) * (float)isum;
  if (type != K_Q6_K) acc = acc - (half_at(blk + 2) * xd) * (float)summs;
  return acc;
}

/** Outputs (the token, rows 0..R-1) over all super-blocks (decode). */
AI void tile_k(const int type, const int R, const uint8_t *x, const uint8_t *w, size_t ws, float *out, size_t cols) {
  const size_t nb = cols / 256, bb = type == K_Q4_K ? 144 : type == K_Q5_K ? 176 : 210;
  float acc[4] = { 0, 0, 0, 0 };
  for (size_t b = 0; b < nb; b++) {
    prefetch_next_tile(w + R * ws + R * bb * b, R * bb);
    const float xd = f32_at(x + cols + 4 * b);
#pragma GCC unroll 4
    for (int r = 0; r < R; r++) {
      const uint8_t *blk = w + r * ws + b * bb;
      int32_t isum[4], summs[4];
      dot_super_block(type, 1, blk, x, 0, b, cols, isum, summs);
      acc[r] = fold_k(type, acc[r], blk, xd, isum[0], summs[0]);
    }
  }
#pragma GCC unroll 4
  for (int r = 0; r < R; r++) out[r] = acc[r];
}

/** Outputs (tokens 0..T-1, one row) over all super-blocks (prefill: the row's blocks unpacked once for T tokens). */
AI void tile_k_tokens(const int type, const int T, const uint8_t *x, size_t ts, const uint8_t *w, float *out, size_t rows, size_t cols) {
  const size_t nb = cols / 256, bb = type == K_Q4_K ? 144 : type == K_Q5_K ? 176 : 210;
  float acc[4] = { 0, 0, 0, 0 };
  for (size_t b = 0; b < nb; b++) {
    prefetch_next_tile(w + nb * bb + bb * b, bb);
    const uint8_t *blk = w + b * bb;
    int32_t isum[4], summs[4];
    dot_super_block(type, T, blk, x, ts, b, cols, isum, summs);
#pragma GCC unroll 4
    for (int t = 0; t < T; t++) acc[t] = fold_k(type, acc[t], blk, f32_at(x + t * ts + cols + 4 * b), isum[t], summs[t]);
  }
#pragma GCC unroll 4
  for (int t = 0; t < T; t++) out[t * rows] = acc[t];
}

// ---- rows and tokens ----

/** Rows in blocks of row_block; per block, tiles of 4 tokens × 1 row, then the last 1-3 tokens each over 1 × 4 rows. */
#define DOT_ROWS(name, tile_tokens, tile_rows, type, block_values, block_bytes, x_row)                                  \
  static void name(const uint8_t *x, const uint8_t *w, float *out, size_t n, size_t rows, size_t cols, size_t r0,     \
                   size_t r1, size_t row_block, void *scratch) {                                                        \
    (void)scratch;                                                                                                      \
    const size_t ws = cols / (block_values) * (block_bytes), ts = (x_row);                                             \
    if (row_block == 0) row_block = r1 - r0;                                                                            \
    for (size_t b0 = r0; b0 < r1; b0 += row_block) {                                                                    \
      const size_t b1 = r1 - b0 < row_block ? r1 : b0 + row_block;                                                      \
      size_t t = 0;                                                                                                     \
      for (; t + 4 <= n; t += 4)                                                                                        \
        for (size_t r = b0; r < b1; r++) tile_tokens(type, 4, x + t * ts, ts, w + r * ws, out + t * rows + r, rows, cols); \
      for (; t < n; t++) {                                                                                              \
        size_t r = b0;                                                                                                  \
        for (; r + 4 <= b1; r += 4) tile_rows(type, 4, x + t * ts, w + r * ws, ws, out + t * rows + r, cols);           \
        for (; r < b1; r++) tile_rows(type, 1, x + t * ts, w + r * ws, ws, out + t * rows + r, cols);                   \
      }                                                                                                                 \
    }                                                                                                                   \
  }

#define Q8_0_ROW(cols) ((cols) + (cols) / 32 * 4)
#define Q8_K_ROW(cols) ((cols) + (cols) / 256 * 4 + (cols) / 16 * 2)
DOT_ROWS(dot_q8_0, tile32_tokens, tile32, B32_Q8_0, 32, 34, Q8_0_ROW(cols))
DOT_ROWS(dot_q4_0, tile32_tokens, tile32, B32_Q4_0, 32, 18, Q8_0_ROW(cols))
DOT_ROWS(dot_q5_0, tile32_tokens, tile32, B32_Q5_0, 32, 22, Q8_0_ROW(cols))
DOT_ROWS(dot_q4_k, tile_k_tokens, tile_k, K_Q4_K, 256, 144, Q8_K_ROW(cols))
DOT_ROWS(dot_q5_k, tile_k_tokens, tile_k, K_Q5_K, 256, 176, Q8_K_ROW(cols))
DOT_ROWS(dot_q6_k, tile_k_tokens, tile_k, K_Q6_K, 256, 210, Q8_K_ROW(cols))

const struct dot_kernel_set dot_kernels_avx2 = { { dot_q8_0, dot_q4_0, dot_q4_k, dot_q5_k, dot_q6_k, dot_q5_0 } };
