// The fused kernels (latent attention, softmax rows, silu·up) on 256-bit vectors (AVX2 with FMA); compiled with
// -mavx2 -mfma.
#define VEC_BITS 256
#include "attention_simd.h"
#include "kernels.h"

const struct op_set ops_avx2 = { attend_latent, softmax_rows, silu_mul };
