// The native kernels' entry points, one set per instruction set (matmul_avx512.c, matmul_avx2.c, both built from
// matmul_simd.h). Pointers are already resolved against the bank's base and bounds-checked by addon.c; the
// shapes follow matmulWat.ts exactly.
#ifndef LATENT_KERNELS_H
#define LATENT_KERNELS_H
#include <stddef.h>
#include <stdint.h>

enum { W_F32 = 0, W_F16 = 1, W_BF16 = 2 };

// out[t, r] = sum_i x[t, i] * W[r, i] for t in [0, n), r in [r0, r1); x f32 [n, cols], W [rows, cols] in `dtype`,
// out f32 [n, rows]; cols a multiple of 8; W's rows taken in blocks of `row_block`.
typedef void matmul_fn(int dtype, const float *x, const void *w, float *out, size_t n, size_t rows, size_t cols,
                       size_t r0, size_t r1, size_t row_block);
// out[t, c] = sum_s p[t, s] * W[s, c] for t in [0, n), c in [c0, c1); p f32 [n, k], W f32 [k, m], out f32 [n, m];
// m, c0 and c1 multiples of 8.
typedef void matmul_nn_fn(const float *p, const float *w, float *out, size_t n, size_t k, size_t m, size_t c0, size_t c1);

struct kernel_set {
  const char *isa;
  matmul_fn *matmul;
  matmul_nn_fn *matmul_nn;
};

extern const struct kernel_set kernels_avx512;
extern const struct kernel_set kernels_avx2;

// The fused kernels beyond matmul, one set per instruction set (ops_avx512.c, ops_avx2.c), bound by ops_addon.c:
// MLA's absorbed attention (attention_simd.h) and the elementwise ones (activation_simd.h).
#include "attention_table.h"
struct op_set {
  attend_latent_fn *attend_latent;
  void (*softmax_rows)(float *s, size_t rows, size_t stride, const int32_t *visible, float scale);
  void (*silu_mul)(float *g, const float *u, size_t n);
};
extern const struct op_set ops_avx512;
extern const struct op_set ops_avx2;
#endif
