// What both integer-dot files (quant_dot_avx512.c, quant_dot_avx2.c) read the same way, whatever the vector width:
// a block's f16 and f32 fields, the prefetch of the next decode tile, and Q4_K / Q5_K's 6-bit scales and mins.
#ifndef LATENT_QUANT_DOT_COMMON_H
#define LATENT_QUANT_DOT_COMMON_H
#include <immintrin.h>
#include <stddef.h>
#include <stdint.h>

#define AI static inline __attribute__((always_inline))

/** f16 bits → f32, exactly (vcvtph2ps, as the WASM $half). */
AI float half_at(const uint8_t *p) { return _cvtsh_ss((unsigned short)(p[0] | p[1] << 8)); }

AI float f32_at(const uint8_t *p) {
  float v;
  __builtin_memcpy(&v, p, 4);
  return v;
}

/**
 * Decode's tiles read R rows side by side, a few hundred bytes to 2 KB of each before moving on: streams too short
 * for the hardware prefetcher, which left weights that are not in cache (the experts, the output matrix) at a
 * third of the memory's speed (Q6_K 12 GB/s, Q5_0 5 GB/s on one thread, against 31 and 19-21 with this). So each block
 * step asks for its share of the next tile's bytes (the R rows are contiguous, R·bb bytes per step); a prefetch
 * past the weights' end is harmless (it never faults).
 */
AI void prefetch_next_tile(const uint8_t *next_tile, size_t share) {
  for (size_t o = 0; o < share; o += 64) _mm_prefetch((const char *)(next_tile + o), _MM_HINT_T0);
}

/** The 12 bytes at `packed` (after a Q4_K / Q5_K super-block's two f16s) as 16 bytes: sc0..sc7 then m0..m7 (each
 * 0..63), in 4 words, as llama.cpp's get_scale_min_k4 reads them. */
AI void kquant_scales_mins(const uint8_t *packed, uint32_t s[4]) {
  __builtin_memcpy(s, packed, 12);
  s[3] = ((s[2] >> 4) & 0x0f0f0f0f) | (((s[1] >> 6) & 0x03030303) << 4);
  const uint32_t m03 = s[1] & 0x3f3f3f3f;
  s[1] = (s[2] & 0x0f0f0f0f) | (((s[0] >> 6) & 0x03030303) << 4);
  s[2] = m03;
  s[0] &= 0x3f3f3f3f;
}
#endif
