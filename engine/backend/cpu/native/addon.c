// The N-API face of the native kernels (plain node_api.h, so one build serves every Node version with N-API 8):
//   isas()              -> the instruction sets this CPU runs, best first ("avx512", "avx2"; empty on others)
//   bind(memory, isa)   -> { matmul_f32, matmul_f16, matmul_bf16, matmul_f16_finite, matmul_nn_f32, and where the
//                          CPU has AVX-512 BW + VNNI or AVX2 dot_q8_0, dot_q4_0, dot_q5_0, dot_q4_k, dot_q5_k,
//                          dot_q6_k, quantise_q8_0, quantise_q8_k } over one weight bank (a shared
//                          WebAssembly.Memory), with the WASM exports' signature: kernel(x, w, out, n, rows, cols,
//                          r0, r1, rowBlock), byte offsets in the bank; quantise_*(x, dst, n, cols) as
//                          quantiseActivations(format, x, n, cols, dst) does.
//                          and the fused kernels beyond matmul (ops_addon.c).
// Each kernel checks its operands against the bank's size and throws a RangeError outside it, as a WASM trap would.
// A shared memory never moves when it grows (V8 reserves its maximum up front), but its length does: the size is
// re-read from memory.buffer when an operand lies past it, and the base is re-read with it (checked, not assumed).
#define _GNU_SOURCE
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include "bank_memory.h"
#include "kernels.h"

enum op { OP_F32, OP_F16, OP_BF16, OP_NN_F32, OP_DOT, OP_QUANTISE };

struct binding {
  napi_ref memory;
  uint8_t *base;
  uint64_t size;
  const struct kernel_set *kernels;
  const struct dot_kernel_set *dots;
  const struct quantise_set *quantise;
  enum op op;
  int variant; // OP_DOT: the DOT_* type; OP_QUANTISE: 0 for Q8_0, 1 for Q8_K
};

#define CHECK(call) \
  do { if ((call) != napi_ok) { napi_throw_error(env, NULL, "latent_kernels: " #call " failed"); return NULL; } } while (0)

static const struct kernel_set *kernels_for(const char *isa) {
  if (strcmp(isa, "avx512") == 0 && __builtin_cpu_supports("avx512f")) return &kernels_avx512;
  if (strcmp(isa, "avx2") == 0 && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
      __builtin_cpu_supports("f16c"))
    return &kernels_avx2;
  return NULL;
}

static int cpu_has_avx512_vnni(void) {
  return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
         __builtin_cpu_supports("avx512vnni");
}

/** The integer-dot kernels for `isa` (AVX-512 VNNI, else AVX2: same results), or NULL where the CPU lacks them. */
static const struct dot_kernel_set *dot_kernels_for(const char *isa) {
  if (strcmp(isa, "avx512") == 0 && cpu_has_avx512_vnni()) return &dot_kernels_avx512_vnni;
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("f16c")) return &dot_kernels_avx2;
  return NULL;
}

/** The activations' quantisation beside those kernels (the same bytes on both). */
static const struct quantise_set *quantise_for(const char *isa) {
  if (strcmp(isa, "avx512") == 0 && cpu_has_avx512_vnni()) return &quantise_avx512;
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("f16c")) return &quantise_avx2;
  return NULL;
}

/** Per dot type: values and bytes per weight block, and whether the activations are Q8_K (else Q8_0). */
static const struct { uint64_t values, bytes; int q8_k; } dot_blocks[DOT_TYPES] = {
  [DOT_Q8_0] = { 32, 34, 0 }, [DOT_Q4_0] = { 32, 18, 0 }, [DOT_Q5_0] = { 32, 22, 0 },
  [DOT_Q4_K] = { 256, 144, 1 }, [DOT_Q5_K] = { 256, 176, 1 }, [DOT_Q6_K] = { 256, 210, 1 },
};

/** Through a Uint8Array, as N-API 8 has no SharedArrayBuffer calls. */
int bank_read_memory(napi_env env, napi_value memory, uint8_t **base, uint64_t *size) {
  napi_value buffer, global, ctor, view, ab;
  napi_typedarray_type type;
  size_t length, offset;
  void *data;
  if (napi_get_named_property(env, memory, "buffer", &buffer) != napi_ok) return 0;
  if (napi_get_global(env, &global) != napi_ok) return 0;
  if (napi_get_named_property(env, global, "Uint8Array", &ctor) != napi_ok) return 0;
  if (napi_new_instance(env, ctor, 1, &buffer, &view) != napi_ok) return 0;
  if (napi_get_typedarray_info(env, view, &type, &length, &data, &ab, &offset) != napi_ok) return 0;
  *base = data;
  *size = length;
  return 1;
}

/** The last byte (exclusive) a call touches, or 0 when its shape is invalid; *empty when it does nothing. */
static uint64_t extent(enum op op, int variant, const uint32_t *a, int *empty, const char **why) {
  const uint64_t x = a[0], w = a[1], out = a[2], n = a[3], rows = a[4], cols = a[5], r0 = a[6], r1 = a[7];
  *empty = 0;
  if (op == OP_NN_F32) {
    // (p, w, out, n, k, m, c0, c1): p [n, k], W [k, m], out [n, m], columns [c0, c1).
    const uint64_t k = rows, m = cols, c0 = r0, c1 = r1;
    if (m % 8 || c0 % 8 || c1 % 8 || c0 > c1 || c1 > m) { *why = "columns must be multiples of 8 within m"; return 0; }
    if (n == 0 || k == 0 || c0 == c1) { *empty = 1; return 1; }
    uint64_t end = x + n * k * 4;
    if (w + ((k - 1) * m + c1) * 4 > end) end = w + ((k - 1) * m + c1) * 4;
    if (out + ((n - 1) * m + c1) * 4 > end) end = out + ((n - 1) * m + c1) * 4;
    return end;
  }
  if (op == OP_QUANTISE) {
    // (x, dst, n, cols): x f32 [n, cols], dst n quantised rows.
    const uint64_t n = a[2], cols = a[3], block = variant ? 256 : 32;
    if (cols % block) { *why = "cols must be a whole number of blocks"; return 0; }
    if (n == 0 || cols == 0) { *empty = 1; return 1; }
    const uint64_t row = variant ? cols + cols / 256 * 4 + cols / 16 * 2 : cols + cols / 32 * 4;
    return x + n * cols * 4 > w + n * row ? x + n * cols * 4 : w + n * row;
  }
  if (op == OP_DOT) {
    // x: n quantised rows (quantisedRowBytes each), W: rows of whole blocks.
    const int dot_type = variant;
    const uint64_t block = dot_blocks[dot_type].values;
    if (cols % block || r0 > r1 || r1 > rows) { *why = "cols must be a whole number of blocks and r0 <= r1 <= rows"; return 0; }
    if (n == 0 || r0 == r1 || cols == 0) { *empty = 1; return 1; }
    const uint64_t x_row = dot_blocks[dot_type].q8_k ? cols + cols / 256 * 4 + cols / 16 * 2 : cols + cols / 32 * 4;
    uint64_t end = x + n * x_row;
    if (w + r1 * (cols / block) * dot_blocks[dot_type].bytes > end) end = w + r1 * (cols / block) * dot_blocks[dot_type].bytes;
    if (out + ((n - 1) * rows + r1) * 4 > end) end = out + ((n - 1) * rows + r1) * 4;
    return end;
  }
  if (cols % 8 || r0 > r1 || r1 > rows) { *why = "cols must be a multiple of 8 and r0 <= r1 <= rows"; return 0; }
  if (n == 0 || r0 == r1 || cols == 0) { *empty = 1; return 1; }
  const uint64_t w_bytes = op == OP_F32 ? 4 : 2;
  uint64_t end = x + n * cols * 4;
  if (w + r1 * cols * w_bytes > end) end = w + r1 * cols * w_bytes;
  if (out + ((n - 1) * rows + r1) * 4 > end) end = out + ((n - 1) * rows + r1) * 4;
  return end;
}

static napi_value call_kernel(napi_env env, napi_callback_info info) {
  size_t argc = 9;
  napi_value argv[9];
  void *data;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, &data));
  struct binding *b = data;
  const size_t need = b->op == OP_QUANTISE ? 4 : 9;
  if (argc < need) {
    napi_throw_type_error(env, NULL, b->op == OP_QUANTISE ? "latent_kernels: quantise takes 4 arguments" : "latent_kernels: a kernel takes 9 arguments");
    return NULL;
  }
  // Offsets come as the WASM exports take them: i32s read as unsigned (the control block holds them as Int32).
  uint32_t a[9] = { 0 };
  for (size_t i = 0; i < need; i++) {
    if (napi_get_value_uint32(env, argv[i], &a[i]) != napi_ok) {
      napi_throw_type_error(env, NULL, "latent_kernels: kernel arguments must be numbers");
      return NULL;
    }
  }
  int empty;
  const char *why = "";
  const uint64_t end = extent(b->op, b->variant, a, &empty, &why);
  if (end == 0) {
    napi_throw_range_error(env, NULL, why);
    return NULL;
  }
  if (empty) return NULL;
  if (end > b->size) {
    napi_value memory;
    CHECK(napi_get_reference_value(env, b->memory, &memory));
    if (!bank_read_memory(env, memory, &b->base, &b->size)) return NULL;
    if (end > b->size) {
      napi_throw_range_error(env, NULL, "latent_kernels: memory access out of bounds");
      return NULL;
    }
  }
  uint8_t *m = b->base;
  if (b->op == OP_QUANTISE) {
    (b->variant ? b->quantise->q8_k : b->quantise->q8_0)((const float *)(m + a[0]), m + a[1], a[2], a[3]);
  } else if (b->op == OP_DOT) {
    void *scratch = NULL;
    if (!dot_blocks[b->variant].q8_k && !(scratch = malloc((size_t)a[5] / 32 * DOT_SCRATCH_PER_BLOCK32))) {
      napi_throw_error(env, NULL, "latent_kernels: out of memory");
      return NULL;
    }
    b->dots->dot[b->variant](m + a[0], m + a[1], (float *)(m + a[2]), a[3], a[4], a[5], a[6], a[7], a[8], scratch);
    free(scratch);
  } else if (b->op == OP_NN_F32) {
    b->kernels->matmul_nn((const float *)(m + a[0]), (const float *)(m + a[1]), (float *)(m + a[2]), a[3], a[4], a[5], a[6], a[7]);
  } else {
    const int dtype = b->op == OP_F32 ? W_F32 : b->op == OP_F16 ? W_F16 : W_BF16;
    b->kernels->matmul(dtype, (const float *)(m + a[0]), m + a[1], (float *)(m + a[2]), a[3], a[4], a[5], a[6], a[7], a[8]);
  }
  return NULL;
}

static void finalize_binding(napi_env env, void *data, void *hint) {
  (void)hint;
  struct binding *b = data;
  napi_delete_reference(env, b->memory);
  free(b);
}

/**
 * Asks for transparent huge pages over the bank's whole reservation (V8 reserves a shared memory's 4 GiB maximum
 * up front; pages are committed as it grows): streaming gigabytes of weights through 4 KiB pages costs a TLB miss
 * per page. Advice only: where the kernel refuses (THP off, a hole in the range), nothing changes.
 */
static void advise_huge_pages(uint8_t *base) {
  const uintptr_t huge = (uintptr_t)2 << 20, start = ((uintptr_t)base + huge - 1) & ~(huge - 1);
  const uintptr_t end = ((uintptr_t)base + ((uintptr_t)4 << 30)) & ~(huge - 1);
  if (end > start) (void)madvise((void *)start, end - start, MADV_HUGEPAGE);
}

static napi_value bind_memory(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  char isa[16] = "";
  size_t isa_len;
  if (argc < 2 || napi_get_value_string_utf8(env, argv[1], isa, sizeof isa, &isa_len) != napi_ok) {
    napi_throw_type_error(env, NULL, "latent_kernels: bind(memory, isa)");
    return NULL;
  }
  const struct kernel_set *kernels = kernels_for(isa);
  if (!kernels) {
    napi_throw_error(env, NULL, "latent_kernels: this CPU does not run the requested instruction set");
    return NULL;
  }
  uint8_t *base;
  uint64_t size;
  if (!bank_read_memory(env, argv[0], &base, &size)) return NULL;
  advise_huge_pages(base);
  static const struct { const char *name; enum op op; int variant; } exports[] = {
    { "matmul_f32", OP_F32, 0 }, { "matmul_f16", OP_F16, 0 }, { "matmul_bf16", OP_BF16, 0 },
    // The exact f16 decode (vcvtph2ps) serves f16 weights with or without inf/nan alike.
    { "matmul_f16_finite", OP_F16, 0 }, { "matmul_nn_f32", OP_NN_F32, 0 },
    { "dot_q8_0", OP_DOT, DOT_Q8_0 }, { "dot_q4_0", OP_DOT, DOT_Q4_0 }, { "dot_q5_0", OP_DOT, DOT_Q5_0 },
    { "dot_q4_k", OP_DOT, DOT_Q4_K }, { "dot_q5_k", OP_DOT, DOT_Q5_K }, { "dot_q6_k", OP_DOT, DOT_Q6_K },
    { "quantise_q8_0", OP_QUANTISE, 0 }, { "quantise_q8_k", OP_QUANTISE, 1 },
  };
  const struct dot_kernel_set *dots = dot_kernels_for(isa);
  const struct quantise_set *quantise = quantise_for(isa);
  napi_value result;
  CHECK(napi_create_object(env, &result));
  for (size_t i = 0; i < sizeof exports / sizeof exports[0]; i++) {
    if ((exports[i].op == OP_DOT && !dots) || (exports[i].op == OP_QUANTISE && !quantise)) continue;
    // One binding per function, freed with it: a function may outlive the object it came in.
    struct binding *b = malloc(sizeof *b);
    if (!b) {
      napi_throw_error(env, NULL, "latent_kernels: out of memory");
      return NULL;
    }
    *b = (struct binding){ .base = base, .size = size, .kernels = kernels, .dots = dots, .quantise = quantise, .op = exports[i].op, .variant = exports[i].variant };
    napi_value fn;
    CHECK(napi_create_reference(env, argv[0], 1, &b->memory));
    CHECK(napi_create_function(env, exports[i].name, NAPI_AUTO_LENGTH, call_kernel, b, &fn));
    CHECK(napi_add_finalizer(env, fn, b, finalize_binding, NULL, NULL));
    CHECK(napi_set_named_property(env, result, exports[i].name, fn));
  }
  if (!bank_add_ops(env, result, argv[0], kernels->isa)) return NULL;
  return result;
}

static napi_value isas(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value list, name;
  uint32_t count = 0;
  CHECK(napi_create_array(env, &list));
  static const char *const all[] = { "avx512", "avx2" };
  for (size_t i = 0; i < 2; i++) {
    if (!kernels_for(all[i])) continue;
    CHECK(napi_create_string_utf8(env, all[i], NAPI_AUTO_LENGTH, &name));
    CHECK(napi_set_element(env, list, count++, name));
  }
  return list;
}

NAPI_MODULE_INIT() {
  napi_value fn;
  if (napi_create_function(env, "isas", NAPI_AUTO_LENGTH, isas, NULL, &fn) != napi_ok) return NULL;
  if (napi_set_named_property(env, exports, "isas", fn) != napi_ok) return NULL;
  if (napi_create_function(env, "bind", NAPI_AUTO_LENGTH, bind_memory, NULL, &fn) != napi_ok) return NULL;
  if (napi_set_named_property(env, exports, "bind", fn) != napi_ok) return NULL;
  return exports;
}
