// The CPU's attention kernels' inputs, as host arrays (the CPU backend builds them from its activations).
import type { LatentChunk } from '../../cache/latentCache';

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

/**
 * Multi-head causal attention over MLA's expanded latents (the naive path): head h's key for token s is
 * [kv[s, h, :nopeDim] | kPe[s]] (the rotary part shared by the heads) and its value kv[s, h, nopeDim:], read where
 * kv_b's product leaves them.
 */
export interface HeadAttention {
  /** [n, heads, vDim] */
  out: Float32Array;
  /** [n, heads, nopeDim + ropeDim] */
  q: Float32Array;
  /** [length, heads, nopeDim + vDim] */
  kv: Float32Array;
  /** [length, ropeDim] */
  kPe: Float32Array;
  n: number;
  heads: number;
  length: number;
  nopeDim: number;
  ropeDim: number;
  vDim: number;
  /** Per query token, how many keys it sees (causal limit). */
  visible: Int32Array;
  scale: number;
}
