// The kernels on 512-bit vectors (AVX-512F with FMA and F16C); compiled with -mavx512f -mfma -mf16c.
#define VEC_BITS 512
#include "matmul_simd.h"

const struct kernel_set kernels_avx512 = { "avx512", matmul, matmul_nn };
