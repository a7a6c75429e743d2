// Activation quantisation for the integer-dot kernels on 512-bit vectors; compiled with -mavx512f -mavx512bw -mfma
// -mf16c -ffp-contract=off (FMA only for vec_simd.h's e^x, unused here).
#define VEC_BITS 512
#include "quantise_simd.h"

const struct quantise_set quantise_avx512 = { quantise_q8_0, quantise_q8_k };
