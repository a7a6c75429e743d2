// DeepSeek-V2, top-down as in the paper: embeddings, then per layer
//   h = h + MLA(input_norm(h));  h = h + FFN(post_attention_norm(h))   (FFN: dense MLP or DeepSeekMoE)
// then the final norm and lm_head. The checkpoint's layout quirks (kv_b per-head [k_nope | v] rows) are
// handled once here, at load; the latents live in a LatentCache owned by the caller.
import type { Backend } from '../backend/backend';
import type { LatentCache } from '../cache/latentCache';
import { GLOBAL_NAMES, layerNames, MlpNames } from './checkpointLayout';
import { DeepseekV2Config, isMoeLayer } from './config';
import { AttentionPath, AttentionWeights, MultiHeadLatentAttention } from './mla';
import { gatedMlp, MlpWeights } from './mlp';
import { moe, MoeWeights, Routing } from './moe';
import { rmsNorm } from './rmsNorm';
import { Rope, softmaxScale } from './rope';
import { allocateTensor, readRow, Tensor, toF32 } from '../weights/tensor';

interface Layer {
  inputNorm: Float32Array;
  attention: MultiHeadLatentAttention;
  postAttentionNorm: Float32Array;
  mlp: MlpWeights | null;
  moe: MoeWeights | null;
}

/** One sequence's share of a forward pass: its new tokens, appended after what its cache already holds. */
export interface ForwardItem {
  cache: LatentCache;
  tokens: number[];
  /** Which of the new tokens' logits to compute. */
  logits: 'all' | 'last' | 'none';
}

/** Intermediate outputs, for checking against the reference's hooks (single-item forwards). */
export interface ForwardTrace {
  hiddenStates: Float32Array[];
  attnOutputs: Float32Array[];
  mlpOutputs: Float32Array[];
  routings: (Routing | null)[];
}

export interface ForwardOptions {
  attentionPath?: AttentionPath;
  trace?: ForwardTrace;
}

export class DeepseekV2Model {
  private readonly layers: Layer[];
  private readonly embed: Tensor;
  private readonly finalNorm: Float32Array;
  private readonly lmHead: Tensor;
  readonly rope: Rope;

  constructor(readonly config: DeepseekV2Config, weights: Map<string, Tensor>, readonly backend: Backend) {
    const c = config;
    const get = (name: string): Tensor => {
      const t = weights.get(name);
      if (!t) throw new Error(`model weights: "${name}" is missing`);
      return backend.adoptWeight(t);
    };
    const mlpAt = (n: MlpNames): MlpWeights => ({ gate: get(n.gate), up: get(n.up), down: get(n.down) });
    this.rope = new Rope(c);
    const scale = softmaxScale(c);
    this.embed = get(GLOBAL_NAMES.embed);
    this.finalNorm = toF32(get(GLOBAL_NAMES.finalNorm));
    this.lmHead = c.tieWordEmbeddings ? this.embed : get(GLOBAL_NAMES.lmHead);
    this.layers = [];
    for (let i = 0; i < c.numLayers; i++) {
      const n = layerNames(i);
      const kvB = get(n.kvB);
      const attnWeights: AttentionWeights = {
        qProj: c.qLoraRank === null ? get(n.qProj) : null,
        qA: c.qLoraRank === null ? null : get(n.qA),
        qANorm: c.qLoraRank === null ? null : toF32(get(n.qANorm)),
        qB: c.qLoraRank === null ? null : get(n.qB),
        kvA: get(n.kvA),
        kvANorm: toF32(get(n.kvANorm)),
        kvB,
        oProj: get(n.oProj),
        ...splitKvB(c, kvB, backend),
      };
      const moeLayer = isMoeLayer(c, i);
      this.layers.push({
        inputNorm: toF32(get(n.inputNorm)),
        attention: new MultiHeadLatentAttention(c, i, attnWeights, backend, this.rope, scale),
        postAttentionNorm: toF32(get(n.postAttentionNorm)),
        mlp: moeLayer ? null : mlpAt(n.mlp),
        moe: moeLayer
          ? {
              router: get(n.router),
              experts: Array.from({ length: c.nRoutedExperts! }, (_, e) => mlpAt(n.expert(e))),
              shared: c.nSharedExperts > 0 ? mlpAt(n.shared) : null,
            }
          : null,
      });
    }
  }

  /**
   * Runs the new tokens of every item through the model, appending their latents to the items' caches, and
   * returns per item the requested logits ([rows, vocab], rows = 1 for 'last').
   */
  forward(items: ForwardItem[], options: ForwardOptions = {}): Float32Array[] {
    const c = this.config;
    const D = c.hiddenSize;
    const n = items.reduce((a, it) => a + it.tokens.length, 0);
    const path = options.attentionPath ?? 'auto';
    const trace = options.trace;

    let row = 0;
    const attentionItems = items.map((it) => {
      const a = { cache: it.cache, row, count: it.tokens.length, pos0: it.cache.length };
      row += it.tokens.length;
      return a;
    });
    // Embedding validates every token id before any cache grows, so bad input leaves the caches untouched.
    const h = this.embedTokens(items.flatMap((it) => it.tokens));
    for (const it of items) it.cache.grow(it.tokens.length);
    trace?.hiddenStates.push(h.slice());
    const x = new Float32Array(n * D);
    const delta = new Float32Array(n * D);
    for (let l = 0; l < this.layers.length; l++) {
      const layer = this.layers[l];
      rmsNorm(x, h, n, D, layer.inputNorm, c.rmsNormEps);
      layer.attention.forward(x, n, attentionItems, delta, path);
      trace?.attnOutputs.push(delta.slice());
      for (let i = 0; i < h.length; i++) h[i] += delta[i];

      rmsNorm(x, h, n, D, layer.postAttentionNorm, c.rmsNormEps);
      let routing: Routing | null = null;
      if (layer.moe) routing = moe(c, this.backend, layer.moe, x, n, delta);
      else gatedMlp(this.backend, layer.mlp!, x, n, delta);
      trace?.mlpOutputs.push(delta.slice());
      trace?.routings.push(routing);
      for (let i = 0; i < h.length; i++) h[i] += delta[i];
      if (trace && l < this.layers.length - 1) trace.hiddenStates.push(h.slice());
    }
    rmsNorm(h, h, n, D, this.finalNorm, c.rmsNormEps);
    trace?.hiddenStates.push(h.slice());
    return attentionItems.map((a, i) => this.logits(h, a.row, a.count, items[i].logits));
  }

  private embedTokens(tokens: number[]): Float32Array {
    const D = this.config.hiddenSize;
    const out = new Float32Array(tokens.length * D);
    tokens.forEach((tok, t) => {
      if (!Number.isInteger(tok) || tok < 0 || tok >= this.config.vocabSize) {
        throw new RangeError(`token id ${tok} is outside the vocabulary (0..${this.config.vocabSize - 1})`);
      }
      readRow(this.embed, tok * D, D, out.subarray(t * D, (t + 1) * D));
    });
    return out;
  }

  private logits(normed: Float32Array, row: number, count: number, which: ForwardItem['logits']): Float32Array {
    const D = this.config.hiddenSize;
    if (which === 'none' || count === 0) return new Float32Array(0);
    const first = which === 'last' ? row + count - 1 : row;
    const rows = which === 'last' ? 1 : count;
    const out = new Float32Array(rows * this.config.vocabSize);
    this.backend.matmul(out, normed.subarray(first * D, (first + rows) * D), rows, this.lmHead);
    return out;
  }
}

/**
 * kv_b_proj's rows are per head [k_nope (dn) | v (dv)]; split them into per-head W_UKᵀ [r, dn] (transposed, so
 * that q_lat = q_nope·W_UK is a matmul) and W_UV [dv, r], in fp32, in the backend's memory.
 */
function splitKvB(c: DeepseekV2Config, kvB: Tensor, backend: Backend): { wUKT: Tensor[]; wUV: Tensor[] } {
  const { numHeads: H, qkNopeHeadDim: dn, vHeadDim: dv, kvLoraRank: r } = c;
  const all = toF32(kvB);
  const wUKT: Tensor[] = [];
  const wUV: Tensor[] = [];
  for (let h = 0; h < H; h++) {
    const base = h * (dn + dv) * r;
    const uk = allocateTensor(`${kvB.name}[W_UK^T head ${h}]`, 'F32', [r, dn]).tensor;
    for (let i = 0; i < dn; i++) for (let a = 0; a < r; a++) uk.data[a * dn + i] = all[base + i * r + a];
    const uv = allocateTensor(`${kvB.name}[W_UV head ${h}]`, 'F32', [dv, r]).tensor;
    (uv.data as Float32Array).set(all.subarray(base + dn * r, base + (dn + dv) * r));
    wUKT.push(backend.adoptWeight(uk));
    wUV.push(backend.adoptWeight(uv));
  }
  return { wUKT, wUV };
}
