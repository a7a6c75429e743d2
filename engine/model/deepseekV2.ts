// DeepSeek-V2, top-down as in the paper: embeddings, then per layer
//   h = h + MLA(input_norm(h));  h = h + FFN(post_attention_norm(h))   (FFN: dense MLP or DeepSeekMoE)
// then the final norm and lm_head. The checkpoint's layout quirks (kv_b per-head [k_nope | v] rows) are
// handled once here, at load; the latents live in a LatentCache owned by the caller.
import type { Activation, Backend, RouterSpec, SamplingPick } from '../backend/backend';
import type { LatentCache } from '../cache/latentCache';
import { GLOBAL_NAMES, layerNames, MlpNames } from './checkpointLayout';
import { DeepseekV2Config, isMoeLayer } from './config';
import { AttentionItem, AttentionPath, AttentionWeights, MultiHeadLatentAttention, runPositions, stackedRuns } from './mla';
import { gatedMlp, MlpWeights } from './mlp';
import { moe, MoeWeights } from './moe';
import { Rope, softmaxScale } from './rope';
import { routerSpec } from './router';
import { allocateTensor, Tensor, toF32, writeF32 } from '../weights/tensor';

interface Layer {
  inputNorm: Tensor;
  attention: MultiHeadLatentAttention;
  postAttentionNorm: Tensor;
  mlp: MlpWeights | null;
  moe: MoeWeights | null;
}

/**
 * One sequence's share of a forward pass: its new tokens, appended after what its cache already holds, or written
 * into slots the cache made for them beforehand (`at`: a gap before latents copied in, so that one forward
 * computes the gaps of an edit together with the prompt's last tokens).
 */
export interface ForwardItem {
  cache: LatentCache;
  tokens: number[];
  /** The cache index of the first token, when the cache already holds slots [at, at + tokens.length) for them. */
  at?: number;
  /** Which of the new tokens' logits to compute. */
  logits: 'all' | 'last' | 'none';
}

/** An item of the engine's step: a forward item that may ask for its next token instead of its logits. */
export interface StepItem extends ForwardItem {
  /**
   * With logits 'last' on a backend that samples (Backend.sampleRows): the next token, sampled on the device by
   * this pick; only its id comes back. Ignored on other backends (the logits come back, for the host to pick).
   */
  pick?: SamplingPick;
}

/** Per step item: its logits as asked (empty when sampled on the device), and its sampled token (else null). */
export interface StepOutput {
  logits: Float32Array;
  token: number | null;
}

/** The router's choice per token of one layer (host copies, for traces). */
export interface Routing {
  /** [n, topK] chosen expert ids. */
  experts: Int32Array;
  /** [n, topK] their weights after normalisation or scaling. */
  weights: Float32Array;
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
  private readonly finalNorm: Tensor;
  private readonly router: RouterSpec | null;
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
    this.finalNorm = get(GLOBAL_NAMES.finalNorm);
    this.router = c.nRoutedExperts === null ? null : routerSpec(c);
    this.lmHead = c.tieWordEmbeddings ? this.embed : get(GLOBAL_NAMES.lmHead);
    this.layers = [];
    for (let i = 0; i < c.numLayers; i++) {
      const n = layerNames(i);
      const kvB = get(n.kvB);
      const attnWeights: AttentionWeights = {
        qProj: c.qLoraRank === null ? get(n.qProj) : null,
        qA: c.qLoraRank === null ? null : get(n.qA),
        qANorm: c.qLoraRank === null ? null : get(n.qANorm),
        qB: c.qLoraRank === null ? null : get(n.qB),
        kvA: get(n.kvA),
        kvANorm: get(n.kvANorm),
        kvB,
        oProj: get(n.oProj),
        ...splitKvB(c, kvB, backend),
      };
      const moeLayer = isMoeLayer(c, i);
      this.layers.push({
        inputNorm: get(n.inputNorm),
        attention: new MultiHeadLatentAttention(c, i, attnWeights, backend, this.rope, scale),
        postAttentionNorm: get(n.postAttentionNorm),
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
   * returns per item the requested logits ([rows, vocab], rows = 1 for 'last'). Only those logits leave the
   * backend's memory.
   */
  async forward(items: ForwardItem[], options: ForwardOptions = {}): Promise<Float32Array[]> {
    return (await this.step(items.map(({ cache, tokens, at, logits }) => ({ cache, tokens, at, logits })), options)).map((o) => o.logits);
  }

  /**
   * `forward`, where the items with a pick get their next token sampled on the device when the backend samples:
   * the logits of all of them computed together, and only their ids read back.
   */
  async step(items: StepItem[], options: ForwardOptions = {}): Promise<StepOutput[]> {
    const b = this.backend;
    const c = this.config;
    const path = options.attentionPath ?? 'auto';
    const trace = options.trace;
    const tokens = items.flatMap((it) => it.tokens);
    // Every token id is validated before any cache grows, so bad input leaves the caches untouched.
    for (const tok of tokens) {
      if (!Number.isInteger(tok) || tok < 0 || tok >= c.vocabSize) {
        throw new RangeError(`token id ${tok} is outside the vocabulary (0..${c.vocabSize - 1})`);
      }
    }
    for (const it of items) {
      if (it.at !== undefined && !(Number.isInteger(it.at) && it.at >= 0 && it.at + it.tokens.length <= it.cache.length)) {
        throw new RangeError(`forward: slots [${it.at}, ${it.at + it.tokens.length}) are not in a cache of ${it.cache.length} tokens`);
      }
    }
    let row = 0;
    const attentionItems: AttentionItem[] = items.map((it) => {
      const a = { cache: it.cache, row, count: it.tokens.length, pos0: it.at ?? it.cache.length };
      row += it.tokens.length;
      return a;
    });
    const positions = runPositions(attentionItems);
    // After the last layer's latents only the rows whose logits are asked for matter (a trace keeps them all).
    const outputs = trace ? attentionItems : attentionItems.map((a, i) => outputRows(a, items[i].logits));
    const outputsAll = outputs.every((o, i) => o.count === attentionItems[i].count);
    try {
      let h = b.embed(this.embed, Int32Array.from(tokens));
      for (const it of items) if (it.at === undefined) it.cache.grow(it.tokens.length);
      if (trace) trace.hiddenStates.push((await b.read(h)).slice());
      for (let l = 0; l < this.layers.length; l++) {
        const layer = this.layers[l];
        const last = l === this.layers.length - 1 && !outputsAll;
        // A last layer that selects rows is not layer-scoped: its attention becomes the residual the logits read.
        if (!last) b.beginLayer?.();
        const attn = layer.attention.forward(b.rmsNorm(h, layer.inputNorm, c.rmsNormEps), attentionItems, positions, path, last ? outputs : attentionItems);
        if (attn === null) {
          return items.map(() => ({ logits: new Float32Array(0), token: null }));
        }
        if (trace) trace.attnOutputs.push((await b.read(attn)).slice());
        if (last) {
          // The residual's output rows are added into the attention (a fresh activation; the rows may be views).
          b.addInto(attn, b.concatRows(outputs.filter((o) => o.count > 0).map((o) => b.sliceRows(h, o.row, o.count))));
          h = attn;
        } else {
          b.addInto(h, attn);
        }

        const x = b.rmsNorm(h, layer.postAttentionNorm, c.rmsNormEps);
        let ffn: Activation;
        if (layer.moe) {
          const routed = moe(b, this.router!, layer.moe, x);
          ffn = routed.out;
          if (trace) trace.routings.push(await b.readRouting(routed.routing));
        } else {
          ffn = gatedMlp(b, layer.mlp!, x);
          trace?.routings.push(null);
        }
        if (trace) trace.mlpOutputs.push((await b.read(ffn)).slice());
        b.addInto(h, ffn);
        if (trace && l < this.layers.length - 1) trace.hiddenStates.push((await b.read(h)).slice());
        if (!last) b.endLayer?.();
      }
      const normed = b.rmsNorm(h, this.finalNorm, c.rmsNormEps);
      if (trace) trace.hiddenStates.push((await b.read(normed)).slice());
      const final = outputsAll ? attentionItems : stackedRuns(outputs);
      const sampled = b.sampleRows ? items.flatMap((it, i) => (it.pick && it.logits === 'last' && it.tokens.length > 0 ? [i] : [])) : [];
      const picked = sampled.length > 0 ? await this.sampleLast(normed, sampled.map((i) => final[i]), sampled.map((i) => items[i].pick!)) : [];
      return await Promise.all(final.map(async (a, i): Promise<StepOutput> => {
        const at = sampled.indexOf(i);
        if (at >= 0) return { logits: new Float32Array(0), token: picked[at] };
        return { logits: await this.logits(normed, a.row, a.count, items[i].logits), token: null };
      }));
    } finally {
      b.endStep();
    }
  }

  /** The next token of each item, sampled on the device from its last row's logits (one lm_head over all of them). */
  private async sampleLast(normed: Activation, items: readonly AttentionItem[], picks: SamplingPick[]): Promise<Int32Array> {
    const b = this.backend;
    const rows = b.concatRows(items.map((a) => b.sliceRows(normed, a.row + a.count - 1, 1)));
    return b.sampleRows!(b.linear(rows, this.lmHead), picks);
  }

  private async logits(normed: Activation, row: number, count: number, which: ForwardItem['logits']): Promise<Float32Array> {
    if (which === 'none' || count === 0) return new Float32Array(0);
    const first = which === 'last' ? row + count - 1 : row;
    const rows = which === 'last' ? 1 : count;
    return this.backend.read(this.backend.linear(this.backend.sliceRows(normed, first, rows), this.lmHead));
  }
}

/** The rows of an item whose hidden states reach the logits: all of them, its last, or none. */
function outputRows(a: AttentionItem, which: ForwardItem['logits']): AttentionItem {
  if (which === 'all' || a.count === 0) return a;
  if (which === 'none') return { ...a, count: 0 };
  return { ...a, row: a.row + a.count - 1, count: 1, pos0: a.pos0 + a.count - 1 };
}

/**
 * kv_b_proj's rows are per head [k_nope (dn) | v (dv)]; split them into per-head W_UKᵀ [r, dn] (transposed, so
 * that q_lat = q_nope·W_UK is a matmul) and W_UV [dv, r], in the backend's memory: in kv_b's own dtype when it is
 * F16 or BF16 (every value is exact there, and decode reads half the bytes of f32), else in fp32.
 */
function splitKvB(c: DeepseekV2Config, kvB: Tensor, backend: Backend): { wUKT: Tensor[]; wUV: Tensor[] } {
  const { numHeads: H, qkNopeHeadDim: dn, vHeadDim: dv, kvLoraRank: r } = c;
  const all = toF32(kvB);
  const dtype = kvB.dtype === 'F16' || kvB.dtype === 'BF16' ? kvB.dtype : 'F32';
  const tensorOf = (name: string, shape: number[], values: Float32Array): Tensor => {
    const t = allocateTensor(name, dtype, shape).tensor;
    writeF32(t, values);
    return backend.adoptWeight(t);
  };
  const wUKT: Tensor[] = [];
  const wUV: Tensor[] = [];
  const uk = new Float32Array(r * dn);
  for (let h = 0; h < H; h++) {
    const base = h * (dn + dv) * r;
    for (let i = 0; i < dn; i++) for (let a = 0; a < r; a++) uk[a * dn + i] = all[base + i * r + a];
    wUKT.push(tensorOf(`${kvB.name}[W_UK^T head ${h}]`, [r, dn], uk));
    wUV.push(tensorOf(`${kvB.name}[W_UV head ${h}]`, [dv, r], all.subarray(base + dn * r, base + (dn + dv) * r)));
  }
  return { wUKT, wUV };
}
