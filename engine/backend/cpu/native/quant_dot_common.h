// The 6-bit sub-block scales and mins of a Q4_K / Q5_K super-block (12 bytes after its two f16s), unpacked as
// llama.cpp's get_scale_min_k4 reads them; shared by the AVX-512 and AVX2 integer dots.
#ifndef LATENT_KQUANT_SCALES_H
#define LATENT_KQUANT_SCALES_H
#include <stdint.h>

/** The 12 bytes at `packed` as 16 bytes: sc0..sc7 then m0..m7 (each 0..63), in 4 words. */
static inline __attribute__((always_inline)) void kquant_scales_mins(const uint8_t *packed, uint32_t s[4]) {
  __builtin_memcpy(s, packed, 12);
  s[3] = ((s[2] >> 4) & 0x0f0f0f0f) | (((s[1] >> 6) & 0x03030303) << 4);
  const uint32_t m03 = s[1] & 0x3f3f3f3f;
  s[1] = (s[2] & 0x0f0f0f0f) | (((s[0] >> 6) & 0x03030303) << 4);
  s[2] = m03;
  s[0] &= 0x3f3f3f3f;
}
#endif
