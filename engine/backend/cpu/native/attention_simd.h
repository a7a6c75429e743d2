// MLA's absorbed attention (decode and short extends), written once over a vector type and compiled twice:
// ops_avx512.c (16 f32 lanes) and ops_avx2.c (8 lanes). Semantics are latentAttention.ts's
// (attendLatentWasm): per query row i, over its first visible[i] latent rows of the sequence,
//   s_t = scale·(q_lat[i]·c_kv[t] + q_pe[i]·k_pe[t]),  p = softmax(s),  out[i] = Σ_t p_t·c_kv[t]
// with the latents read in place from the cache's pages (a table of chunks, attention_table.h), not copied.
// Shapes: c_kv rows of r (kv_lora_rank, 512 in V2-Lite) and k_pe rows of dr (64) floats, both multiples of 8;
// 576 = 512 + 64 as FlashMLA has it. A call takes query rows [r0, r1) (the threads split the rows, each reading
// every latent); per row group: scores into the row's strip of `scores` [rows, length], softmax there (max,
// exp, sum, normalise, as the TypeScript does), then the weighted sum of each chunk's c_kv while it is in L1.
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
