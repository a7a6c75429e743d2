// MLA's absorbed attention (decode and short extends), written once over a vector type and compiled twice:
// ops_avx512.c (16 f32 lanes) and ops_avx2.c (8 lanes). Semantics are latentAttention.ts's
// (attendLatentWasm): per query row i, over its first visible[i] latent rows of the sequence,
//   s_t = scale·(q_lat[i]·c_kv[t] + q_pe[i]·k_pe[t]),  p = softmax(s),  out[i] = Σ_t p_t·c_kv[t]
// with the latents read in place from the cache's pages (a table of chunks, attention_table.h), not copied.
// Shapes: c_kv rows of r (kv_lora_rank, 512 in V2-Lite) and k_pe rows of dr (64) floats, both multiples of 8;
// 576 = 512 + 64 as FlashMLA has it. A call takes query rows [r0, r1) (the threads split the rows, each reading
// every latent): scores into each row's strip of `scores` [rows, length], softmax there (max, exp, sum,
// normalise, as the TypeScript does), then the weighted sum of c_kv; each sweep chunk by chunk, all rows at once.
#include "attention_table.h"
#include "activation_simd.h"

#if VL == 16
/** Latent rows per score tile and output vectors per value tile: 16 accumulators of the 32 registers. */
#define TILE_TOKENS 4
#define TILE_VECS 4
#else
/** 8 accumulators of the 16 registers. */
#define TILE_TOKENS 2
#define TILE_VECS 2
#endif

/** Rows of a group: each latent vector loaded once serves this many query rows. */
#define GROUP_ROWS 4

/** acc[t][r] += a[r]·b[t] lane-wise over `len` floats (a multiple of 8), for R rows of a × T rows of b. */
AI void dots(const int R, const int T, const float *a, size_t a_stride, const float *b, size_t b_stride, size_t len,
             vf acc[4][GROUP_ROWS]) {
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
}

/**
 * The scores of R rows × T tokens: q_lat·c_kv and q_pe·k_pe into one accumulator per score (one lane sum each),
 * times scale, into s[r·length + t].
 */
AI void score_tile(const int R, const int T, const float *ql, const float *qp, const float *c, const float *k, size_t r,
                   size_t dr, float scale, float *s, size_t length) {
  vf acc[4][GROUP_ROWS];
#pragma GCC unroll 4
  for (int t = 0; t < T; t++)
#pragma GCC unroll 4
    for (int g = 0; g < R; g++) acc[t][g] = vzero();
  dots(R, T, ql, r, c, r, r, acc);
  dots(R, T, qp, dr, k, dr, dr, acc);
#pragma GCC unroll 4
  for (int t = 0; t < T; t++)
#pragma GCC unroll 4
    for (int g = 0; g < R; g++) s[g * length + t] = vsum(acc[t][g]) * scale;
}

/** The scaled scores of R rows against one chunk's tokens [0, count): s[r·length + start + t]. */
AI void chunk_scores(const int R, const struct latent_problem *pb, const struct latent_chunk *ch, size_t row,
                     float *s) {
  const size_t r = pb->r, dr = pb->dr, length = pb->length;
  const float *ql = pb->q_lat + row * r, *qp = pb->q_pe + row * dr;
  for (size_t t = 0; t < ch->count; t += TILE_TOKENS) {
    const size_t left = ch->count - t;
    const float *c = ch->c_kv + t * r, *k = ch->k_pe + t * dr;
    float *st = s + ch->start + t;
    // One instantiation per token count, so that the tiles' loops unroll.
    if (left >= TILE_TOKENS) score_tile(R, TILE_TOKENS, ql, qp, c, k, r, dr, pb->scale, st, length);
    else if (left == 1) score_tile(R, 1, ql, qp, c, k, r, dr, pb->scale, st, length);
    else if (left == 2) score_tile(R, 2, ql, qp, c, k, r, dr, pb->scale, st, length);
    else score_tile(R, 3, ql, qp, c, k, r, dr, pb->scale, st, length);
  }
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

/** Weighted sum of one chunk for R rows from `row`, every output column. */
AI void chunk_values_rows(const int R, const struct latent_problem *pb, const struct latent_chunk *ch, size_t row) {
  const size_t r = pb->r;
  const float *p = pb->scores + row * pb->length;
  float *out = pb->out + row * r;
  size_t d = 0;
  for (; d + TILE_VECS * VL <= r; d += TILE_VECS * VL) chunk_values(R, TILE_VECS, pb, ch, p, out, d, VL);
  for (; d < r; d += VL) chunk_values(R, 1, pb, ch, p, out, d, r - d < VL ? r - d : VL);
}

/**
 * Query rows [r0, r1): scores, softmax, values. Chunks are the outer loop of both sweeps, so that a chunk read
 * from memory serves every row group of the call while it is in L1 (the latents are streamed twice per call).
 */
static void attend_latent(const struct latent_problem *pb, size_t r0, size_t r1) {
  const size_t r = pb->r, length = pb->length;
  // Tokens past every row's limit get weight 0 anyway: leave them out.
  size_t seen = 0;
  for (size_t i = r0; i < r1; i++) seen = pb->visible[i] > seen ? pb->visible[i] : seen;
  for (size_t c = 0; c < pb->chunks && pb->table[c].start < seen; c++) {
    size_t row = r0;
    for (; row + GROUP_ROWS <= r1; row += GROUP_ROWS) chunk_scores(GROUP_ROWS, pb, &pb->table[c], row, pb->scores + row * length);
    for (; row < r1; row++) chunk_scores(1, pb, &pb->table[c], row, pb->scores + row * length);
  }
  for (size_t i = r0; i < r1; i++) softmax_row(pb->scores + i * length, pb->visible[i], length);
  for (size_t i = r0 * r; i < r1 * r; i++) pb->out[i] = 0.0f;
  for (size_t c = 0; c < pb->chunks && pb->table[c].start < seen; c++) {
    size_t row = r0;
    for (; row + GROUP_ROWS <= r1; row += GROUP_ROWS) chunk_values_rows(GROUP_ROWS, pb, &pb->table[c], row);
    for (; row < r1; row++) chunk_values_rows(1, pb, &pb->table[c], row);
  }
}
