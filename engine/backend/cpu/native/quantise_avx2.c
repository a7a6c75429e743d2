// Activation quantisation for the integer-dot kernels on 256-bit vectors (CPUs without AVX-512); compiled with
// -mavx2 -mfma -mf16c -ffp-contract=off (FMA only for vec_simd.h's e^x, unused here).
#define VEC_BITS 256
#include "quantise_simd.h"

const struct quantise_set quantise_avx2 = { quantise_q8_0, quantise_q8_k };
