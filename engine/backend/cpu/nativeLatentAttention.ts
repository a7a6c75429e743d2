// MLA's absorbed attention on the native kernels (native/attention_simd.h), the contract of attendLatentWasm:
// one kernel call per group of query rows, its rows shared by the threads, over the latents where the cache keeps
// them (a table of the chunks, native/ops_addon.c, instead of attendLatentWasm's copy into the scratch area),
// scores, softmax and the weighted sum in one pass per row group instead of three calls and a TypeScript softmax.
import type { LatentAttention } from './attentionJobs';
import * as C from './controlBlock';
import type { NativeFusedOps } from './nativeKernels';
import type { KernelThreads } from './kernelThreads';
import type { WasmMemory } from './wasmKernels';
import { SCRATCH_BYTES } from './weightArena';
import { f32Bits } from '../../weights/halfPrecision';

/** Scratch layout (bytes): params (7 u32) | table (header, then one entry per chunk) | per row group the rest. */
const PARAMS = 0;
const TABLE = 64;
const TABLE_HEADER_BYTES = 40;
const TABLE_CHUNK_BYTES = 32;

function rowsStart(chunks: number): number {
  return Math.ceil((TABLE + TABLE_HEADER_BYTES + chunks * TABLE_CHUNK_BYTES) / 64) * 64;
}

/** Query rows per kernel call that fit the scratch area (0: not even one, and the WASM path's segments take it). */
export function nativeLatentRowsPerCall(a: LatentAttention, length: number): number {
  const { kvLoraRank: r, ropeDim: dr } = a;
  // Per row: q_lat, q_pe, visible, its scores over the whole context, out.
  const perRow = 4 * (r + dr + 1 + length + r);
  return Math.max(0, Math.floor((SCRATCH_BYTES - rowsStart(a.latents.length)) / perRow));
}

export function attendLatentNative(a: LatentAttention, length: number, rowsPerCall: number, pool: Pick<KernelThreads, 'runMatmul'>, bank: number,
  memory: WasmMemory, kernels: Partial<NativeFusedOps>): void {
  const { kvLoraRank: r, ropeDim: dr, scale } = a;
  if (!kernels.latent_table) throw new Error('latent attention: these kernels have no native latent attention');
  // The chunks' arrays stay referenced by `a` until the last call returns, as the kernels read them in place.
  kernels.latent_table(TABLE, a.latents.map((ch) => ch.cKv.subarray(0, ch.count * r)), a.latents.map((ch) => ch.kPe.subarray(0, ch.count * dr)), r, dr);
  const base = rowsStart(a.latents.length);
  const params = new Uint32Array(memory.buffer, PARAMS, 7);
  for (let first = 0; first < a.rows; first += rowsPerCall) {
    const rows = Math.min(rowsPerCall, a.rows - first);
    let at = base;
    const take = <T extends Float32Array | Uint32Array>(make: (buffer: SharedArrayBuffer, offset: number, count: number) => T, count: number): T => {
      const view = make(memory.buffer, at, count);
      at += count * 4;
      return view;
    };
    const f32 = (b: SharedArrayBuffer, o: number, n: number) => new Float32Array(b, o, n);
    const qLat = take(f32, rows * r);
    const qPe = take(f32, rows * dr);
    const visible = take((b, o, n) => new Uint32Array(b, o, n), rows);
    const scores = take(f32, rows * length);
    const out = take(f32, rows * r);
    qLat.set(a.qLat.subarray(first * r, (first + rows) * r));
    qPe.set(a.qPe.subarray(first * dr, (first + rows) * dr));
    visible.set(a.visible.subarray(first, first + rows));
    params.set([TABLE, qLat.byteOffset, qPe.byteOffset, visible.byteOffset, scores.byteOffset, out.byteOffset, f32Bits(scale)]);
    // `cols` is the multiply-adds per row (the pool's measure of whether to wake the workers).
    pool.runMatmul({ op: C.OP_ATTEND_LATENT, bank, x: PARAMS, w: 0, out: 0, n: 1, rows, cols: Math.min(2 ** 31 - 1, length * (2 * r + dr)), rowBlock: 0, split: rows });
    a.out.set(out, first * r);
  }
}

const U = 2 ** -24;

/**
 * How far the native and the WASM latent attention may differ on output [i, d] (or either from the exact value). Both
 * compute the scores s_t = scale·(q_lat·c_t + q_pe·k_t) in f32 (Higham: each within scale·γ_(r/4 + 8)·A_t of exact,
 * A_t = Σ|q_lat·c_t| + Σ|q_pe·k_t|, r >= dr), so they differ by at most Δ = 2·scale·γ_(r/4 + 8)·max_t A_t; the
 * native kernel also rounds s_t - max in f32 (u·range, range = max_t s_t - min_t s_t). A perturbation δ of every
 * exponent moves each softmax weight by a factor within e^(±2δ); exp (2 ulp natively, rounded once in WASM), the f32
 * sum of the weights, the normalisation and the f32 sum Σ_t p_t·c_t,d (FMA natively, mul and add in WASM) add at
 * most (4L + 16)·u relative, over L visible tokens. Hence |o_native - o_wasm| <= (e^(2Δ + 2u·range) - 1 + (4L + 16)·u)
 * · Σ_t p_t·|c_t,d|.
 */
export function latentAgreementBound(r: number, visible: number, scale: number, maxAbsDot: number, scoreRange: number, weightedAbs: number): number {
  const k = r / 4 + 8;
  const delta = 2 * Math.abs(scale) * ((k * U) / (1 - k * U)) * maxAbsDot;
  return (Math.expm1(2 * delta + 2 * U * scoreRange) + (4 * visible + 16) * U) * weightedAbs;
}

/** latentAgreementBound for every output of a problem ([rows, r]), its terms computed in double from the inputs. */
export function latentAgreementBounds(a: LatentAttention): Float64Array {
  const { rows, qLat, qPe, visible, latents, kvLoraRank: r, ropeDim: dr, scale } = a;
  const bounds = new Float64Array(rows * r);
  for (let i = 0; i < rows; i++) {
    const n = visible[i];
    const s = new Float64Array(n);
    let maxAbsDot = 0;
    for (const ch of latents) {
      for (let t = 0; t < ch.count && ch.start + t < n; t++) {
        let dot = 0, abs = 0;
        for (let d = 0; d < r; d++) {
          const v = qLat[i * r + d] * ch.cKv[t * r + d];
          dot += v;
          abs += Math.abs(v);
        }
        for (let d = 0; d < dr; d++) {
          const v = qPe[i * dr + d] * ch.kPe[t * dr + d];
          dot += v;
          abs += Math.abs(v);
        }
        s[ch.start + t] = dot * scale;
        maxAbsDot = Math.max(maxAbsDot, abs);
      }
    }
    if (n === 0) continue;
    const max = s.reduce((m, v) => Math.max(m, v), -Infinity);
    const min = s.reduce((m, v) => Math.min(m, v), Infinity);
    let sum = 0;
    for (let t = 0; t < n; t++) sum += s[t] = Math.exp(s[t] - max);
    const weighted = new Float64Array(r);
    for (const ch of latents) {
      for (let t = 0; t < ch.count && ch.start + t < n; t++) {
        const p = s[ch.start + t] / sum;
        for (let d = 0; d < r; d++) weighted[d] += p * Math.abs(ch.cKv[t * r + d]);
      }
    }
    for (let d = 0; d < r; d++) bounds[i * r + d] = latentAgreementBound(r, n, scale, maxAbsDot, max - min, weighted[d]);
  }
  return bounds;
}
