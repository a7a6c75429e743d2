// A bank's bytes as the native module reaches them (addon.c): the shared WebAssembly memory's current base and length.
#ifndef LATENT_BANK_MEMORY_H
#define LATENT_BANK_MEMORY_H
#define NAPI_VERSION 8
#include <node_api.h>
#include <stdint.h>

/** Reads the memory's current buffer: base pointer and length (0 on failure, with a JS exception pending). */
int bank_read_memory(napi_env env, napi_value memory, uint8_t **base, uint64_t *size);

/** Adds the fused kernels (latent_table, attend_latent, softmax_rows, silu_mul) to `exports` (ops_addon.c); 0 on failure. */
int bank_add_ops(napi_env env, napi_value exports, napi_value memory, const char *isa);
#endif
