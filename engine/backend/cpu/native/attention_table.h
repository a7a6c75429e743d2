// The problem a latent-attention kernel call solves (attention_simd.h), as addon code resolves it: the query rows
// and outputs in the bank, and the sequence's latents as a table of chunks that point into the latent cache's
// pages where they lie (host memory outside the bank). ops_addon.c writes a table on the main thread from
// the chunks' typed arrays, checked, and the kernel threads read it while the main thread, which holds the
// arrays, waits for them.
#ifndef LATENT_ATTENTION_TABLE_H
#define LATENT_ATTENTION_TABLE_H
#include <stddef.h>
#include <stdint.h>

/** Tokens [start, start + count) of the sequence: c_kv [count, r], k_pe [count, dr]. */
struct latent_chunk {
  const float *c_kv;
  const float *k_pe;
  uint64_t start;
  uint64_t count;
};

struct latent_problem {
  const struct latent_chunk *table;
  size_t chunks;
  /** Tokens of all chunks together. */
  size_t length;
  size_t r, dr;
  /** [rows, r], [rows, dr], [rows] (each at most length), [rows, length] working space, [rows, r]. */
  const float *q_lat, *q_pe;
  const uint32_t *visible;
  float *scores, *out;
  float scale;
};

/** Query rows [r0, r1) of a problem. */
typedef void attend_latent_fn(const struct latent_problem *pb, size_t r0, size_t r1);
#endif
