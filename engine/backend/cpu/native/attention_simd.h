// MLA's absorbed attention (decode and short extends), written once over a vector type and compiled twice:
// attention_avx512.c (16 f32 lanes) and attention_avx2.c (8 lanes). Semantics are latentAttention.ts's
// (attendLatentWasm): per query row i, over its first visible[i] latent rows of the sequence,
//   s_t = scale·(q_lat[i]·c_kv[t] + q_pe[i]·k_pe[t]),  p = softmax(s),  out[i] = Σ_t p_t·c_kv[t]
// with the latents read in place from the cache's pages (a table of chunks, attention_table.h), not copied.
// Shapes: c_kv rows of r (kv_lora_rank, 512 in V2-Lite) and k_pe rows of dr (64) floats, both multiples of 8;
// 576 = 512 + 64 as FlashMLA has it. A call takes query rows [r0, r1) (the threads split the rows, each reading
// every latent); per row group: scores into the row's strip of `scores` [rows, length], softmax there (max,
// exp, sum, normalise, as the TypeScript does), then the weighted sum of each chunk's c_kv while it is in L1.
#include <immintrin.h>
#include <math.h>
#include "attention_table.h"

#define AI static inline __attribute__((always_inline))

#if VEC_BITS == 512
typedef __m512 vf;
#define VL 16
/** Latent rows per score tile and output vectors per value tile: 16 accumulators of the 32 registers. */
#define TILE_TOKENS 4
#define TILE_VECS 4
AI vf vzero(void) { return _mm512_setzero_ps(); }
AI vf vset1(float v) { return _mm512_set1_ps(v); }
AI vf vfma(vf a, vf b, vf c) { return _mm512_fmadd_ps(a, b, c); }
AI vf vmul(vf a, vf b) { return _mm512_mul_ps(a, b); }
AI vf vadd(vf a, vf b) { return _mm512_add_ps(a, b); }
AI vf vsub(vf a, vf b) { return _mm512_sub_ps(a, b); }
AI vf vmax(vf a, vf b) { return _mm512_max_ps(a, b); }
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
/** 8 accumulators of the 16 registers. */
#define TILE_TOKENS 2
#define TILE_VECS 2
AI vf vzero(void) { return _mm256_setzero_ps(); }
AI vf vset1(float v) { return _mm256_set1_ps(v); }
AI vf vfma(vf a, vf b, vf c) { return _mm256_fmadd_ps(a, b, c); }
AI vf vmul(vf a, vf b) { return _mm256_mul_ps(a, b); }
AI vf vadd(vf a, vf b) { return _mm256_add_ps(a, b); }
AI vf vsub(vf a, vf b) { return _mm256_sub_ps(a, b); }
AI vf vmax(vf a, vf b) { return _mm256_max_ps(a, b); }
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
 * e^x for x <= 0 (a score minus its row's max): x = n·ln2 + f, |f| <= ln2/2, e^f by Cephes' degree-6 expf
 * polynomial, times 2^n. Within 2 ulp of e^x (README.md); 0 below -87.3, where e^x is under f32's normal range.
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
  return vzero_below(vldexp(p, vmax(n, vset1(-126.0f))), x, -87.3f);
}

/** Rows of a group: each latent vector loaded once serves this many query rows. */
#define GROUP_ROWS 4

/** Σ_i a[i]·b[i] over `len` floats (a multiple of 8) for R rows of a × T rows of b: dots[t][r]. */
AI void dots(const int R, const int T, const float *a, size_t a_stride, const float *b, size_t b_stride, size_t len,
             float dot[4][GROUP_ROWS]) {
  vf acc[4][GROUP_ROWS];
#pragma GCC unroll 4
  for (int t = 0; t < T; t++)
#pragma GCC unroll 4
    for (int r = 0; r < R; r++) acc[t][r] = vzero();
  size_t i = 0;
  for (; i + VL <= len; i += VL) {
    vf bv[4];
#pragma GCC unroll 4
    for (int t = 0; t < T; t++) bv[t] = vload(b + t * b_stride + i);
#pragma GCC unroll 4
    for (int r = 0; r < R; r++) {
      const vf av = vload(a + r * a_stride + i);
#pragma GCC unroll 4
      for (int t = 0; t < T; t++) acc[t][r] = vfma(av, bv[t], acc[t][r]);
    }
  }
  if (i < len) {
    vf bv[4];
#pragma GCC unroll 4
    for (int t = 0; t < T; t++) bv[t] = vload_n(b + t * b_stride + i, len - i);
#pragma GCC unroll 4
    for (int r = 0; r < R; r++) {
      const vf av = vload_n(a + r * a_stride + i, len - i);
#pragma GCC unroll 4
      for (int t = 0; t < T; t++) acc[t][r] = vfma(av, bv[t], acc[t][r]);
    }
  }
#pragma GCC unroll 4
  for (int t = 0; t < T; t++)
#pragma GCC unroll 4
    for (int r = 0; r < R; r++) dot[t][r] = vsum(acc[t][r]);
}

/** The scaled scores of R rows against one chunk's tokens [0, count): s[r·length + start + t]. */
AI void chunk_scores(const int R, const struct latent_problem *pb, const struct latent_chunk *ch, size_t row,
                     float *s) {
  const size_t r = pb->r, dr = pb->dr;
  const float *ql = pb->q_lat + row * r, *qp = pb->q_pe + row * dr;
  float lat[4][GROUP_ROWS], pe[4][GROUP_ROWS];
  size_t t = 0;
  for (; t < ch->count; t += TILE_TOKENS) {
    const size_t left = ch->count - t;
    const int T = left < TILE_TOKENS ? (int)left : TILE_TOKENS;
    const float *c = ch->c_kv + t * r, *k = ch->k_pe + t * dr;
    // One instantiation per token count, so that the tiles' loops unroll.
    if (T == TILE_TOKENS) {
      dots(R, TILE_TOKENS, ql, r, c, r, r, lat);
      dots(R, TILE_TOKENS, qp, dr, k, dr, dr, pe);
    } else if (T == 1) {
      dots(R, 1, ql, r, c, r, r, lat);
      dots(R, 1, qp, dr, k, dr, dr, pe);
    } else if (T == 2) {
      dots(R, 2, ql, r, c, r, r, lat);
      dots(R, 2, qp, dr, k, dr, dr, pe);
    } else {
      dots(R, 3, ql, r, c, r, r, lat);
      dots(R, 3, qp, dr, k, dr, dr, pe);
    }
    for (int j = 0; j < T; j++)
      for (int g = 0; g < R; g++) s[g * pb->length + ch->start + t + j] = (lat[j][g] + pe[j][g]) * pb->scale;
  }
}

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

/** out[g] += Σ_t p[g, start + t]·c_kv[t] over one chunk, for R rows and NV output vectors from column d. */
AI void chunk_values(const int R, const int NV, const struct latent_problem *pb, const struct latent_chunk *ch,
                     const float *p, float *out, size_t d, size_t last_lanes) {
  const size_t r = pb->r;
  vf acc[GROUP_ROWS][4];
#pragma GCC unroll 4
  for (int g = 0; g < R; g++)
#pragma GCC unroll 4
    for (int v = 0; v < NV; v++) acc[g][v] = v == NV - 1 && last_lanes < VL ? vload_n(out + g * r + d + v * VL, last_lanes) : vload(out + g * r + d + v * VL);
  const float *pr = p + ch->start;
  for (size_t t = 0; t < ch->count; t++) {
    const float *c = ch->c_kv + t * r + d;
    vf cv[4];
#pragma GCC unroll 4
    for (int v = 0; v < NV; v++) cv[v] = v == NV - 1 && last_lanes < VL ? vload_n(c + v * VL, last_lanes) : vload(c + v * VL);
#pragma GCC unroll 4
    for (int g = 0; g < R; g++) {
      const vf pv = vset1(pr[g * pb->length + t]);
#pragma GCC unroll 4
      for (int v = 0; v < NV; v++) acc[g][v] = vfma(pv, cv[v], acc[g][v]);
    }
  }
#pragma GCC unroll 4
  for (int g = 0; g < R; g++)
#pragma GCC unroll 4
    for (int v = 0; v < NV; v++) {
      if (v == NV - 1 && last_lanes < VL) vstore_n(out + g * r + d + v * VL, acc[g][v], last_lanes);
      else vstore(out + g * r + d + v * VL, acc[g][v]);
    }
}

/** One group of R query rows from `row`: scores, softmax, values. */
AI void attend_group(const int R, const struct latent_problem *pb, size_t row) {
  const size_t r = pb->r, length = pb->length;
  float *s = pb->scores + row * length;
  float *out = pb->out + row * r;
  // Tokens past every row's limit get weight 0 anyway: leave them out.
  size_t seen = 0;
  for (int g = 0; g < R; g++) seen = pb->visible[row + g] > seen ? pb->visible[row + g] : seen;
  for (size_t c = 0; c < pb->chunks && pb->table[c].start < seen; c++) chunk_scores(R, pb, &pb->table[c], row, s);
  for (int g = 0; g < R; g++) softmax_row(s + g * length, pb->visible[row + g], length);
  for (int g = 0; g < R; g++)
    for (size_t d = 0; d < r; d++) out[g * r + d] = 0.0f;
  for (size_t c = 0; c < pb->chunks && pb->table[c].start < seen; c++) {
    const struct latent_chunk *ch = &pb->table[c];
    size_t d = 0;
    for (; d + TILE_VECS * VL <= r; d += TILE_VECS * VL) chunk_values(R, TILE_VECS, pb, ch, s, out, d, VL);
    for (; d < r; d += VL) chunk_values(R, 1, pb, ch, s, out, d, r - d < VL ? r - d : VL);
  }
}

static void attend_latent(const struct latent_problem *pb, size_t r0, size_t r1) {
  size_t row = r0;
  for (; row + GROUP_ROWS <= r1; row += GROUP_ROWS) attend_group(GROUP_ROWS, pb, row);
  for (; row < r1; row++) attend_group(1, pb, row);
}
