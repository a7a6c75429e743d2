// MLA's absorbed attention on the CPU (see Backend.attendLatent).
// - attendLatentReference: plain loops in double, the oracle.
// - attendLatentWasm: the latents are copied into a bank's scratch, then three kernel calls shared by the
//   threads: scores = q_lat·c_kvᵀ and q_pe·k_peᵀ (threads split the context), softmax in TypeScript, and
//   out = p·c_kv (threads split the latent dimension).
import type { LatentChunk } from '../../cache/latentCache';
import type { LatentAttention } from './attentionJobs';
import * as C from './controlBlock';
import { type KernelThreads, rowBlockFor } from './kernelThreads';
import type { WasmMemory } from './wasmKernels';
import { SCRATCH_BYTES } from './weightArena';

export function attendLatentReference(a: LatentAttention): void {
  const { out, qLat, qPe, rows, visible, latents, kvLoraRank: r, ropeDim: dr, scale } = a;
  const length = latents.reduce((n, ch) => n + ch.count, 0);
  const scores = new Float64Array(length);
  const acc = new Float64Array(r);
  for (let i = 0; i < rows; i++) {
    const qo = i * r;
    const po = i * dr;
    let max = -Infinity;
    for (const ch of latents) {
      const stop = Math.min(ch.count, visible[i] - ch.start);
      for (let s = 0; s < stop; s++) {
        let dot = 0;
        const co = s * r;
        for (let d = 0; d < r; d++) dot += qLat[qo + d] * ch.cKv[co + d];
        const ko = s * dr;
        for (let d = 0; d < dr; d++) dot += qPe[po + d] * ch.kPe[ko + d];
        const score = dot * scale;
        scores[ch.start + s] = score;
        if (score > max) max = score;
      }
    }
    let sum = 0;
    for (let s = 0; s < visible[i]; s++) sum += scores[s] = Math.exp(scores[s] - max);
    acc.fill(0);
    for (const ch of latents) {
      const stop = Math.min(ch.count, visible[i] - ch.start);
      for (let s = 0; s < stop; s++) {
        const p = scores[ch.start + s] / sum;
        const co = s * r;
        for (let d = 0; d < r; d++) acc[d] += p * ch.cKv[co + d];
      }
    }
    for (let d = 0; d < r; d++) out[qo + d] = acc[d];
  }
}

/** Scratch bytes the WASM path needs; larger problems take the reference path. */
export function latentScratchBytes(a: LatentAttention, length: number): number {
  const { rows, kvLoraRank: r, ropeDim: dr } = a;
  return 4 * (length * (r + dr) + rows * (r + dr) + 2 * rows * length + rows * r);
}

/** Per query row of one call: the softmax's max score and its sum of exp(score - max), for combining segments. */
export interface SoftmaxStats {
  max: Float64Array;
  sum: Float64Array;
}

export function attendLatentWasm(a: LatentAttention, length: number, pool: KernelThreads, bank: number, memory: WasmMemory,
  stats?: SoftmaxStats): void {
  const { out, qLat, qPe, rows, visible, latents, kvLoraRank: r, ropeDim: dr, scale } = a;
  if (latentScratchBytes(a, length) > SCRATCH_BYTES) throw new RangeError('latent attention: too large for the scratch area');
  // Scratch layout (f32): c_kv [L, r] | k_pe [L, dr] | q_lat [rows, r] | q_pe [rows, dr] | s [rows, L] | s_pe [rows, L] | o [rows, r]
  let at = 0;
  const take = (count: number) => {
    const view = new Float32Array(memory.buffer, at, count);
    at += count * 4;
    return view;
  };
  const cKv = take(length * r);
  const kPe = take(length * dr);
  const q = take(rows * r);
  const qp = take(rows * dr);
  const s = take(rows * length);
  const sPe = take(rows * length);
  const o = take(rows * r);
  for (const ch of latents) {
    cKv.set(ch.cKv.subarray(0, ch.count * r), ch.start * r);
    kPe.set(ch.kPe.subarray(0, ch.count * dr), ch.start * dr);
  }
  q.set(qLat);
  qp.set(qPe);
  const ptr = (v: Float32Array) => v.byteOffset;
  pool.runMatmul({ op: C.OP_MATMUL_F32, bank, x: ptr(q), w: ptr(cKv), out: ptr(s), n: rows, rows: length, cols: r, rowBlock: rowBlockFor(r * 4), split: length });
  pool.runMatmul({ op: C.OP_MATMUL_F32, bank, x: ptr(qp), w: ptr(kPe), out: ptr(sPe), n: rows, rows: length, cols: dr, rowBlock: rowBlockFor(dr * 4), split: length });
  // Softmax per row over its visible prefix; the rest of the row gets weight 0.
  for (let i = 0; i < rows; i++) {
    const base = i * length;
    const end = base + visible[i];
    let max = -Infinity;
    for (let j = base; j < end; j++) {
      const score = (s[j] + sPe[j]) * scale;
      s[j] = score;
      if (score > max) max = score;
    }
    let sum = 0;
    for (let j = base; j < end; j++) sum += s[j] = Math.exp(s[j] - max);
    const inv = sum > 0 ? 1 / sum : 0;
    for (let j = base; j < end; j++) s[j] *= inv;
    s.fill(0, Math.max(base, end), base + length);
    if (stats) {
      stats.max[i] = max;
      stats.sum[i] = sum;
    }
  }
  pool.runMatmul({ op: C.OP_MATMUL_NN_F32, bank, x: ptr(s), w: ptr(cKv), out: ptr(o), n: rows, rows: length, cols: r, rowBlock: 0, split: r });
  out.set(o);
}

/**
 * Latent attention over a context whose latents do not fit the scratch area at once: the context is cut into
 * segments (whole chunks, at most `segmentTokens` each), each attended on its own, and the normalised segment
 * outputs combined with their softmax statistics, o = Σ_seg w_seg·o_seg, w_seg = l_seg·e^(m_seg - M) / Σ (as
 * flash-decoding combines its splits).
 */
export function attendLatentSegmented(a: LatentAttention, segmentTokens: number, pool: KernelThreads, bank: number, memory: WasmMemory): void {
  const { rows, kvLoraRank: r } = a;
  const segments: LatentChunk[][] = [];
  // A contiguous cache is one chunk: cut chunks into pieces a segment can hold.
  const pieces: LatentChunk[] = [];
  const { ropeDim: dr } = a;
  for (const ch of a.latents) {
    for (let at = 0; at < ch.count; at += segmentTokens) {
      const count = Math.min(segmentTokens, ch.count - at);
      pieces.push({ start: ch.start + at, count, cKv: ch.cKv.subarray(at * r, (at + count) * r), kPe: ch.kPe.subarray(at * dr, (at + count) * dr) });
    }
  }
  for (const ch of pieces) {
    const last = segments[segments.length - 1];
    const used = last ? last.reduce((n, c) => n + c.count, 0) : Infinity;
    if (used + ch.count > segmentTokens) segments.push([ch]);
    else last.push(ch);
  }
  const best = new Float64Array(rows).fill(-Infinity);
  const total = new Float64Array(rows);
  const acc = new Float64Array(rows * r);
  const o = new Float32Array(rows * r);
  const stats: SoftmaxStats = { max: new Float64Array(rows), sum: new Float64Array(rows) };
  for (const seg of segments) {
    const start = seg[0].start;
    const count = seg.reduce((n, c) => n + c.count, 0);
    const visible = a.visible.map((v) => Math.max(0, Math.min(count, v - start)));
    if (visible.every((v) => v === 0)) continue;
    const latents = seg.map((c) => ({ ...c, start: c.start - start }));
    attendLatentWasm({ ...a, out: o, latents, visible }, count, pool, bank, memory, stats);
    for (let i = 0; i < rows; i++) {
      if (stats.sum[i] === 0) continue;
      // Rescale what came before to the new running max, then add this segment's weighted output.
      const m = Math.max(best[i], stats.max[i]);
      const before = Math.exp(best[i] - m), now = stats.sum[i] * Math.exp(stats.max[i] - m);
      for (let d = 0; d < r; d++) acc[i * r + d] = acc[i * r + d] * before + o[i * r + d] * now;
      total[i] = total[i] * before + now;
      best[i] = m;
    }
  }
  for (let i = 0; i < rows; i++) for (let d = 0; d < r; d++) a.out[i * r + d] = total[i] > 0 ? acc[i * r + d] / total[i] : 0;
}
