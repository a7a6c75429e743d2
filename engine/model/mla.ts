// Multi-head Latent Attention (DeepSeek-V2 §2.1). Each token is compressed to a latent c_kv (kv_lora_rank,
// RMS-normed) plus one rope key k_pe shared by all heads; only these are cached. Per head, keys and values are
// c_kv through kv_b_proj: k_nope = W_UK·c, v = W_UV·c.
//
// Two exact ways to attend:
// - naive: expand every cached latent into per-head k_nope and v, then ordinary attention (cheap for long
//   prefills, where the expansion is shared by many queries);
// - absorbed: fold W_UK into the query (q·W_UK attends to c directly) and W_UV into the output, so attention is
//   MQA over the 576-wide latent rows and K/V never exist (cheap for decode and short extends).
import type { Activation, Backend, BatchItem } from '../backend/backend';
import type { DeepseekV2Config } from './config';
import type { Rope } from './rope';
import type { Tensor } from '../weights/tensor';

export interface AttentionWeights {
  /** Plain query projection (q_lora_rank null) ... */
  qProj: Tensor | null;
  /** ... or the low-rank query: q_a_proj, its norm, q_b_proj. */
  qA: Tensor | null;
  qANorm: Tensor | null;
  qB: Tensor | null;
  kvA: Tensor;
  kvANorm: Tensor;
  kvB: Tensor;
  oProj: Tensor;
  /** Per head W_UKᵀ [r, dn]: kv_b_proj's k_nope rows, transposed once at load (q_lat = q_nope · W_UK). */
  wUKT: Tensor[];
  /** Per head W_UV [dv, r]: kv_b_proj's v rows. */
  wUV: Tensor[];
}

export type AttentionPath = 'auto' | 'naive' | 'absorbed';

export type AttentionItem = BatchItem;

/** The position of every row of the runs, in order. */
export function runPositions(runs: readonly AttentionItem[]): Int32Array {
  return Int32Array.from(runs.flatMap((a) => Array.from({ length: a.count }, (_, j) => a.pos0 + j)));
}

/** The runs renumbered as they lie once stacked (rows picked out of a batch, one run after the other). */
export function stackedRuns(runs: readonly AttentionItem[]): AttentionItem[] {
  let row = 0;
  return runs.map((a) => {
    const r = { ...a, row };
    row += a.count;
    return r;
  });
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

  /**
   * Stores the new latents of the normed hidden states x [n, hidden] in each item's cache, and returns the
   * attention of the query rows: [Σ count, hidden] for `queries` (runs of x's rows, by default every item's),
   * stacked in order; null when there are none. The last layer asks only for the rows whose logits are wanted.
   */
  forward(
    x: Activation,
    items: readonly AttentionItem[],
    positions: Int32Array,
    path: AttentionPath,
    queries: readonly AttentionItem[] = items,
  ): Activation | null {
    const b = this.backend;
    const { H, dn, dr, r } = this;
    const qDim = dn + dr;

    // The latent of each new token: c_kv = norm(first r of kv_a), k_pe = rope(last dr), shared by all heads.
    const kv = b.linear(x, this.w.kvA);
    const cKv = b.rmsNorm(kv, this.w.kvANorm, LATENT_NORM_EPS, 0, r);
    b.applyRope(kv, this.rope, positions, 1, r + dr, r);
    const kPe = b.sliceCols(kv, r, dr);
    b.writeLatents(this.layer, items, cKv, kPe);

    const asked = queries.filter((it) => it.count > 0);
    if (asked.length === 0) return null;
    const all = queries === items;
    const q = this.queries(all ? x : b.concatRows(asked.map((it) => b.sliceRows(x, it.row, it.count))));
    b.applyRope(q, this.rope, all ? positions : runPositions(asked), H, qDim, dn);

    const attended = (all ? asked : stackedRuns(asked)).map((it) => {
      const qi = b.sliceRows(q, it.row, it.count);
      const useAbsorbed = path === 'absorbed' || (path === 'auto' && this.absorbedIsCheaper(it.count, it.pos0 + it.count));
      return useAbsorbed ? this.attendAbsorbed(qi, it) : this.attendNaive(qi, it);
    });
    return b.linear(b.concatRows(attended), this.w.oProj);
  }

  private queries(x: Activation): Activation {
    const b = this.backend;
    if (this.w.qProj) return b.linear(x, this.w.qProj);
    const qa = b.linear(x, this.w.qA!);
    return b.linear(b.rmsNorm(qa, this.w.qANorm!, LATENT_NORM_EPS), this.w.qB!);
  }

  /** Multiply-adds per head of each path for `count` queries over `length` cached tokens. */
  private absorbedIsCheaper(count: number, length: number): boolean {
    const { dn, dr, dv, r } = this;
    const absorbed = count * (dn * r + length * (2 * r + dr) + dv * r);
    const naive = length * (dn + dv) * r + count * length * (dn + dr + dv);
    return absorbed <= naive;
  }

  /** Absorbed path: per head, q_lat = q_nope·W_UK attends to c_kv; the output o_lat goes through W_UV. */
  private attendAbsorbed(q: Activation, it: AttentionItem): Activation {
    const b = this.backend;
    const { H, dn, dr, r, scale } = this;
    const qLat = b.linearPerHead(q, this.w.wUKT, dn + dr, 0);
    const oLat = b.attendLatent(this.layer, it, H, qLat, q, dn + dr, dn, scale);
    return b.linearPerHead(oLat, this.w.wUV, r, 0);
  }

  /** Naive path: expand the cached latents into per-head k_nope and v, then ordinary causal attention. */
  private attendNaive(q: Activation, it: AttentionItem): Activation {
    const b = this.backend;
    const { H, dn, dv, scale } = this;
    const { cKv, kPe } = b.gatherLatents(this.layer, it.cache, it.pos0 + it.count);
    return b.attendHeads(it, H, q, b.linear(cKv, this.w.kvB), kPe, dn, dv, scale);
  }
}
