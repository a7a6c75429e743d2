// The integer-dot kernels over GGML block-quantised weights and quantised activations (quantDotWat.ts's
// contract and arithmetic), on AVX-512 BW + VNNI; compiled with -mavx512f -mavx512bw -mavx512vl -mavx512vnni
// -mf16c and -ffp-contract=off, as every f32 operation here must be the WASM kernel's, one rounding each.
//
// Integer sums are exact in any order, so they are free to use the wide instructions; only the f32 part follows
// the WASM kernels operation for operation, which makes the two bit-identical:
// - Q8_0 / Q4_0 / Q5_0 (32-value blocks): WASM keeps 4 i32 lanes per block, lane l holding the products of the
//   values whose index mod 8 is 2l or 2l+1, converts them to f32 and adds f32(lane)·(f16(wd)·xd) into 4 f32
//   lanes, summed (l0 + l1) + (l2 + l3) at the end. Here each 16 bytes of weights and activations are shuffled
//   so that dword l holds lane l's 4 of them (`lane_order`), and two `vpdpbusd` per block give all 4 lane sums
//   of 4 outputs at once (one output per 128-bit chunk); the same f32 steps follow, 4 outputs × 4 lanes per zmm.
// - Q4_K / Q5_K / Q6_K (256-value super-blocks): WASM folds one exact i32 per super-block in scalar f32,
//   acc = acc + (f16(d)·xd)·f32(Σ sc·Σ q·x), and for the mins acc = acc − (f16(dmin)·xd)·f32(Σ m·bsum); here
//   the i32 comes from `vpmaddubsw` (unsigned weights × int8 activations) and `vpdpwssd` with the sub-block
//   scales, and the fold runs on 4 outputs' lanes at once. Q6_K's −32 offset goes through the activation's
//   per-16 sums (Σ (q − 32)·x = Σ q·x − 32·bsum), so the weights stay unsigned.
// A tile is T tokens × R rows: 8 × 1 in prefill (a row's weights unpacked once for 8 tokens), 1 × 4 in decode (an
// activation block loaded once for 4 rows), smaller at the tails; unused outputs compute zeros never stored. The
// 32-value kernels first lay each tile's activations out for `vpdpbusd` (struct x32_block, in a scratch the
// caller provides).
#include <immintrin.h>
#include "kernels.h"
#include "quant_dot_common.h"

/** [Σ a, Σ b, Σ c, Σ d] of four vectors of 16 i32. */
AI __m128i sum4x16(__m512i a, __m512i b, __m512i c, __m512i d) {
  const __m512i ab = _mm512_add_epi32(_mm512_unpacklo_epi32(a, b), _mm512_unpackhi_epi32(a, b));
  const __m512i cd = _mm512_add_epi32(_mm512_unpacklo_epi32(c, d), _mm512_unpackhi_epi32(c, d));
  const __m512i s = _mm512_add_epi32(_mm512_unpacklo_epi64(ab, cd), _mm512_unpackhi_epi64(ab, cd));
  const __m256i h = _mm256_add_epi32(_mm512_castsi512_si256(s), _mm512_extracti64x4_epi64(s, 1));
  return _mm_add_epi32(_mm256_castsi256_si128(h), _mm256_extracti128_si256(h, 1));
}

/** [Σ a, Σ b, Σ c, Σ d] of four vectors of 8 i32. */
AI __m128i sum4x8(__m256i a, __m256i b, __m256i c, __m256i d) {
  const __m256i ab = _mm256_add_epi32(_mm256_unpacklo_epi32(a, b), _mm256_unpackhi_epi32(a, b));
  const __m256i cd = _mm256_add_epi32(_mm256_unpacklo_epi32(c, d), _mm256_unpackhi_epi32(c, d));
  const __m256i s = _mm256_add_epi32(_mm256_unpacklo_epi64(ab, cd), _mm256_unpackhi_epi64(ab, cd));
  return _mm_add_epi32(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1));
}

// ---- Q8_0 / Q4_0 / Q5_0: 32-value blocks against Q8_0 activations ----

enum { B32_Q8_0, B32_Q4_0, B32_Q5_0 };

/**
 * Within each 16 bytes, dword l gathers the bytes 2l, 2l+1, 8+2l, 9+2l: the values of WASM lane l among the 16,
 * so that one `vpdpbusd` sums each lane's products of half a block.
 */
AI __m512i lane_order(__m512i v) {
  const __m512i perm = _mm512_broadcast_i32x4(_mm_setr_epi8(0, 1, 8, 9, 2, 3, 10, 11, 4, 5, 12, 13, 6, 7, 14, 15));
  return _mm512_shuffle_epi8(v, perm);
}

/**
 * A block of 4 tokens' activations, prepared once per token tile for every row: each 16-byte chunk o is token o's
 * values 0..15 (lo) or 16..31 (hi) in lane order (Q8_0: plus 128, the unsigned operand), `offset` is −8 or −16
 * times each lane's Σ x (Q4_0/Q5_0, whose weights are unsigned with that offset), d the scale ×4.
 */
struct x32_block {
  uint8_t lo[64], hi[64];
  int32_t offset[16];
  float d[16];
};

/** Tokens per tile in prefill: two x32_blocks per block, the weights unpacked once for both. */
#define TILE32_TOKENS 8

/**
 * Blocks [b0, b1) of the T (≤ 8) tokens at x into x32_blocks, block b's group g (tokens 4g..4g+3) at
 * xb[2(b − b0) + g] (absent tokens zero).
 */
AI void prepare_x32(const int type, const int T, const uint8_t *x, size_t ts, size_t cols, size_t b0, size_t b1,
                    struct x32_block *xb) {
  const __m128i perm = _mm_setr_epi8(0, 1, 8, 9, 2, 3, 10, 11, 4, 5, 12, 13, 6, 7, 14, 15);
  const __m128i ones = _mm_set1_epi8(1), flip = _mm_set1_epi8((char)0x80);
  const int offset = type == B32_Q4_0 ? -8 : -16;
  for (size_t b = b0; b < b1; b++) {
    __builtin_memset(&xb[2 * (b - b0)], 0, (T > 4 ? 2 : 1) * sizeof xb[0]);
    for (int t = 0; t < T; t++) {
      struct x32_block *g = &xb[2 * (b - b0) + t / 4];
      const int o = t % 4;
      const uint8_t *q = x + t * ts + 32 * b;
      const __m128i lo = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)q), perm);
      const __m128i hi = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(q + 16)), perm);
      _mm_storeu_si128((__m128i *)(g->lo + 16 * o), type == B32_Q8_0 ? _mm_xor_si128(lo, flip) : lo);
      _mm_storeu_si128((__m128i *)(g->hi + 16 * o), type == B32_Q8_0 ? _mm_xor_si128(hi, flip) : hi);
      if (type != B32_Q8_0) {
        const __m128i sum = _mm_dpbusd_epi32(_mm_dpbusd_epi32(_mm_setzero_si128(), ones, lo), ones, hi);
        _mm_storeu_si128((__m128i *)(g->offset + 4 * o), _mm_mullo_epi32(sum, _mm_set1_epi32(offset)));
      }
      _mm_storeu_ps(g->d + 4 * o, _mm_set1_ps(f32_at(x + t * ts + cols + 4 * b)));
    }
  }
}

/** 16 bytes at `at` of each of R rows (stride ws), one per chunk (R = 1: in every chunk). */
AI __m512i row_chunks(const int R, const uint8_t *at, size_t ws) {
  if (R == 1) return _mm512_broadcast_i32x4(_mm_loadu_si128((const __m128i *)at));
  __m512i v = _mm512_castsi128_si512(_mm_loadu_si128((const __m128i *)at));
  v = _mm512_inserti32x4(v, _mm_loadu_si128((const __m128i *)(at + ws)), 1);
  v = _mm512_inserti32x4(v, _mm_loadu_si128((const __m128i *)(at + 2 * ws)), 2);
  return _mm512_inserti32x4(v, _mm_loadu_si128((const __m128i *)(at + 3 * ws)), 3);
}

/** The 16-bit halves of qh (lo: values 0..15, hi: 16..31) of each chunk's row, as a byte mask. */
AI __mmask64 fifth_bits(const int R, const uint8_t *qh, size_t ws, int hi) {
  uint64_t k = 0;
  for (int r = 0; r < (R == 1 ? 1 : 4); r++) {
    uint32_t v;
    __builtin_memcpy(&v, qh + r * ws, 4);
    k |= (uint64_t)(hi ? v >> 16 : v & 0xffff) << (16 * r);
  }
  return R == 1 ? k * 0x0001000100010001ull : k;
}

/**
 * Outputs (token 4g + o, the row) for chunk o of accumulator g when T = 4 or 8, R = 1; (the token, row o) when
 * T = 1, R = 4 (T = R = 1: chunk 0).
 */
AI void tile32_blocks(const int type, const int T, const int R, const struct x32_block *xb, const uint8_t *w, size_t ws,
                      size_t b0, size_t b1, __m512 acc[2]) {
  const int G = T == 8 ? 2 : 1;
  const size_t bb = type == B32_Q8_0 ? 34 : type == B32_Q4_0 ? 18 : 22;
  const __m512i low4 = _mm512_set1_epi8(0x0f);
  for (size_t b = b0; b < b1; b++) {
    const uint8_t *blk = w + b * bb;
    prefetch_next_tile(w + R * ws + R * bb * b, R * bb);
    // The weights of the block, unpacked once for every token: lane-ordered halves (and Q8_0's −128·Σ w).
    __m512i wlo, whi, bias = _mm512_setzero_si512();
    if (type == B32_Q8_0) {
      wlo = lane_order(row_chunks(R, blk + 2, ws));
      whi = lane_order(row_chunks(R, blk + 18, ws));
      const __m512i c128 = _mm512_set1_epi8((char)0x80);
      bias = _mm512_sub_epi32(_mm512_setzero_si512(), _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(_mm512_setzero_si512(), c128, wlo), c128, whi));
    } else {
      const __m512i v = row_chunks(R, blk + (type == B32_Q5_0 ? 6 : 2), ws);
      __m512i qlo = _mm512_and_si512(v, low4), qhi = _mm512_and_si512(_mm512_srli_epi16(v, 4), low4);
      if (type == B32_Q5_0) {
        const __m512i sixteen = _mm512_set1_epi8(16);
        qlo = _mm512_mask_add_epi8(qlo, fifth_bits(R, blk + 2, ws, 0), qlo, sixteen);
        qhi = _mm512_mask_add_epi8(qhi, fifth_bits(R, blk + 2, ws, 1), qhi, sixteen);
      }
      wlo = lane_order(qlo);
      whi = lane_order(qhi);
    }
    // f16(wd) per output, in its 4 lanes.
    __m512 wd;
    if (R == 1) {
      wd = _mm512_cvtph_ps(_mm256_set1_epi16((short)(blk[0] | blk[1] << 8)));
    } else {
      const __m128i h = _mm_setr_epi16((short)(blk[0] | blk[1] << 8), (short)(blk[ws] | blk[ws + 1] << 8),
                                       (short)(blk[2 * ws] | blk[2 * ws + 1] << 8), (short)(blk[3 * ws] | blk[3 * ws + 1] << 8), 0, 0, 0, 0);
      wd = _mm512_permutexvar_ps(_mm512_set_epi32(3, 3, 3, 3, 2, 2, 2, 2, 1, 1, 1, 1, 0, 0, 0, 0), _mm512_castps128_ps512(_mm_cvtph_ps(h)));
    }
#pragma GCC unroll 2
    for (int g = 0; g < G; g++) {
      const struct x32_block *xv = &xb[2 * (b - b0) + g];
      const __m512i xlo = T > 1 ? _mm512_loadu_si512(xv->lo) : _mm512_broadcast_i32x4(_mm_loadu_si128((const __m128i *)xv->lo));
      const __m512i xhi = T > 1 ? _mm512_loadu_si512(xv->hi) : _mm512_broadcast_i32x4(_mm_loadu_si128((const __m128i *)xv->hi));
      __m512i isum;
      if (type == B32_Q8_0) {
        // Σ (x + 128)·w − 128·Σ w, lane by lane.
        isum = _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(bias, xlo, wlo), xhi, whi);
      } else {
        // Σ q·x − offset·Σ x.
        const __m512i offset = T > 1 ? _mm512_loadu_si512(xv->offset) : _mm512_broadcast_i32x4(_mm_loadu_si128((const __m128i *)xv->offset));
        isum = _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(offset, wlo, xlo), whi, xhi);
      }
      // acc + f32(isum)·(f16(wd)·xd), as the WASM kernel.
      const __m512 xd = T > 1 ? _mm512_loadu_ps(xv->d) : _mm512_set1_ps(xv->d[0]);
      acc[g] = _mm512_add_ps(acc[g], _mm512_mul_ps(_mm512_cvtepi32_ps(isum), _mm512_mul_ps(wd, xd)));
    }
  }
}

/** The tile's outputs from its accumulators: each output's 4 lanes summed (l0 + l1) + (l2 + l3), as WASM does. */
AI void tile32_store(const int T, const int R, const __m512 acc[2], float *out, size_t rows) {
  const int G = T == 8 ? 2 : 1;
#pragma GCC unroll 2
  for (int g = 0; g < G; g++) {
    float a[16];
    _mm512_storeu_ps(a, acc[g]);
    for (int o = 0; o < (T > 1 ? 4 : R); o++) {
      out[T > 1 ? (size_t)(4 * g + o) * rows : (size_t)o] = (a[4 * o] + a[4 * o + 1]) + (a[4 * o + 2] + a[4 * o + 3]);
    }
  }
}

/** One tile over all of a row's blocks. */
AI void tile32(const int type, const int T, const int R, const struct x32_block *xb, const uint8_t *w, size_t ws,
               float *out, size_t rows, size_t cols) {
  __m512 acc[2] = { _mm512_setzero_ps(), _mm512_setzero_ps() }; // chunk o: output o's 4 lanes
  tile32_blocks(type, T, R, xb, w, ws, 0, cols / 32, acc);
  tile32_store(T, R, acc, out, rows);
}

/**
 * Long rows (at least 2·CHUNK32 blocks, e.g. a down projection of 10,944 columns) go through a token tile a chunk
 * of CHUNK32 blocks at a time: the tile's prepared activations for all of a row (350 KB for 8 tokens there) would
 * not stay in L1 across the rows, where a chunk's (32 KB) does. Each row's accumulators wait in the scratch between
 * chunks; the blocks still fold in order, so the result is the same, bit for bit.
 */
#define CHUNK32 64

/** Rows [b0, b1) of one token tile (T = 4 or 8) over long rows, chunk by chunk (acc: 32 floats per row, in scratch). */
AI void tile32_chunked(const int type, const int T, const uint8_t *x, size_t ts, const uint8_t *w, size_t ws, float *out,
                       size_t rows, size_t cols, size_t b0, size_t b1, struct x32_block *xb, float *acc) {
  const size_t nb = cols / 32;
  __builtin_memset(acc, 0, (b1 - b0) * 32 * sizeof *acc);
  for (size_t c0 = 0; c0 < nb; c0 += CHUNK32) {
    const size_t c1 = nb - c0 < CHUNK32 ? nb : c0 + CHUNK32;
    prepare_x32(type, T, x, ts, cols, c0, c1, xb);
    for (size_t r = b0; r < b1; r++) {
      float *ar = acc + 32 * (r - b0);
      __m512 a[2] = { _mm512_loadu_ps(ar), _mm512_loadu_ps(ar + 16) };
      tile32_blocks(type, T, 1, xb, w + r * ws, ws, c0, c1, a);
      _mm512_storeu_ps(ar, a[0]);
      _mm512_storeu_ps(ar + 16, a[1]);
    }
  }
  for (size_t r = b0; r < b1; r++) {
    const float *ar = acc + 32 * (r - b0);
    const __m512 a[2] = { _mm512_loadu_ps(ar), _mm512_loadu_ps(ar + 16) };
    tile32_store(T, 1, a, out + r, rows);
  }
}

/** Rows [r0, r1) in blocks of row_block; per block, tiles of 8 then 4 tokens × 1 row, then single tokens × 4 rows. */
AI void dot32_rows(const int type, const uint8_t *x, const uint8_t *w, float *out, size_t n, size_t rows, size_t cols,
                   size_t r0, size_t r1, size_t row_block, struct x32_block *xb) {
  const size_t bb = type == B32_Q8_0 ? 34 : type == B32_Q4_0 ? 18 : 22, ws = cols / 32 * bb, ts = cols + cols / 32 * 4;
  // Long rows: the scratch (2 x32_blocks per block of a row) holds a chunk's prepared activations, then as many
  // rows' accumulators (128 bytes each) as the rest allows: at least CHUNK32 · 4 rows.
  const int chunked = cols / 32 >= 2 * CHUNK32;
  float *acc = (float *)(xb + 2 * CHUNK32);
  const size_t acc_rows = chunked ? (cols / 32 - CHUNK32) * 2 * sizeof(struct x32_block) / (32 * sizeof(float)) : 0;
  if (row_block == 0) row_block = r1 - r0;
  for (size_t b0 = r0; b0 < r1; b0 += row_block) {
    const size_t b1 = r1 - b0 < row_block ? r1 : b0 + row_block;
    size_t t = 0;
    while (t + 4 <= n) {
      const int T = t + TILE32_TOKENS <= n ? TILE32_TOKENS : 4;
      if (chunked) {
        for (size_t s0 = b0; s0 < b1; s0 += acc_rows) {
          const size_t s1 = b1 - s0 < acc_rows ? b1 : s0 + acc_rows;
          if (T == TILE32_TOKENS) tile32_chunked(type, TILE32_TOKENS, x + t * ts, ts, w, ws, out + t * rows, rows, cols, s0, s1, xb, acc);
          else tile32_chunked(type, 4, x + t * ts, ts, w, ws, out + t * rows, rows, cols, s0, s1, xb, acc);
        }
      } else {
        prepare_x32(type, T, x + t * ts, ts, cols, 0, cols / 32, xb);
        if (T == TILE32_TOKENS) {
          for (size_t r = b0; r < b1; r++) tile32(type, TILE32_TOKENS, 1, xb, w + r * ws, ws, out + t * rows + r, rows, cols);
        } else {
          for (size_t r = b0; r < b1; r++) tile32(type, 4, 1, xb, w + r * ws, ws, out + t * rows + r, rows, cols);
        }
      }
      t += T;
    }
    for (; t < n; t++) {
      prepare_x32(type, 1, x + t * ts, ts, cols, 0, cols / 32, xb);
      size_t r = b0;
      for (; r + 4 <= b1; r += 4) tile32(type, 1, 4, xb, w + r * ws, ws, out + t * rows + r, rows, cols);
      for (; r < b1; r++) tile32(type, 1, 1, xb, w + r * ws, ws, out + t * rows + r, rows, cols);
    }
  }
}

// ---- Q4_K / Q5_K / Q6_K: 256-value super-blocks against Q8_K activations ----

enum { K_Q4_K, K_Q5_K, K_Q6_K };

/** One row's super-block, unpacked: 4 × 64 unsigned values, the i16 scale of each maddubs pair, mins. */
struct unpacked_k {
  __m512i q[4];
  __m512i scale[4];
  __m256i mins;    // Q4_K/Q5_K: m_j for the pair of 16-sums 2j, 2j+1 (i16); Q6_K: −32·sc_g per 16-sum
  float d, dmin;
};

/** i16 lanes [a ×16, b ×16] / groups of 8 from a vector of 16 i16 scales. */
AI __m512i spread16(__m512i scales, int a, int b) {
  const __m512i idx = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_set1_epi16((short)a)), _mm256_set1_epi16((short)b), 1);
  return _mm512_permutexvar_epi16(idx, scales);
}

AI __m512i spread8(__m512i scales, int g) {
  const __m512i idx = _mm512_set_epi16(g + 3, g + 3, g + 3, g + 3, g + 3, g + 3, g + 3, g + 3, g + 2, g + 2, g + 2, g + 2,
                                       g + 2, g + 2, g + 2, g + 2, g + 1, g + 1, g + 1, g + 1, g + 1, g + 1, g + 1, g + 1,
                                       g, g, g, g, g, g, g, g);
  return _mm512_permutexvar_epi16(idx, scales);
}

/** Two 32-byte halves into one zmm. */
AI __m512i join(__m256i lo, __m256i hi) { return _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1); }

AI void unpack_k(const int type, const uint8_t *blk, struct unpacked_k *u) {
  const __m512i low4 = _mm512_set1_epi8(0x0f);
  if (type == K_Q6_K) {
    // ql [128], qh [64], int8 scales [16], f16 d. Value 128c + 32h + l: nibble of ql[64c + 32(h&1) + l] (low for
    // h < 2) with bits 2h, 2h+1 of qh[32c + l] above; q[2c] holds quarters 0,1 of half c, q[2c+1] quarters 2,3.
    for (int c = 0; c < 2; c++) {
      const __m512i ql = _mm512_loadu_si512(blk + 64 * c);
      const __m256i qh = _mm256_loadu_si256((const __m256i *)(blk + 128 + 32 * c));
      const __m512i qh2 = join(qh, _mm256_srli_epi16(qh, 2));
      const __m512i three = _mm512_set1_epi8(0x30);
      u->q[2 * c] = _mm512_or_si512(_mm512_and_si512(ql, low4), _mm512_and_si512(_mm512_slli_epi16(qh2, 4), three));
      u->q[2 * c + 1] = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(ql, 4), low4), _mm512_and_si512(qh2, three));
    }
    const __m256i sc = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(blk + 192)));
    const __m512i sc512 = _mm512_castsi256_si512(sc);
    for (int i = 0; i < 4; i++) u->scale[i] = spread8(sc512, 4 * i);
    u->mins = _mm256_sub_epi16(_mm256_setzero_si256(), _mm256_slli_epi16(sc, 5));
    u->d = half_at(blk + 208);
    u->dmin = 0;
    return;
  }
  // Q4_K/Q5_K: f16 d, f16 dmin, 12 bytes of 6-bit scales and mins, [Q5_K: 32 bytes of fifth bits], 128 bytes of
  // nibbles (32 bytes per pair of sub-blocks: low nibbles sub-block 2p, high 2p+1). Scales as get_scale_min_k4.
  uint32_t s[4];
  kquant_scales_mins(blk + 4, s);
  // s as bytes: sc0..sc7, m0..m7.
  const __m256i sm = _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)s));
  const __m512i sm512 = _mm512_castsi256_si512(sm);
  for (int p = 0; p < 4; p++) u->scale[p] = spread16(sm512, 2 * p, 2 * p + 1);
  u->mins = _mm256_permutexvar_epi16(_mm256_set_epi16(15, 15, 14, 14, 13, 13, 12, 12, 11, 11, 10, 10, 9, 9, 8, 8), sm);
  const uint8_t *qs = blk + (type == K_Q4_K ? 16 : 48);
  __m256i qh = _mm256_setzero_si256();
  if (type == K_Q5_K) qh = _mm256_loadu_si256((const __m256i *)(blk + 16));
  for (int p = 0; p < 4; p++) {
    const __m256i b = _mm256_loadu_si256((const __m256i *)(qs + 32 * p));
    __m512i q = _mm512_and_si512(join(b, _mm256_srli_epi16(b, 4)), low4);
    if (type == K_Q5_K) {
      // Sub-block j's fifth bit is bit j of qh[l].
      const __m512i h = _mm512_and_si512(join(_mm256_srli_epi16(qh, 2 * p), _mm256_srli_epi16(qh, 2 * p + 1)), _mm512_set1_epi8(1));
      q = _mm512_or_si512(q, _mm512_slli_epi16(h, 4));
    }
    u->q[p] = q;
  }
  u->d = half_at(blk);
  u->dmin = half_at(blk + 2);
}

/** Σ sc·Σ q·x (Q6_K: with the −32 offset) as 16 i32 lanes, and Σ m·bsum as 8 (zero for Q6_K). */
AI void dot_k(const int type, const struct unpacked_k *u, const uint8_t *xb, const uint8_t *bsums, __m512i *isum, __m256i *summs) {
  __m512i acc = _mm512_setzero_si512();
#pragma GCC unroll 4
  for (int p = 0; p < 4; p++) {
    const __m512i pairs = _mm512_maddubs_epi16(u->q[p], _mm512_loadu_si512(xb + 64 * p));
    acc = _mm512_dpwssd_epi32(acc, pairs, u->scale[p]);
  }
  const __m256i mins = _mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)bsums), u->mins);
  if (type == K_Q6_K) {
    *isum = _mm512_add_epi32(acc, _mm512_zextsi256_si512(mins));
    *summs = _mm256_setzero_si256();
  } else {
    *isum = acc;
    *summs = mins;
  }
}

/** Outputs o = t·R + r (T·R ≤ 8), folded 4 at a time in the lanes of acc[o / 4]. */
AI void tile_k(const int type, const int T, const int R, const uint8_t *x, size_t ts, const uint8_t *w, size_t ws,
               float *out, size_t rows, size_t cols) {
  const size_t nb = cols / 256, bb = type == K_Q4_K ? 144 : type == K_Q5_K ? 176 : 210;
  const int G = T * R > 4 ? 2 : 1;
  __m128 acc[2] = { _mm_setzero_ps(), _mm_setzero_ps() };
  for (size_t b = 0; b < nb; b++) {
    prefetch_next_tile(w + R * ws + R * bb * b, R * bb);
    __m512i isum[8];
    __m256i summs[8];
    float wd[8], wm[8], xd[8];
#pragma GCC unroll 8
    for (int o = 0; o < 8; o++) {
      isum[o] = _mm512_setzero_si512();
      summs[o] = _mm256_setzero_si256();
      wd[o] = wm[o] = xd[o] = 0;
    }
#pragma GCC unroll 4
    for (int r = 0; r < R; r++) {
      struct unpacked_k u;
      unpack_k(type, w + r * ws + b * bb, &u);
#pragma GCC unroll 8
      for (int t = 0; t < T; t++) {
        const uint8_t *xt = x + t * ts;
        dot_k(type, &u, xt + 256 * b, xt + cols + 4 * nb + 32 * b, &isum[t * R + r], &summs[t * R + r]);
        wd[t * R + r] = u.d;
        wm[t * R + r] = u.dmin;
        xd[t * R + r] = f32_at(xt + cols + 4 * b);
      }
    }
    // acc = acc + (f16(d)·xd)·f32(isum); acc = acc − (f16(dmin)·xd)·f32(summs), each output in its lane.
#pragma GCC unroll 2
    for (int g = 0; g < G; g++) {
      const __m128 x4 = _mm_loadu_ps(xd + 4 * g);
      const __m128 d = _mm_mul_ps(_mm_loadu_ps(wd + 4 * g), x4);
      const __m512i *is = isum + 4 * g;
      acc[g] = _mm_add_ps(acc[g], _mm_mul_ps(d, _mm_cvtepi32_ps(sum4x16(is[0], is[1], is[2], is[3]))));
      if (type != K_Q6_K) {
        const __m128 dmin = _mm_mul_ps(_mm_loadu_ps(wm + 4 * g), x4);
        const __m256i *ms = summs + 4 * g;
        acc[g] = _mm_sub_ps(acc[g], _mm_mul_ps(dmin, _mm_cvtepi32_ps(sum4x8(ms[0], ms[1], ms[2], ms[3]))));
      }
    }
  }
  float a[8];
  _mm_storeu_ps(a, acc[0]);
  _mm_storeu_ps(a + 4, acc[1]);
#pragma GCC unroll 8
  for (int o = 0; o < T * R; o++) out[(o / R) * rows + o % R] = a[o];
}

/** Rows [r, r1) of T tokens: tiles of R rows, then single rows. */
AI void sweep_k(const int type, const int T, const int R, const uint8_t *x, size_t ts, const uint8_t *w, size_t ws,
                float *out, size_t rows, size_t cols, size_t r, size_t r1) {
  for (; R > 1 && r + R <= r1; r += R) tile_k(type, T, R, x, ts, w + r * ws, ws, out + r, rows, cols);
  for (; r < r1; r++) tile_k(type, T, 1, x, ts, w + r * ws, ws, out + r, rows, cols);
}

/** Rows [r0, r1) in blocks of row_block; per block, token tiles of 8 × 1 row (the last: 1-7 tokens × 4, 2 or 1 rows). */
AI void dot_k_rows(const int type, const uint8_t *x, const uint8_t *w, float *out, size_t n, size_t rows, size_t cols,
                   size_t r0, size_t r1, size_t row_block) {
  const size_t ws = cols / 256 * (type == K_Q4_K ? 144 : type == K_Q5_K ? 176 : 210);
  const size_t ts = cols + cols / 256 * 4 + cols / 16 * 2; // quantisedRowBytes
  if (row_block == 0) row_block = r1 - r0;
  for (size_t b0 = r0; b0 < r1; b0 += row_block) {
    const size_t b1 = r1 - b0 < row_block ? r1 : b0 + row_block;
    for (size_t t0 = 0; t0 < n; t0 += 8) {
      const uint8_t *xt = x + t0 * ts;
      float *ot = out + t0 * rows;
      switch (n - t0 < 8 ? n - t0 : 8) {
        case 1: sweep_k(type, 1, 4, xt, ts, w, ws, ot, rows, cols, b0, b1); break;
        case 2: sweep_k(type, 2, 2, xt, ts, w, ws, ot, rows, cols, b0, b1); break;
        case 3: sweep_k(type, 3, 1, xt, ts, w, ws, ot, rows, cols, b0, b1); break;
        case 4: sweep_k(type, 4, 1, xt, ts, w, ws, ot, rows, cols, b0, b1); break;
        case 5: sweep_k(type, 5, 1, xt, ts, w, ws, ot, rows, cols, b0, b1); break;
        case 6: sweep_k(type, 6, 1, xt, ts, w, ws, ot, rows, cols, b0, b1); break;
        case 7: sweep_k(type, 7, 1, xt, ts, w, ws, ot, rows, cols, b0, b1); break;
        default: sweep_k(type, 8, 1, xt, ts, w, ws, ot, rows, cols, b0, b1); break;
      }
    }
  }
}

#define DOT32_KERNEL(name, type)                                                                                    \
  static void name(const uint8_t *x, const uint8_t *w, float *out, size_t n, size_t rows, size_t cols, size_t r0, \
                   size_t r1, size_t row_block, void *scratch) {                                                    \
    dot32_rows(type, x, w, out, n, rows, cols, r0, r1, row_block, scratch);                                            \
  }
#define DOT_K_KERNEL(name, type)                                                                                    \
  static void name(const uint8_t *x, const uint8_t *w, float *out, size_t n, size_t rows, size_t cols, size_t r0, \
                   size_t r1, size_t row_block, void *scratch) {                                                    \
    (void)scratch;                                                                                                  \
    dot_k_rows(type, x, w, out, n, rows, cols, r0, r1, row_block);                                                     \
  }
DOT32_KERNEL(dot_q8_0, B32_Q8_0)
DOT32_KERNEL(dot_q4_0, B32_Q4_0)
DOT32_KERNEL(dot_q5_0, B32_Q5_0)
DOT_K_KERNEL(dot_q4_k, K_Q4_K)
DOT_K_KERNEL(dot_q5_k, K_Q5_K)
DOT_K_KERNEL(dot_q6_k, K_Q6_K)

_Static_assert(2 * sizeof(struct x32_block) == DOT_SCRATCH_PER_BLOCK32, "the scratch addon.c allocates");
const struct dot_kernel_set dot_kernels_avx512_vnni = { { dot_q8_0, dot_q4_0, dot_q4_k, dot_q5_k, dot_q6_k, dot_q5_0 } };
