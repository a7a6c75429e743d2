// The kernels on 256-bit vectors (AVX2 with FMA and F16C); compiled with -mavx2 -mfma -mf16c.
#define VEC_BITS 256
#include "matmul_simd.h"

const struct kernel_set kernels_avx2 = { "avx2", matmul, matmul_nn };
