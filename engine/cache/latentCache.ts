// What the model needs of a sequence's latent cache: per layer per token the RMS-normed c_kv (kv_lora_rank
// numbers) and the rotated k_pe (qk_rope_head_dim numbers, half-split order). MLA attends over these rows
// directly (absorbed path) or expands them into per-head K/V (naive path).

export interface LatentChunk {
  /** Index of the chunk's first token in the sequence. */
  start: number;
  count: number;
  /** [count, kvLoraRank] */
  cKv: Float32Array;
  /** [count, qkRopeHeadDim] */
  kPe: Float32Array;
}

export interface LatentCache {
  /** Tokens whose latents are stored (for every layer). */
  readonly length: number;
  /** Makes room for `count` more tokens; their latents are then written layer by layer. */
  grow(count: number): void;
  /** Stores token `index`'s latents of one layer. */
  write(layer: number, index: number, cKv: Float32Array, kPe: Float32Array): void;
  /** The latents of tokens [0, end) of one layer, as one or more consecutive chunks. */
  chunks(layer: number, end: number): Iterable<LatentChunk>;
}

/** The simplest cache: one growing fp32 array per layer for a single sequence. */
export class ContiguousLatentCache implements LatentCache {
  private cKv: Float32Array[];
  private kPe: Float32Array[];
  private capacity = 0;
  length = 0;

  constructor(private readonly numLayers: number, private readonly kvLoraRank: number, private readonly ropeDim: number) {
    this.cKv = Array.from({ length: numLayers }, () => new Float32Array(0));
    this.kPe = Array.from({ length: numLayers }, () => new Float32Array(0));
  }

  grow(count: number): void {
    const need = this.length + count;
    if (need > this.capacity) {
      const cap = Math.max(need, Math.ceil(this.capacity * 1.5), 64);
      for (let l = 0; l < this.numLayers; l++) {
        const c = new Float32Array(cap * this.kvLoraRank);
        c.set(this.cKv[l]);
        this.cKv[l] = c;
        const k = new Float32Array(cap * this.ropeDim);
        k.set(this.kPe[l]);
        this.kPe[l] = k;
      }
      this.capacity = cap;
    }
    this.length = need;
  }

  write(layer: number, index: number, cKv: Float32Array, kPe: Float32Array): void {
    if (index >= this.length) throw new RangeError(`latent cache: token ${index} written past length ${this.length}`);
    this.cKv[layer].set(cKv, index * this.kvLoraRank);
    this.kPe[layer].set(kPe, index * this.ropeDim);
  }

  *chunks(layer: number, end: number): Iterable<LatentChunk> {
    yield {
      start: 0,
      count: end,
      cKv: this.cKv[layer].subarray(0, end * this.kvLoraRank),
      kPe: this.kPe[layer].subarray(0, end * this.ropeDim),
    };
  }

  /** Forgets tokens from `length` on (e.g. to rewind after a rejected draft). */
  truncate(length: number): void {
    this.length = Math.min(this.length, length);
  }
}
