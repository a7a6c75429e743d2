// Multi-head Latent Attention (DeepSeek-V2 §2.1). Each token is compressed to a latent c_kv (kv_lora_rank,
// RMS-normed) plus one rope key k_pe shared by all heads; only these are cached. Per head, keys and values are
// c_kv through kv_b_proj: k_nope = W_UK·c, v = W_UV·c.
//
// Two exact ways to attend:
// - naive: expand every cached latent into per-head k_nope and v, then ordinary attention (cheap for long
//   prefills, where the expansion is shared by many queries);
// - absorbed: fold W_UK into the query (q·W_UK attends to c directly) and W_UV into the output, so attention is
//   MQA over the 576-wide latent rows and K/V never exist (cheap for decode and short extends).
import type { Backend } from '../backend/backend';
import type { LatentCache } from '../cache/latentCache';
import type { DeepseekV2Config } from './config';
import { rmsNorm } from './rmsNorm';
import type { Rope } from './rope';
import type { Tensor } from '../weights/tensor';

export interface AttentionWeights {
  /** Plain query projection (q_lora_rank null) ... */
  qProj: Tensor | null;
  /** ... or the low-rank query: q_a_proj, its norm, q_b_proj. */
  qA: Tensor | null;
  qANorm: Float32Array | null;
  qB: Tensor | null;
  kvA: Tensor;
  kvANorm: Float32Array;
  kvB: Tensor;
  oProj: Tensor;
  /** Per head W_UKᵀ [r, dn]: kv_b_proj's k_nope rows, transposed once at load (q_lat = q_nope · W_UK). */
  wUKT: Tensor[];
  /** Per head W_UV [dv, r]: kv_b_proj's v rows. */
  wUV: Tensor[];
}

export type AttentionPath = 'auto' | 'naive' | 'absorbed';

/** A run of new tokens of one sequence inside the batch. */
export interface AttentionItem {
  cache: LatentCache;
  /** Row of the item's first token in the batch. */
  row: number;
  count: number;
  /** Position (= cache index) of the item's first new token. */
  pos0: number;
}

/** The q_lora-free eps of q_a_layernorm and kv_a_layernorm: always the DeepseekV2RMSNorm default. */
const LATENT_NORM_EPS = 1e-6;

export class MultiHeadLatentAttention {
  private readonly H: number;
  private readonly dn: number;
  private readonly dr: number;
  private readonly dv: number;
  private readonly r: number;
  private readonly scale: number;

  constructor(
    c: DeepseekV2Config,
    private readonly layer: number,
    private readonly w: AttentionWeights,
    private readonly backend: Backend,
    private readonly rope: Rope,
    scale: number,
  ) {
    this.H = c.numHeads;
    this.dn = c.qkNopeHeadDim;
    this.dr = c.qkRopeHeadDim;
    this.dv = c.vHeadDim;
    this.r = c.kvLoraRank;
    this.scale = scale;
  }

  /** out[n, hidden] = attention of the normed hidden states x[n, hidden]; stores the new latents in each cache. */
  forward(x: Float32Array, n: number, items: AttentionItem[], out: Float32Array, path: AttentionPath): void {
    const { H, dn, dr, dv, r } = this;
    const qDim = dn + dr;
    const q = this.queries(x, n);

    // The latent of each new token: c_kv = norm(first r of kv_a), k_pe = rope(last dr), shared by all heads.
    const kv = new Float32Array(n * (r + dr));
    this.backend.matmul(kv, x, n, this.w.kvA);
    const cKv = new Float32Array(n * r);
    rmsNorm(cKv, kv, n, r, this.w.kvANorm, LATENT_NORM_EPS, r + dr);
    const kPe = new Float32Array(n * dr);
    for (const it of items) {
      for (let j = 0; j < it.count; j++) {
        const t = it.row + j;
        const pos = it.pos0 + j;
        kPe.set(kv.subarray(t * (r + dr) + r, (t + 1) * (r + dr)), t * dr);
        this.rope.applyInterleaved(kPe, t * dr, pos);
        for (let h = 0; h < H; h++) this.rope.applyInterleaved(q, (t * H + h) * qDim + dn, pos);
        it.cache.write(this.layer, pos, cKv.subarray(t * r, (t + 1) * r), kPe.subarray(t * dr, (t + 1) * dr));
      }
    }

    const attended = new Float32Array(n * H * dv);
    for (const it of items) {
      const useAbsorbed = path === 'absorbed' || (path === 'auto' && this.absorbedIsCheaper(it.count, it.pos0 + it.count));
      if (useAbsorbed) this.attendAbsorbed(q, it, attended);
      else this.attendNaive(q, it, attended);
    }
    this.backend.matmul(out, attended, n, this.w.oProj);
  }

  private queries(x: Float32Array, n: number): Float32Array {
    const { H, dn, dr } = this;
    const q = new Float32Array(n * H * (dn + dr));
    if (this.w.qProj) {
      this.backend.matmul(q, x, n, this.w.qProj);
    } else {
      const rank = this.w.qA!.shape[0];
      const qa = new Float32Array(n * rank);
      this.backend.matmul(qa, x, n, this.w.qA!);
      rmsNorm(qa, qa, n, rank, this.w.qANorm!, LATENT_NORM_EPS);
      this.backend.matmul(q, qa, n, this.w.qB!);
    }
    return q;
  }

  /** Multiply-adds per head of each path for `count` queries over `length` cached tokens. */
  private absorbedIsCheaper(count: number, length: number): boolean {
    const { dn, dr, dv, r } = this;
    const absorbed = count * (dn * r + length * (2 * r + dr) + dv * r);
    const naive = length * (dn + dv) * r + count * length * (dn + dr + dv);
    return absorbed <= naive;
  }

  /** Absorbed path: per head, q_lat = q_nope·W_UK attends to c_kv; the output o_lat goes through W_UV. */
  private attendAbsorbed(q: Float32Array, it: AttentionItem, attended: Float32Array): void {
    const { H, dn, dr, dv, r, scale } = this;
    const qDim = dn + dr;
    const n = it.count;
    const rows = n * H; // query row j·H + h: head h of new token j
    const qLat = new Float32Array(rows * r);
    const qPe = new Float32Array(rows * dr);
    const visible = new Int32Array(rows);
    const qNope = new Float32Array(n * dn);
    const perHead = new Float32Array(n * r);
    for (let h = 0; h < H; h++) {
      for (let j = 0; j < n; j++) {
        const qo = ((it.row + j) * H + h) * qDim;
        qNope.set(q.subarray(qo, qo + dn), j * dn);
        qPe.set(q.subarray(qo + dn, qo + qDim), (j * H + h) * dr);
        visible[j * H + h] = it.pos0 + j + 1;
      }
      this.backend.matmul(perHead, qNope, n, this.w.wUKT[h]);
      for (let j = 0; j < n; j++) qLat.set(perHead.subarray(j * r, (j + 1) * r), (j * H + h) * r);
    }
    const oLat = new Float32Array(rows * r);
    const latents = [...it.cache.chunks(this.layer, it.pos0 + n)];
    this.backend.attendLatent({ out: oLat, qLat, qPe, rows, visible, latents, kvLoraRank: r, ropeDim: dr, scale });
    const out = new Float32Array(n * dv);
    for (let h = 0; h < H; h++) {
      for (let j = 0; j < n; j++) perHead.set(oLat.subarray((j * H + h) * r, (j * H + h + 1) * r), j * r);
      this.backend.matmul(out, perHead, n, this.w.wUV[h]);
      for (let j = 0; j < n; j++) attended.set(out.subarray(j * dv, (j + 1) * dv), ((it.row + j) * H + h) * dv);
    }
  }

  /** Naive path: expand the cached latents into per-head k_nope and v, then ordinary causal attention. */
  private attendNaive(q: Float32Array, it: AttentionItem, attended: Float32Array): void {
    const { H, dn, dr, dv, scale } = this;
    const qDim = dn + dr;
    const kvDim = dn + dv;
    const end = it.pos0 + it.count;
    const kv = new Float32Array(end * H * kvDim);
    const kPe = new Float32Array(end * dr);
    for (const ch of it.cache.chunks(this.layer, end)) {
      this.backend.matmul(kv.subarray(ch.start * H * kvDim), ch.cKv, ch.count, this.w.kvB);
      kPe.set(ch.kPe.subarray(0, ch.count * dr), ch.start * dr);
    }
    // Per head: keys [k_nope | k_pe (shared by all heads)], values v.
    const k = new Float32Array(end * H * qDim);
    const v = new Float32Array(end * H * dv);
    for (let s = 0; s < end; s++) {
      for (let h = 0; h < H; h++) {
        const src = (s * H + h) * kvDim;
        k.set(kv.subarray(src, src + dn), (s * H + h) * qDim);
        k.set(kPe.subarray(s * dr, (s + 1) * dr), (s * H + h) * qDim + dn);
        v.set(kv.subarray(src + dn, src + kvDim), (s * H + h) * dv);
      }
    }
    const visible = Int32Array.from({ length: it.count }, (_, j) => it.pos0 + j + 1);
    this.backend.attendHeads({
      out: attended.subarray(it.row * H * dv, (it.row + it.count) * H * dv),
      q: q.subarray(it.row * H * qDim, (it.row + it.count) * H * qDim),
      k,
      v,
      n: it.count,
      heads: H,
      length: end,
      qkDim: qDim,
      vDim: dv,
      visible,
      scale,
    });
  }
}
