// The N-API face of the fused kernels (attention_simd.h, activation_simd.h), added to each bank's binding by addon.c:
//   latent_table(table, cKvs, kPes, r, dr)  main thread: writes at byte offset `table` of the bank a table of the
//       sequence's chunks (Float32Arrays c_kv [count, r] and k_pe [count, dr], consecutive from token 0), their
//       lengths checked, pointing at the arrays where they lie;
//   attend_latent(params, 0, 0, 1, rows, work, r0, r1, 0)  any kernel thread: query rows [r0, r1) of the problem
//       whose u32 fields are at `params`: table, q_lat, q_pe, visible, scores, out (byte offsets in the bank) and
//       scale (f32 bits); `work` is unused here (the pool's estimate of the job's size);
//   softmax_rows(s, rows, stride, visible, scale)  main thread, on any Float32Array s [rows, stride] and Int32Array
//       visible [rows]: per row, its first visible[i] entries scaled, then softmax; the rest 0;
//   silu_mul(gate, up)  main thread, Float32Arrays of one length: gate = silu(gate)·up.
// The table's latents are outside the bank: a kernel reads them through the pointers, so it runs only a table that
// latent_table wrote at that address in this process (the header carries a token made from a per-process secret and
// the address; anything else is refused), and the caller keeps the arrays alive until the call returns. Everything in
// the bank is bounds-checked as addon.c does, a RangeError outside it.
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "bank_memory.h"
#include "kernels.h"

struct table_header {
  uint64_t token, chunks, length, r, dr;
};

struct ops_binding {
  napi_ref memory;
  uint8_t *base;
  uint64_t size;
  const struct op_set *set;
};

static uint64_t secret;

static uint64_t process_secret(void) {
  uint64_t s = __atomic_load_n(&secret, __ATOMIC_ACQUIRE);
  if (s) return s;
  struct timespec ts;
  timespec_get(&ts, TIME_UTC);
  uint64_t fresh = ((uint64_t)ts.tv_nsec << 32) ^ (uint64_t)ts.tv_sec ^ (uint64_t)(uintptr_t)&ts ^ 0x9e3779b97f4a7c15ull;
  if (!fresh) fresh = 1;
  uint64_t expected = 0;
  // The first thread's value wins, so that every thread of the process checks against the same secret.
  __atomic_compare_exchange_n(&secret, &expected, fresh, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE);
  return __atomic_load_n(&secret, __ATOMIC_ACQUIRE);
}

static uint64_t table_token(const uint8_t *at) { return process_secret() ^ (uint64_t)(uintptr_t)at; }

/** Makes [0, end) of the bank reachable (re-reading its buffer when it grew), else throws a RangeError. */
static int reach(napi_env env, struct ops_binding *b, uint64_t end) {
  if (end <= b->size) return 1;
  napi_value memory;
  if (napi_get_reference_value(env, b->memory, &memory) != napi_ok || !bank_read_memory(env, memory, &b->base, &b->size)) return 0;
  if (end <= b->size) return 1;
  napi_throw_range_error(env, NULL, "latent_kernels: memory access out of bounds");
  return 0;
}

static int fail(napi_env env, const char *why) {
  napi_throw_range_error(env, NULL, why);
  return 0;
}

static int get_u32s(napi_env env, napi_value *argv, size_t count, uint32_t *out) {
  for (size_t i = 0; i < count; i++) {
    if (napi_get_value_uint32(env, argv[i], &out[i]) != napi_ok) {
      napi_throw_type_error(env, NULL, "latent_kernels: arguments must be numbers");
      return 0;
    }
  }
  return 1;
}

/** A typed array's data and length when it has this type, else a TypeError. */
static int typed_array(napi_env env, napi_value v, napi_typedarray_type want, void **data, size_t *length) {
  napi_typedarray_type type;
  napi_value ab;
  size_t offset;
  if (napi_get_typedarray_info(env, v, &type, length, data, &ab, &offset) != napi_ok || type != want) {
    napi_throw_type_error(env, NULL, want == napi_float32_array ? "latent_kernels: a Float32Array is expected" : "latent_kernels: an Int32Array is expected");
    return 0;
  }
  return 1;
}

static int float_array(napi_env env, napi_value v, const float **data, size_t *length) {
  void *p;
  if (!typed_array(env, v, napi_float32_array, &p, length)) return 0;
  *data = p;
  return 1;
}

static napi_value latent_table(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  void *data;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, &data) != napi_ok) return NULL;
  struct ops_binding *b = data;
  uint32_t table, r, dr, n_ckv, n_kpe;
  if (argc < 5 || !get_u32s(env, argv, 1, &table) || !get_u32s(env, argv + 3, 1, &r) || !get_u32s(env, argv + 4, 1, &dr)) {
    if (argc < 5) napi_throw_type_error(env, NULL, "latent_kernels: latent_table(table, cKvs, kPes, r, dr)");
    return NULL;
  }
  if (napi_get_array_length(env, argv[1], &n_ckv) != napi_ok || napi_get_array_length(env, argv[2], &n_kpe) != napi_ok || n_ckv != n_kpe) {
    napi_throw_type_error(env, NULL, "latent_kernels: latent_table takes two arrays of chunks of one length");
    return NULL;
  }
  if (r == 0 || dr == 0 || r % 8 || dr % 8 || table % 8) {
    fail(env, "latent_kernels: r and dr must be multiples of 8 and the table 8-byte aligned");
    return NULL;
  }
  if (!reach(env, b, (uint64_t)table + sizeof(struct table_header) + (uint64_t)n_ckv * sizeof(struct latent_chunk))) return NULL;
  struct table_header *h = (struct table_header *)(b->base + table);
  struct latent_chunk *entries = (struct latent_chunk *)(h + 1);
  uint64_t start = 0;
  for (uint32_t i = 0; i < n_ckv; i++) {
    napi_value c, k;
    const float *cp, *kp;
    size_t c_len, k_len;
    if (napi_get_element(env, argv[1], i, &c) != napi_ok || napi_get_element(env, argv[2], i, &k) != napi_ok) return NULL;
    if (!float_array(env, c, &cp, &c_len) || !float_array(env, k, &kp, &k_len)) return NULL;
    const uint64_t count = c_len / r;
    if (count == 0 || c_len % r || k_len != count * dr) {
      fail(env, "latent_kernels: a chunk's c_kv must be whole rows of r and its k_pe as many rows of dr");
      return NULL;
    }
    entries[i] = (struct latent_chunk){ .c_kv = cp, .k_pe = kp, .start = start, .count = count };
    start += count;
  }
  *h = (struct table_header){ .token = table_token((const uint8_t *)h), .chunks = n_ckv, .length = start, .r = r, .dr = dr };
  return NULL;
}

static napi_value attend_latent(napi_env env, napi_callback_info info) {
  size_t argc = 9;
  napi_value argv[9];
  void *data;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, &data) != napi_ok) return NULL;
  struct ops_binding *b = data;
  uint32_t a[9];
  if (argc < 9) {
    napi_throw_type_error(env, NULL, "latent_kernels: a kernel takes 9 arguments");
    return NULL;
  }
  if (!get_u32s(env, argv, 9, a)) return NULL;
  const uint64_t params = a[0], rows = a[4], r0 = a[6], r1 = a[7];
  if (r0 > r1 || r1 > rows || params % 4) {
    fail(env, "latent_kernels: attend_latent needs r0 <= r1 <= rows and aligned params");
    return NULL;
  }
  if (r0 == r1) return NULL;
  if (!reach(env, b, params + 7 * 4)) return NULL;
  uint32_t p[7];
  memcpy(p, b->base + params, sizeof p);
  const uint64_t table = p[0];
  if (table % 8) {
    fail(env, "latent_kernels: the latent table must be 8-byte aligned");
    return NULL;
  }
  if (!reach(env, b, table + sizeof(struct table_header))) return NULL;
  const struct table_header h = *(const struct table_header *)(b->base + table);
  if (h.token != table_token(b->base + table)) {
    fail(env, "latent_kernels: no latent table at that offset (latent_table writes one)");
    return NULL;
  }
  // The header was written by latent_table, so its counts are sane; the bank may still have grown since.
  if (!reach(env, b, table + sizeof h + h.chunks * sizeof(struct latent_chunk))) return NULL;
  const uint64_t ends[5] = { p[1] + rows * h.r * 4, p[2] + rows * h.dr * 4, p[3] + rows * 4, p[4] + rows * h.length * 4, p[5] + rows * h.r * 4 };
  for (int i = 0; i < 5; i++) {
    if (p[1 + i] % 4) {
      fail(env, "latent_kernels: attend_latent's operands must be 4-byte aligned");
      return NULL;
    }
    if (!reach(env, b, ends[i])) return NULL;
  }
  const uint8_t *m = b->base;
  const uint32_t *visible = (const uint32_t *)(m + p[3]);
  for (uint64_t i = r0; i < r1; i++) {
    if (visible[i] > h.length) {
      fail(env, "latent_kernels: a query row sees more tokens than the table holds");
      return NULL;
    }
  }
  float scale;
  memcpy(&scale, &p[6], sizeof scale);
  const struct latent_problem pb = {
    .table = (const struct latent_chunk *)(m + table + sizeof h), .chunks = h.chunks, .length = h.length, .r = h.r, .dr = h.dr,
    .q_lat = (const float *)(m + p[1]), .q_pe = (const float *)(m + p[2]), .visible = visible,
    .scores = (float *)(m + p[4]), .out = (float *)(m + p[5]), .scale = scale,
  };
  b->set->attend_latent(&pb, r0, r1);
  return NULL;
}

static napi_value softmax_rows(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  void *data;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, &data) != napi_ok) return NULL;
  const struct ops_binding *b = data;
  uint32_t rows, stride;
  double scale;
  void *s, *visible;
  size_t s_len, v_len;
  if (argc < 5 || !typed_array(env, argv[0], napi_float32_array, &s, &s_len) || !get_u32s(env, argv + 1, 1, &rows) ||
      !get_u32s(env, argv + 2, 1, &stride) || !typed_array(env, argv[3], napi_int32_array, &visible, &v_len) ||
      napi_get_value_double(env, argv[4], &scale) != napi_ok) {
    if (argc < 5) napi_throw_type_error(env, NULL, "latent_kernels: softmax_rows(s, rows, stride, visible, scale)");
    return NULL;
  }
  if ((uint64_t)rows * stride > s_len || rows > v_len) {
    fail(env, "latent_kernels: softmax_rows: s must hold rows x stride and visible rows entries");
    return NULL;
  }
  for (uint32_t i = 0; i < rows; i++) {
    const int32_t n = ((const int32_t *)visible)[i];
    if (n < 0 || (uint32_t)n > stride) {
      fail(env, "latent_kernels: softmax_rows: visible entries must lie in [0, stride]");
      return NULL;
    }
  }
  b->set->softmax_rows(s, rows, stride, visible, (float)scale);
  return NULL;
}

static napi_value silu_mul(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  void *data;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, &data) != napi_ok) return NULL;
  const struct ops_binding *b = data;
  void *g, *u;
  size_t g_len, u_len;
  if (argc < 2) {
    napi_throw_type_error(env, NULL, "latent_kernels: silu_mul(gate, up)");
    return NULL;
  }
  if (!typed_array(env, argv[0], napi_float32_array, &g, &g_len) || !typed_array(env, argv[1], napi_float32_array, &u, &u_len)) return NULL;
  if (g_len != u_len) {
    fail(env, "latent_kernels: silu_mul: gate and up must have one length");
    return NULL;
  }
  b->set->silu_mul(g, u, g_len);
  return NULL;
}

static void finalize(napi_env env, void *data, void *hint) {
  (void)hint;
  struct ops_binding *b = data;
  napi_delete_reference(env, b->memory);
  free(b);
}

int bank_add_ops(napi_env env, napi_value exports, napi_value memory, const char *isa) {
  const struct op_set *set = strcmp(isa, "avx512") == 0 ? &ops_avx512 : &ops_avx2;
  static const struct { const char *name; napi_callback fn; } fns[] = {
    { "latent_table", latent_table }, { "attend_latent", attend_latent }, { "softmax_rows", softmax_rows }, { "silu_mul", silu_mul },
  };
  for (size_t i = 0; i < sizeof fns / sizeof fns[0]; i++) {
    struct ops_binding *b = malloc(sizeof *b);
    if (!b) {
      napi_throw_error(env, NULL, "latent_kernels: out of memory");
      return 0;
    }
    *b = (struct ops_binding){ .set = set };
    napi_value fn;
    if (!bank_read_memory(env, memory, &b->base, &b->size) || napi_create_reference(env, memory, 1, &b->memory) != napi_ok ||
        napi_create_function(env, fns[i].name, NAPI_AUTO_LENGTH, fns[i].fn, b, &fn) != napi_ok ||
        napi_add_finalizer(env, fn, b, finalize, NULL, NULL) != napi_ok || napi_set_named_property(env, exports, fns[i].name, fn) != napi_ok) {
      napi_throw_error(env, NULL, "latent_kernels: binding the fused kernels failed");
      return 0;
    }
  }
  return 1;
}
