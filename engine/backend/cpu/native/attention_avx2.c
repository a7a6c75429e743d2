// Latent attention on 256-bit vectors (AVX2 with FMA); compiled with -mavx2 -mfma.
#define VEC_BITS 256
#include "attention_simd.h"
#include "kernels.h"

const struct attention_set attention_avx2 = { attend_latent };
