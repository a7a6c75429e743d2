// A bank's bytes as the native module reaches them (addon.c): the shared WebAssembly memory's current base and length.
#ifndef LATENT_BANK_MEMORY_H
#define LATENT_BANK_MEMORY_H
#define NAPI_VERSION 8
#include <node_api.h>
#include <stdint.h>

/** Reads the memory's current buffer: base pointer and length (0 on failure, with a JS exception pending). */
int bank_read_memory(napi_env env, napi_value memory, uint8_t **base, uint64_t *size);

/** Adds latent_table and attend_latent over this memory to `exports` (attention_addon.c); 0 on failure. */
int bank_add_attention(napi_env env, napi_value exports, napi_value memory, const char *isa);
#endif
