// The seam between the model and the hardware. The model (engine/model/) is written once against this
// interface; each backend (cpu here; webgpu next) implements the heavy operations its own way.
import type { LatentChunk } from '../cache/latentCache';
import type { DType } from '../weights/safetensors';
import type { Tensor } from '../weights/tensor';

/** MLA's absorbed attention: MQA of query rows (one per head per token) over one sequence's latent rows. */
export interface LatentAttention {
  /** [rows, kvLoraRank]: the output, Σ_s p_s · c_kv[s] per query row. */
  out: Float32Array;
  /** [rows, kvLoraRank]: the queries with W_UK folded in (q_nope · W_UK per head). */
  qLat: Float32Array;
  /** [rows, ropeDim]: the queries' rotated rope part. */
  qPe: Float32Array;
  rows: number;
  /** Per query row, how many latent rows it sees (causal limit). */
  visible: Int32Array;
  /** The sequence's latents, as consecutive chunks from token 0. */
  latents: LatentChunk[];
  kvLoraRank: number;
  ropeDim: number;
  scale: number;
}

/** Multi-head causal attention with per-head keys and values (MLA's naive path, after expanding the latents). */
export interface HeadAttention {
  /** [n, heads, vDim] */
  out: Float32Array;
  /** [n, heads, qkDim] */
  q: Float32Array;
  /** [length, heads, qkDim] */
  k: Float32Array;
  /** [length, heads, vDim] */
  v: Float32Array;
  n: number;
  heads: number;
  length: number;
  qkDim: number;
  vDim: number;
  /** Per query token, how many keys it sees (causal limit). */
  visible: Int32Array;
  scale: number;
}

export interface Backend {
  readonly name: string;
  /**
   * A zeroed weight tensor in the memory the backend computes from, for the loader to fill through `bytes`
   * (so that loading never holds a second copy of the weights).
   */
  allocateWeight(name: string, dtype: DType, shape: number[]): { tensor: Tensor; bytes: Uint8Array };
  /**
   * Takes a weight into the memory the backend computes from (device memory for a GPU, kernel-visible memory
   * for the CPU), once, at load; the model uses the returned tensor from then on. May return `w` itself.
   */
  adoptWeight(w: Tensor): Tensor;
  /** out[n, rows] = x[n, cols] · Wᵀ for a weight W of shape [rows, cols] (any stored dtype). */
  matmul(out: Float32Array, x: Float32Array, n: number, w: Tensor): void;
  /**
   * Per query row i: p = softmax(scale · (qLat[i]·c_kv[s] + qPe[i]·k_pe[s])) over s < visible[i];
   * out[i] = Σ_s p_s · c_kv[s].
   */
  attendLatent(a: LatentAttention): void;
  /** Per head h and query token j: out[j, h] = softmax(scale · q[j, h]·k[s, h]) · v[s, h] over s < visible[j]. */
  attendHeads(a: HeadAttention): void;
  /** Releases threads and device memory. */
  dispose(): void;
}
