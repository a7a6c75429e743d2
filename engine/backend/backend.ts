// The seam between the model and the hardware. The model (engine/model/) is written once, top-down, against this
// interface; each backend (cpu; webgpu) computes where its memory is. A step's activations stay in the backend's
// memory as opaque `Activation`s: the model never reads their numbers, it only asks for the rows it needs
// (`read`, asynchronous), so a GPU backend records a whole step and copies back only the logits (or, where it
// samples on the device, `sampleRows`, only the tokens).
//
// Every op may be queued rather than run at once; results are guaranteed only through `read`. Activations live
// until `endStep()`. Shapes are [rows, cols] f32, row-major; an op's contract names every shape it takes.
import type { LatentCache } from '../cache/latentCache';
import type { LatentPageStore, LatentShape } from '../cache/latentStore';
import type { LatentFormat } from '../cache/latentFormat';
import type { Rope } from '../model/rope';
import type { DType } from '../weights/safetensors';
import type { Tensor } from '../weights/tensor';

/** A [rows, cols] f32 matrix in the backend's memory. */
export interface Activation {
  readonly rows: number;
  readonly cols: number;
}

/** A run of new tokens of one sequence inside the batch: rows [row, row + count) at positions pos0... */
export interface BatchItem {
  cache: LatentCache;
  /** Row of the item's first token in the batch. */
  row: number;
  count: number;
  /** Position (= cache index) of the item's first new token. */
  pos0: number;
}

/** How the router picks experts (DeepSeekMoE's MoEGate). */
export interface RouterSpec {
  topK: number;
  method: 'greedy' | 'group_limited_greedy';
  nGroup: number;
  topkGroup: number;
  normTopkProb: boolean;
  routedScalingFactor: number;
}

/** The router's choice per token, in the backend's memory (read it with `readRouting`). */
export interface Routing {
  readonly tokens: number;
  readonly topK: number;
}

export interface ExpertWeights {
  gate: Tensor;
  up: Tensor;
  down: Tensor;
}

/**
 * How one row of logits becomes a token (generate/sampler.ts is the host's definition; a backend that samples on
 * the device must pick the same token for the same logits and `u`):
 * - temperature <= 0: greedy, the largest logit (ties to the lowest id);
 * - else p_i = exp((logit_i - max) / temperature). Rank the tokens by logit, ties by lower id; keep the first topK
 *   (0 = all), then of those the shortest prefix of the ranking whose p sums to at least topP · (their sum), at least
 *   one token (topP >= 1: all). The token is the first kept one, in id order, at which the running sum of kept p
 *   exceeds u · (the kept sum), so a token with p = 0 is never picked; the last kept one with p > 0 when rounding
 *   leaves the sum short. (The best token is always kept, so some p is 1.)
 */
export interface SamplingPick {
  temperature: number;
  topK: number;
  topP: number;
  /** The draw, uniform in [0, 1), taken on the host from the sequence's seeded stream (so a seed reproduces tokens). */
  u: number;
}

/** What a backend runs on, for logs and `latent info`. */
export interface BackendInfo {
  name: string;
  /** The device: "cpu, 2 threads, WebAssembly SIMD", or the GPU adapter's vendor / architecture / description. */
  device: string;
  /** Limits that bound what the backend can hold (e.g. maxBufferSize), as name -> value. */
  limits?: Record<string, number>;
}

export interface Backend {
  readonly name: string;
  info(): BackendInfo;

  // ---- weights: placed once, at load ----
  /**
   * A zeroed weight tensor in the memory the backend computes from, for the loader to fill through `bytes`
   * (so that loading never holds a second copy of the weights); the model then adopts it.
   */
  allocateWeight(name: string, dtype: DType, shape: number[]): { tensor: Tensor; bytes: Uint8Array };
  /**
   * Takes a weight (1-D norms included) into the memory the backend computes from, once, at load; the model
   * uses the returned tensor from then on. May return `w` itself (a GPU backend uploads it and drops the host bytes).
   */
  adoptWeight(w: Tensor): Tensor;

  // ---- the latent pool's pages ----
  /**
   * Optional: the most pages one latent store can hold here (a GPU store binds a layer's pages at once, so one
   * storage binding bounds it); the engine's default budget stays within it, a larger explicit one is refused.
   */
  maxLatentPages?(shape: LatentShape, format: LatentFormat): number;
  /** Page storage for a latent pool (PAGE_TOKENS tokens of every layer per page) in the backend's memory. */
  createLatentStore(shape: LatentShape, format: LatentFormat, capacityPages: number): LatentPageStore;

  // ---- a step's ops ----
  /** [tokens.length, hidden]: rows of an embedding table [vocab, hidden]. Ids are validated by the caller. */
  embed(table: Tensor, tokens: Int32Array): Activation;
  /** [x.rows, w.rows] = x[rows, w.cols] · Wᵀ for a weight W [outFeatures, inFeatures] of any stored dtype. */
  linear(x: Activation, w: Tensor): Activation;
  /**
   * Per head h (w.length heads): out[j, h·o .. (h+1)·o) = x[j, h·stride + offset .. + w[h].cols) · w[h]ᵀ, with
   * o = w[h].rows: [x.rows, heads·o]. MLA's W_UK (queries into the latent space) and W_UV (latents out).
   */
  linearPerHead(x: Activation, w: readonly Tensor[], stride: number, offset: number): Activation;
  /** [x.rows, width]: RMSNorm of columns [offset, offset + width) of x with a 1-D weight [width]. */
  rmsNorm(x: Activation, weight: Tensor, eps: number, offset?: number, width?: number): Activation;
  /**
   * In place: per row j and head h < heads, rotates x[j, h·stride + offset .. + rope dim) for position
   * positions[j] (interleaved checkpoint layout in, half-split out: Rope.applyInterleaved).
   */
  applyRope(x: Activation, rope: Rope, positions: Int32Array, heads: number, stride: number, offset: number): void;
  /** In place: h += d (same shape). */
  addInto(h: Activation, d: Activation): void;
  /** In place: gate = silu(gate) ⊙ up (same shape); returns gate. */
  siluMul(gate: Activation, up: Activation): Activation;
  /** [count, x.cols]: rows [first, first + count) of x (may be a view: do not write to it). */
  sliceRows(x: Activation, first: number, count: number): Activation;
  /** [x.rows, width]: columns [offset, offset + width) of x. */
  sliceCols(x: Activation, offset: number, width: number): Activation;
  /** [Σ rows, cols]: the parts stacked in order. */
  concatRows(parts: readonly Activation[]): Activation;

  /**
   * Stores the batch's new latents of one layer: row item.row + j of c_kv [n, r] and k_pe [n, dr] (rotated) go to
   * token pos0 + j of item.cache, for every item.
   */
  writeLatents(layer: number, items: readonly BatchItem[], cKv: Activation, kPe: Activation): void;
  /**
   * MLA absorbed attention (MQA over the latent rows) for one item's `count` new tokens and `heads` heads, over
   * cached tokens [0, pos0 + count) of `layer`; query row j·heads + h sees tokens [0, pos0 + j] (causal).
   * qLat [count, heads·r]: the queries with W_UK folded in; q [count, heads·qStride]: the rotated rope part of
   * head h at columns h·qStride + qPeOffset .. + dr. Returns [count, heads·r]: Σ_s p_s·c_kv[s] per query row,
   * p = softmax(scale·(qLat·c_kv[s] + qPe·k_pe[s])).
   */
  attendLatent(layer: number, item: BatchItem, heads: number, qLat: Activation, q: Activation, qStride: number, qPeOffset: number, scale: number): Activation;
  /**
   * MLA naive attention for one item: per head h, keys [k_nope | k_pe] and values v of cached tokens
   * [0, pos0 + count), where kv [pos0 + count, heads·(dn + dv)] holds per head [k_nope (dn) | v (dv)] and
   * kPe [pos0 + count, dr] is shared by the heads; queries q [count, heads·(dn + dr)]; causal as attendLatent.
   * Returns [count, heads·dv].
   */
  attendHeads(item: BatchItem, heads: number, q: Activation, kv: Activation, kPe: Activation, dn: number, dv: number, scale: number): Activation;
  /** The cached latents of tokens [0, end) of `layer`: c_kv [end, r] and k_pe [end, dr] (the naive path expands them). */
  gatherLatents(layer: number, cache: LatentCache, end: number): { cKv: Activation; kPe: Activation };

  /** The router: softmax over logits [n, experts], then top-k per token (greedy or group-limited). */
  route(logits: Activation, spec: RouterSpec): Routing;
  /** [x.rows, hidden]: Σ_k weight_k · expert_k(x) per token, each expert a gated MLP, computed from `routing`. */
  routedExperts(x: Activation, routing: Routing, experts: readonly ExpertWeights[]): Activation;

  /** The rows of x as host floats [x.rows · x.cols]: the only way numbers leave the backend. */
  read(x: Activation): Promise<Float32Array>;
  /**
   * Optional (GPU backends): row i of logits [picks.length, vocab] sampled by picks[i] (SamplingPick) on the device;
   * only the token ids come back. Like `read`, a way numbers leave the backend.
   */
  sampleRows?(logits: Activation, picks: readonly SamplingPick[]): Promise<Int32Array>;
  /** The routing as host arrays [tokens · topK] (for traces and tests). */
  readRouting(r: Routing): Promise<{ experts: Int32Array; weights: Float32Array }>;
  /** Ends a step: every activation and routing of the step may be reused from now on. */
  endStep(): void;
  /**
   * Optional: bracket one layer of a step. The activations made between them live only until endLayer (the model
   * keeps nothing of a layer but what it adds into the residual stream, made before the layer), so a backend may
   * reuse their memory for the next layer.
   */
  beginLayer?(): void;
  endLayer?(): void;

  /**
   * Optional (GPU backends): waits for the weights placed so far to be resident, throwing what the device reported
   * while placing them (out of memory: the model is refused at load, with the numbers).
   */
  settle?(): Promise<void>;
  /**
   * Optional (GPU backends): `listener` runs when a lost device was replaced by a new one; every latent page was
   * lost with the old device, so the caller drops what it cached.
   */
  onDeviceReset?(listener: () => void): void;

  /** Releases threads and device memory. */
  dispose(): void;
}
