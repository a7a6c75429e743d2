// The fused kernels (latent attention, softmax rows, silu·up) on 512-bit vectors (AVX-512F with FMA); compiled
// with -mavx512f -mfma.
#define VEC_BITS 512
#include "attention_simd.h"
#include "kernels.h"

const struct op_set ops_avx512 = { attend_latent, softmax_rows, silu_mul };
