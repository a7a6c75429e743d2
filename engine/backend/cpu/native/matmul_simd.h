// The native matmul kernels, written once over a vector type and compiled twice: matmul_avx512.c (16 f32 lanes)
// and matmul_avx2.c (8 lanes), each with its own -m flags, so that one binary carries both and addon.c picks one
// at run time. Semantics are matmulWat.ts's exactly; only the summation order differs (see README.md).
//
// out = x·Wᵀ is a dot product per output: a register tile of TILE_TOKENS tokens × TILE_ROWS rows of W keeps
// one vector accumulator per output and walks the columns, each W vector (f16 by vcvtph2ps, bf16 by a shift)
// used by every token of the tile and each x vector by every row, with FMA; the lanes are summed at the end.
// Rows go in blocks of `row_block` (the caller sizes a block to stay in L2), tokens in tiles within a block.
#include <immintrin.h>
#include "kernels.h"

#define AI static inline __attribute__((always_inline))

#if VEC_BITS == 512
typedef __m512 vf;
typedef __mmask16 vmask;
#define VL 16
#define TILE_TOKENS 4
#define TILE_ROWS 4
AI vf vzero(void) { return _mm512_setzero_ps(); }
AI vf vfma(vf a, vf b, vf c) { return _mm512_fmadd_ps(a, b, c); }
AI vf vset1(float v) { return _mm512_set1_ps(v); }
AI vf vload(const float *p) { return _mm512_loadu_ps(p); }
AI void vstore(float *p, vf v) { _mm512_storeu_ps(p, v); }
AI vmask vmask_lanes(size_t lanes) { return (vmask)((1u << lanes) - 1); }
AI vf vload_m(const float *p, vmask m) { return _mm512_maskz_loadu_ps(m, p); }
AI void vstore_m(float *p, vf v, vmask m) { _mm512_mask_storeu_ps(p, m, v); }
AI vf vf16(__m256i h) { return _mm512_cvtph_ps(h); }
AI vf vbf16(__m256i h) { return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16)); }
AI __m256i vhalves(const uint16_t *p) { return _mm256_loadu_si256((const __m256i *)p); }
// 8 halves, upper lanes zero: the tail of a row whose length is 8 mod 16.
AI __m256i vhalves8(const uint16_t *p) { return _mm256_zextsi128_si256(_mm_loadu_si128((const __m128i *)p)); }
AI float vsum(vf a) { return _mm512_reduce_add_ps(a); }
#elif VEC_BITS == 256
typedef __m256 vf;
typedef int vmask; // every width here is a multiple of 8 lanes: no masks needed
#define VL 8
#define TILE_TOKENS 4
#define TILE_ROWS 2
AI vf vzero(void) { return _mm256_setzero_ps(); }
AI vf vfma(vf a, vf b, vf c) { return _mm256_fmadd_ps(a, b, c); }
AI vf vset1(float v) { return _mm256_set1_ps(v); }
AI vf vload(const float *p) { return _mm256_loadu_ps(p); }
AI void vstore(float *p, vf v) { _mm256_storeu_ps(p, v); }
AI vmask vmask_lanes(size_t lanes) { return (vmask)lanes; }
AI vf vload_m(const float *p, vmask m) { (void)m; return _mm256_loadu_ps(p); }
AI void vstore_m(float *p, vf v, vmask m) { (void)m; _mm256_storeu_ps(p, v); }
AI vf vf16(__m128i h) { return _mm256_cvtph_ps(h); }
AI vf vbf16(__m128i h) { return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16)); }
AI __m128i vhalves(const uint16_t *p) { return _mm_loadu_si128((const __m128i *)p); }
AI float vsum(vf a) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}
#else
#error "define VEC_BITS as 512 or 256"
#endif

/** Decode (n = 1): one token against this many rows, independent streams over W. */
#define DECODE_ROWS 4
#define MAX_ROWS 4

/** VL weights of row `w` from column `i`, as f32. */
AI vf load_w(const int dtype, const void *w, size_t i) {
  if (dtype == W_F32) return vload((const float *)w + i);
  if (dtype == W_F16) return vf16(vhalves((const uint16_t *)w + i));
  return vbf16(vhalves((const uint16_t *)w + i));
}

#if VL == 16
/** The last 8 columns of a row whose length is 8 mod 16 (upper lanes zero, as are x's). */
AI vf load_w8(const int dtype, const void *w, size_t i) {
  if (dtype == W_F32) return vload_m((const float *)w + i, 0xff);
  if (dtype == W_F16) return vf16(vhalves8((const uint16_t *)w + i));
  return vbf16(vhalves8((const uint16_t *)w + i));
}
#endif

/**
 * One register tile: out[t, r] for T tokens × R rows, over all `cols` columns. `stream`: every token is in this
 * tile, so W is read once, straight from memory (decode, and a short forward such as an edit's few tokens).
 */
AI void tile(const int dtype, const int T, const int R, const int stream, const float *x, const char *w, size_t w_stride,
             float *out, size_t rows, size_t cols) {
  vf acc[TILE_TOKENS][MAX_ROWS];
#pragma GCC unroll 8
  for (int t = 0; t < T; t++)
#pragma GCC unroll 8
    for (int r = 0; r < R; r++) acc[t][r] = vzero();
  const size_t esize = dtype == W_F32 ? 4 : 2;
  size_t i = 0;
  for (; i + VL <= cols; i += VL) {
    // Streaming reads R rows side by side, too short a stream each for the hardware prefetcher: each step asks for
    // its share of the next tile's bytes (the rows are contiguous), which took weights out of cache from 21 to 31
    // GB/s on one thread. A prefetch past the weights never faults.
    if (stream) for (size_t o = 0; o < R * VL * esize; o += 64) _mm_prefetch(w + R * w_stride + R * esize * i + o, _MM_HINT_T0);
    vf wv[MAX_ROWS];
#pragma GCC unroll 8
    for (int r = 0; r < R; r++) wv[r] = load_w(dtype, w + r * w_stride, i);
#pragma GCC unroll 8
    for (int t = 0; t < T; t++) {
      const vf xv = vload(x + t * cols + i);
#pragma GCC unroll 8
      for (int r = 0; r < R; r++) acc[t][r] = vfma(xv, wv[r], acc[t][r]);
    }
  }
#if VL == 16
  if (i < cols) {
    vf wv[MAX_ROWS];
#pragma GCC unroll 8
    for (int r = 0; r < R; r++) wv[r] = load_w8(dtype, w + r * w_stride, i);
#pragma GCC unroll 8
    for (int t = 0; t < T; t++) {
      const vf xv = vload_m(x + t * cols + i, 0xff);
#pragma GCC unroll 8
      for (int r = 0; r < R; r++) acc[t][r] = vfma(xv, wv[r], acc[t][r]);
    }
  }
#endif
#pragma GCC unroll 8
  for (int t = 0; t < T; t++)
#pragma GCC unroll 8
    for (int r = 0; r < R; r++) out[t * rows + r] = vsum(acc[t][r]);
}

/** Rows [r, r1) of one token tile: tiles of R rows, then single rows. */
AI void sweep(const int dtype, const int T, const int R, const int stream, const float *x, const char *w, size_t w_stride,
              float *out, size_t rows, size_t cols, size_t r, size_t r1) {
  for (; r + R <= r1; r += R) tile(dtype, T, R, stream, x, w + r * w_stride, w_stride, out + r, rows, cols);
  for (; r < r1; r++) tile(dtype, T, 1, stream, x, w + r * w_stride, w_stride, out + r, rows, cols);
}

AI void matmul_dtype(const int dtype, const float *x, const void *w, float *out, size_t n, size_t rows, size_t cols,
                     size_t r0, size_t r1, size_t row_block) {
  const size_t w_stride = cols * (dtype == W_F32 ? 4 : 2);
  if (row_block == 0) row_block = r1 - r0;
  for (size_t b0 = r0; b0 < r1; b0 += row_block) {
    const size_t b1 = r1 - b0 < row_block ? r1 : b0 + row_block;
    for (size_t t0 = 0; t0 < n; t0 += TILE_TOKENS) {
      const float *xt = x + t0 * cols;
      float *ot = out + t0 * rows;
      switch (n - t0 < TILE_TOKENS ? n - t0 : TILE_TOKENS) {
        case 1: sweep(dtype, 1, DECODE_ROWS, 1, xt, w, w_stride, ot, rows, cols, b0, b1); break;
        case 2: sweep(dtype, 2, TILE_ROWS, n == 2, xt, w, w_stride, ot, rows, cols, b0, b1); break;
        case 3: sweep(dtype, 3, TILE_ROWS, n == 3, xt, w, w_stride, ot, rows, cols, b0, b1); break;
        default: sweep(dtype, TILE_TOKENS, TILE_ROWS, n == TILE_TOKENS, xt, w, w_stride, ot, rows, cols, b0, b1); break;
      }
    }
  }
}

static void matmul(int dtype, const float *x, const void *w, float *out, size_t n, size_t rows, size_t cols,
                   size_t r0, size_t r1, size_t row_block) {
  // One instantiation per dtype, so that each tile's decode is folded in.
  if (dtype == W_F16) matmul_dtype(W_F16, x, w, out, n, rows, cols, r0, r1, row_block);
  else if (dtype == W_BF16) matmul_dtype(W_BF16, x, w, out, n, rows, cols, r0, r1, row_block);
  else matmul_dtype(W_F32, x, w, out, n, rows, cols, r0, r1, row_block);
}

/** out = p·W for T tokens (≤ 4) × NV vectors of columns; the last vector takes the lanes in `m_last`. */
AI void nn_tile(const int T, const int NV, const float *p, const float *w, float *out, size_t k, size_t m, vmask m_last) {
  vf a[4][2];
#pragma GCC unroll 8
  for (int t = 0; t < T; t++) a[t][0] = a[t][1] = vzero();
  for (size_t s = 0; s < k; s++) {
    const float *ws = w + s * m;
    const vf w0 = NV == 2 ? vload(ws) : vload_m(ws, m_last);
    const vf w1 = NV == 2 ? vload_m(ws + VL, m_last) : vzero();
#pragma GCC unroll 8
    for (int t = 0; t < T; t++) {
      const vf pv = vset1(p[t * k + s]);
      a[t][0] = vfma(pv, w0, a[t][0]);
      if (NV == 2) a[t][1] = vfma(pv, w1, a[t][1]);
    }
  }
#pragma GCC unroll 8
  for (int t = 0; t < T; t++) {
    if (NV == 2) {
      vstore(out + t * m, a[t][0]);
      vstore_m(out + t * m + VL, a[t][1], m_last);
    } else {
      vstore_m(out + t * m, a[t][0], m_last);
    }
  }
}

AI void nn_columns(const int NV, const float *p, const float *w, float *out, size_t n, size_t k, size_t m, vmask m_last) {
  size_t t = 0;
  for (; t + 4 <= n; t += 4) nn_tile(4, NV, p + t * k, w, out + t * m, k, m, m_last);
  for (; t < n; t++) nn_tile(1, NV, p + t * k, w, out + t * m, k, m, m_last);
}

static void matmul_nn(const float *p, const float *w, float *out, size_t n, size_t k, size_t m, size_t c0, size_t c1) {
  for (size_t c = c0; c < c1;) {
    const size_t left = c1 - c;
    if (left > VL) {
      const size_t width = left < 2 * VL ? left : 2 * VL;
      nn_columns(2, p, w + c, out + c, n, k, m, vmask_lanes(width - VL));
      c += width;
    } else {
      nn_columns(1, p, w + c, out + c, n, k, m, vmask_lanes(left));
      c += left;
    }
  }
}
