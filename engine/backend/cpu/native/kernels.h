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

// The integer-dot kernels (quant_dot_avx512.c): out[t, r] = dot(quantised x row t, W row r) for t in [0, n),
// r in [r0, r1); the contract and the result, bit for bit, of quantDotWat.ts's dot_* exports. x: n activation
// rows quantised by quantiseActivations.ts (Q8_0 or Q8_K, each quantisedRowBytes long); W [rows, cols] in GGML
// blocks; out f32 [n, rows]; cols a multiple of the block. `scratch`: DOT_SCRATCH_PER_BLOCK32 bytes per block of
// a row for the 32-value types (Q8_0, Q4_0, Q5_0), unused by the K-quants.
typedef void dot_fn(const uint8_t *x, const uint8_t *w, float *out, size_t n, size_t rows, size_t cols, size_t r0,
                    size_t r1, size_t row_block, void *scratch);
#define DOT_SCRATCH_PER_BLOCK32 512
enum { DOT_Q8_0, DOT_Q4_0, DOT_Q4_K, DOT_Q5_K, DOT_Q6_K, DOT_Q5_0, DOT_TYPES };

struct dot_kernel_set {
  dot_fn *dot[DOT_TYPES];
};

// Activation quantisation (quantise_avx512.c, quantise_avx2.c): rows [0, n) of x f32 [n, cols] into `dst`, row after row, in
// quantiseActivations.ts's Q8_0 / Q8_K layout and arithmetic, byte for byte.
typedef void quantise_fn(const float *x, uint8_t *dst, size_t n, size_t cols);

struct quantise_set {
  quantise_fn *q8_0, *q8_k;
};

extern const struct kernel_set kernels_avx512;
extern const struct kernel_set kernels_avx2;
extern const struct dot_kernel_set dot_kernels_avx512_vnni;
extern const struct dot_kernel_set dot_kernels_avx2;
extern const struct quantise_set quantise_avx512;
extern const struct quantise_set quantise_avx2;

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
