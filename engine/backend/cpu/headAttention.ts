// Multi-head causal attention on the CPU (see Backend.attendHeads): MLA's naive path for long prefills.
// - attendHeadsReference: plain loops in double, the oracle.
// - attendHeadsWasm: per head, its K and V are gathered from kv and kPe into a bank's scratch, then per block of queries two
//   kernel calls shared by the threads: scores = q·kᵀ (threads split the keys) and out = p·v (threads split
//   v's dimension), with the softmax between them (the native kernels' softmax_rows where bound, else TypeScript).
import type { HeadAttention } from './attentionJobs';
import * as C from './controlBlock';
import { type KernelThreads, rowBlockFor } from './kernelThreads';
import type { NativeFusedOps } from './nativeKernels';
import type { WasmMemory } from './wasmKernels';
import { SCRATCH_BYTES } from './weightArena';

export function attendHeadsReference(a: HeadAttention): void {
  const { out, q, kv, kPe, n, heads: H, length, nopeDim: dn, ropeDim: dr, vDim, visible, scale } = a;
  const qkDim = dn + dr, kvDim = dn + vDim;
  const scores = new Float64Array(length);
  const acc = new Float64Array(vDim);
  for (let j = 0; j < n; j++) {
    for (let h = 0; h < H; h++) {
      const qo = (j * H + h) * qkDim;
      let max = -Infinity;
      for (let s = 0; s < visible[j]; s++) {
        const ko = (s * H + h) * kvDim;
        let dot = 0;
        for (let d = 0; d < dn; d++) dot += q[qo + d] * kv[ko + d];
        for (let d = 0; d < dr; d++) dot += q[qo + dn + d] * kPe[s * dr + d];
        const score = dot * scale;
        scores[s] = score;
        if (score > max) max = score;
      }
      let sum = 0;
      for (let s = 0; s < visible[j]; s++) sum += scores[s] = Math.exp(scores[s] - max);
      acc.fill(0);
      for (let s = 0; s < visible[j]; s++) {
        const p = scores[s] / sum;
        const vo = (s * H + h) * kvDim + dn;
        for (let d = 0; d < vDim; d++) acc[d] += p * kv[vo + d];
      }
      for (let d = 0; d < vDim; d++) out[(j * H + h) * vDim + d] = acc[d];
    }
  }
}

/** Queries per block for the WASM path (scores of a block must fit the scratch), or 0 when K and V do not fit. */
export function headQueryBlock(a: HeadAttention): number {
  const { n, length, vDim } = a;
  const qkDim = a.nopeDim + a.ropeDim;
  const fixed = length * (qkDim + vDim);
  if (fixed * 4 > SCRATCH_BYTES / 2) return 0;
  return Math.max(1, Math.min(n, Math.floor((SCRATCH_BYTES / 4 - fixed) / (length + qkDim + vDim))));
}

export function attendHeadsWasm(a: HeadAttention, block: number, pool: KernelThreads, bank: number, memory: WasmMemory,
  softmaxRows?: NativeFusedOps['softmax_rows']): void {
  const { out, q, kv, kPe, n, heads: H, length: L, nopeDim: dn, ropeDim: dr, vDim, visible, scale } = a;
  const qkDim = dn + dr, kvDim = dn + vDim;
  // Scratch layout (f32): k_h [L, qkDim] | v_h [L, vDim] | q block [block, qkDim] | s [block, L] | o [block, vDim]
  let at = 0;
  const take = (count: number) => {
    const view = new Float32Array(memory.buffer, at, count);
    at += count * 4;
    return view;
  };
  const kh = take(L * qkDim);
  const vh = take(L * vDim);
  const qb = take(block * qkDim);
  const s = take(block * L);
  const o = take(block * vDim);
  for (let h = 0; h < H; h++) {
    for (let t = 0; t < L; t++) {
      const from = (t * H + h) * kvDim;
      kh.set(kv.subarray(from, from + dn), t * qkDim);
      kh.set(kPe.subarray(t * dr, (t + 1) * dr), t * qkDim + dn);
      vh.set(kv.subarray(from + dn, from + kvDim), t * vDim);
    }
    for (let j0 = 0; j0 < n; j0 += block) {
      const m = Math.min(block, n - j0);
      // Keys past the last query's limit get weight 0 anyway; leave them out of the kernel calls.
      let seen = 0;
      for (let j = j0; j < j0 + m; j++) {
        qb.set(q.subarray((j * H + h) * qkDim, (j * H + h + 1) * qkDim), (j - j0) * qkDim);
        seen = Math.max(seen, visible[j]);
      }
      pool.runMatmul({ op: C.OP_MATMUL_F32, bank, x: qb.byteOffset, w: kh.byteOffset, out: s.byteOffset, n: m, rows: seen, cols: qkDim, rowBlock: rowBlockFor(qkDim * 4), split: seen });
      if (softmaxRows) softmaxRows(s, m, seen, visible.subarray(j0, j0 + m), scale);
      else softmax(s, m, seen, visible.subarray(j0, j0 + m), scale);
      pool.runMatmul({ op: C.OP_MATMUL_NN_F32, bank, x: s.byteOffset, w: vh.byteOffset, out: o.byteOffset, n: m, rows: seen, cols: vDim, rowBlock: 0, split: vDim });
      for (let i = 0; i < m; i++) out.set(o.subarray(i * vDim, (i + 1) * vDim), ((j0 + i) * H + h) * vDim);
    }
  }
}

/** Per row i of s [rows, stride]: its first visible[i] scores times `scale`, then softmax; the rest 0. */
export function softmax(s: Float32Array, rows: number, stride: number, visible: Int32Array, scale: number): void {
  for (let i = 0; i < rows; i++) {
    const base = i * stride;
    const end = base + visible[i];
    let max = -Infinity;
    for (let x = base; x < end; x++) {
      const score = s[x] * scale;
      s[x] = score;
      if (score > max) max = score;
    }
    let sum = 0;
    for (let x = base; x < end; x++) sum += s[x] = Math.exp(s[x] - max);
    const inv = 1 / sum;
    for (let x = base; x < end; x++) s[x] *= inv;
    s.fill(0, end, base + stride);
  }
}
