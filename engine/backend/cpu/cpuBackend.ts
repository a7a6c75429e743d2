// The CPU backend. Two forms:
// - `new CpuBackend()`: the reference, plain TypeScript kernels accumulating in double on one thread, the
//   oracle for every other backend;
// - `await CpuBackend.create({ threads })`: the fast one, WebAssembly SIMD kernels (f32 accumulation, f16/bf16
//   and GGML's block-quantised Q8_0/Q4_0/Q5_0/Q5_1/Q4_K/Q5_K/Q6_K decoded in-register) over weights kept in WASM shared
//   memory, rows split across persistent worker threads; where the native module loads (native/, AVX-512 or AVX2)
//   its kernels take the f32/f16/bf16 matmuls, the integer-dot ones and MLA's absorbed attention over the same
//   memory (kernelChoice.ts).
// Weights reach the fast kernels by being allocated in the backend's arena (`allocateWeight`, for loaders) or
// adopted into it (`adoptWeight`, a copy); any other tensor takes the reference kernel.
import { availableParallelism } from 'node:os';
import type { Activation, Backend, BackendInfo, BatchItem, ExpertWeights, Routing, RouterSpec } from '../backend';
import type { LatentCache } from '../../cache/latentCache';
import type { LatentFormat } from '../../cache/latentFormat';
import { HostLatentStore, LatentPageStore, LatentShape } from '../../cache/latentStore';
import { routeTokens } from '../../model/router';
import type { Rope } from '../../model/rope';
import { DType, isQuantised, QuantDType, rowBytes } from '../../weights/ggmlTypes';
import { ACTIVATION_QUANT_OF, ActivationQuant, DotWeightDType, hasIntegerDot, quantiseActivations, quantisedRowBytes } from '../../weights/quantiseActivations';
import { allocateTensor, readRow, Tensor, toF32 } from '../../weights/tensor';
import type { HeadAttention, LatentAttention } from './attentionJobs';
import * as C from './controlBlock';
import { chooseKernels, KernelChoice, KernelsOption, requestedKernels } from './kernelChoice';
import { KernelThreads, MatmulJob, rowBlockFor } from './kernelThreads';
import { attendHeadsReference, attendHeadsWasm, headQueryBlock } from './headAttention';
import { attendLatentReference, attendLatentSegmented, attendLatentWasm, latentScratchBytes } from './latentAttention';
import { ActivationPool } from './activationPool';
import { matmulRows } from './matmulKernel';
import type { NativeFusedOps } from './nativeKernels';
import { attendLatentNative, nativeLatentRowsPerCall } from './nativeLatentAttention';
import { rmsNorm as rmsNormRows } from '../../model/rmsNorm';
import { SCRATCH_BYTES, WeightArena, WeightLocation } from './weightArena';

export interface CpuBackendOptions {
  /** Threads doing kernel work, the calling thread included (default: the machine's logical cores). */
  threads?: number;
  /** Jobs smaller than this many multiply-adds run on the calling thread alone (default 131,072: one head's W_UK or W_UV stays there). */
  minParallelWork?: number;
  /** Compute over the weights of another fast CPU backend (e.g. to compare thread counts on one copy). */
  shareWeightsWith?: CpuBackend;
  /**
   * Quantised weights: quantise each activation row (Q8_0, or Q8_K for the K-quants) and take integer dot
   * products, as llama.cpp does. true: always; false: never (f32 activations); default: where they measure
   * faster (KernelChoice.integerDotMaxTokens: every matmul with the native kernels, decode with the WASM ones).
   */
  integerDot?: boolean;
  /** Which kernels (default: LATENT_CPU_KERNELS, else auto: native where the module loads and passes its self-check). */
  kernels?: KernelsOption;
}

/** An activation on the CPU: host floats. */
class CpuActivation implements Activation {
  constructor(readonly rows: number, readonly cols: number, readonly data: Float32Array = new Float32Array(rows * cols)) {}
}

class CpuRouting implements Routing {
  constructor(readonly tokens: number, readonly topK: number, readonly experts: Int32Array, readonly weights: Float32Array) {}
}

function host(x: Activation): CpuActivation {
  if (!(x instanceof CpuActivation)) throw new TypeError('cpu backend: an activation of another backend');
  return x;
}

const OPS: Record<DType, MatmulJob['op']> = {
  F32: C.OP_MATMUL_F32,
  F16: C.OP_MATMUL_F16,
  BF16: C.OP_MATMUL_BF16,
  Q8_0: C.OP_MATMUL_Q8_0,
  Q4_0: C.OP_MATMUL_Q4_0,
  Q5_0: C.OP_MATMUL_Q5_0,
  Q5_1: C.OP_MATMUL_Q5_1,
  Q4_K: C.OP_MATMUL_Q4_K,
  Q5_K: C.OP_MATMUL_Q5_K,
  Q6_K: C.OP_MATMUL_Q6_K,
};
/** Each weight type's integer-dot op: its export's place in DOT_EXPORTS ('dot_q4_k' for Q4_K). */
const DOT_OPS = Object.fromEntries(C.DOT_EXPORTS.map((name, i) => [name.slice(4).toUpperCase(), C.OP_DOT_BASE + i])) as Record<DotWeightDType, C.DotOp>;

/** Query rows [first, first + rows) of a latent attention, as views (the latents are shared). */
function queryRows(a: LatentAttention, first: number, rows: number): LatentAttention {
  const { kvLoraRank: r, ropeDim: dr } = a;
  return {
    ...a,
    rows,
    out: a.out.subarray(first * r, (first + rows) * r),
    qLat: a.qLat.subarray(first * r, (first + rows) * r),
    qPe: a.qPe.subarray(first * dr, (first + rows) * dr),
    visible: a.visible.subarray(first, first + rows),
  };
}

/** g = silu(g)·u in place: the native kernel where bound, else the same in TypeScript. */
function siluMulInPlace(g: Float32Array, u: Float32Array, native: NativeFusedOps['silu_mul'] | undefined): void {
  if (native) {
    native(g, u);
    return;
  }
  for (let i = 0; i < g.length; i++) {
    const v = g[i];
    g[i] = (v / (1 + Math.exp(-v))) * u[i];
  }
}

/** out[t] += w_i · y[i] for token t = tokens[i], rows of D. */
function scatterAdd(out: Float32Array, y: Float32Array, D: number, tokens: readonly number[], weights: readonly number[]): void {
  for (let i = 0; i < tokens.length; i++) {
    const wt = weights[i], o = tokens[i] * D, yi = i * D;
    for (let d = 0; d < D; d++) out[o + d] += y[yi + d] * wt;
  }
}

export class CpuBackend implements Backend {
  readonly name: string;
  readonly threads: number;
  /** Per f16 weight: whether it holds no inf/nan (weights are filled once, before their first matmul). */
  private readonly f16Finite = new WeakMap<object, boolean>();
  /** 1-D weights (norms) as f32, decoded once. */
  private readonly vectors = new WeakMap<object, Float32Array>();
  /** Activation arrays reused layer to layer (see ActivationPool). */
  private readonly pool = new ActivationPool();

  constructor(private readonly fast?: { arena: WeightArena; pool: KernelThreads; kernels: KernelChoice; integerDotMaxTokens?: number }) {
    this.threads = fast ? fast.pool.threads : 1;
    this.name = fast ? `cpu-${fast.kernels.set.native ? 'native' : 'wasm'}-${this.threads}t` : 'cpu-reference';
  }

  /** The kernels the fast form runs and why (undefined for the reference). */
  get kernels(): KernelChoice | undefined {
    return this.fast?.kernels;
  }

  static async create(options: CpuBackendOptions = {}): Promise<CpuBackend> {
    const threads = options.threads ?? availableParallelism();
    const arena = options.shareWeightsWith?.fast?.arena ?? new WeightArena();
    const kernels = await chooseKernels(requestedKernels(options.kernels));
    const pool = await KernelThreads.start(threads, kernels.set, arena, options.minParallelWork);
    const integerDotMaxTokens = options.integerDot === undefined ? kernels.integerDotMaxTokens : options.integerDot ? Infinity : 0;
    return new CpuBackend({ arena, pool, kernels, integerDotMaxTokens });
  }

  /** A zeroed weight tensor in the kernels' memory (the arena for the fast form), for a loader to fill through `bytes`. */
  allocateWeight(name: string, dtype: DType, shape: number[]): { tensor: Tensor; bytes: Uint8Array } {
    // The reference kernels read ordinary shared memory.
    if (!this.fast) return allocateTensor(name, dtype, shape);
    return this.fast.arena.allocate(name, dtype, shape);
  }

  adoptWeight(w: Tensor): Tensor {
    if (!this.fast || this.fast.arena.locate(w) || w.shape.length !== 2) return w;
    const { tensor, bytes } = this.fast.arena.allocate(w.name, w.dtype, w.shape);
    bytes.set(new Uint8Array(w.data.buffer, w.data.byteOffset, w.data.byteLength));
    return tensor;
  }

  info(): BackendInfo {
    return { name: this.name, device: this.fast ? `cpu, ${this.threads} threads, ${this.fast.kernels.description}` : 'cpu, 1 thread, double-precision reference' };
  }

  createLatentStore(shape: LatentShape, format: LatentFormat): LatentPageStore {
    return new HostLatentStore(shape, format);
  }

  // ---- a step's ops: activations are host floats, every op runs at once ----

  embed(table: Tensor, tokens: Int32Array): Activation {
    const D = table.shape[1];
    const out = this.activation(tokens.length, D);
    tokens.forEach((tok, t) => readRow(table, tok * D, D, out.data.subarray(t * D, (t + 1) * D)));
    return out;
  }

  linear(x: Activation, w: Tensor): Activation {
    const a = host(x);
    if (a.cols !== w.shape[1]) throw new RangeError(`linear: ${w.name} takes ${w.shape[1]} features, got ${a.cols}`);
    const out = this.activation(a.rows, w.shape[0]);
    this.matmul(out.data, a.data, a.rows, w);
    return out;
  }

  linearPerHead(x: Activation, w: readonly Tensor[], stride: number, offset: number): Activation {
    const a = host(x);
    const n = a.rows;
    const o = w[0].shape[0], din = w[0].shape[1];
    const out = this.activation(n, w.length * o);
    if (this.headsInScratch(a, w, stride, offset, out)) return out;
    const xh = this.pool.take(n * din);
    const yh = this.pool.take(n * o);
    w.forEach((wh, h) => {
      for (let j = 0; j < n; j++) xh.set(a.data.subarray(j * a.cols + h * stride + offset, j * a.cols + h * stride + offset + din), j * din);
      this.matmul(yh, xh, n, wh);
      for (let j = 0; j < n; j++) out.data.set(yh.subarray(j * o, (j + 1) * o), j * out.cols + h * o);
    });
    return out;
  }

  rmsNorm(x: Activation, weight: Tensor, eps: number, offset = 0, width = x.cols): Activation {
    const a = host(x);
    const out = this.activation(a.rows, width);
    rmsNormRows(out.data, a.data, a.rows, width, this.vector(weight), eps, a.cols, offset);
    return out;
  }

  applyRope(x: Activation, rope: Rope, positions: Int32Array, heads: number, stride: number, offset: number): void {
    const a = host(x);
    for (let j = 0; j < a.rows; j++) {
      for (let h = 0; h < heads; h++) rope.applyInterleaved(a.data, j * a.cols + h * stride + offset, positions[j]);
    }
  }

  addInto(h: Activation, d: Activation): void {
    const a = host(h).data, b = host(d).data;
    for (let i = 0; i < a.length; i++) a[i] += b[i];
  }

  siluMul(gate: Activation, up: Activation): Activation {
    const g = host(gate).data, u = host(up).data;
    siluMulInPlace(g, u, this.fast?.pool.kernelsOf(this.fast.arena.anyBank()).silu_mul);
    return gate;
  }

  sliceRows(x: Activation, first: number, count: number): Activation {
    const a = host(x);
    return new CpuActivation(count, a.cols, a.data.subarray(first * a.cols, (first + count) * a.cols));
  }

  sliceCols(x: Activation, offset: number, width: number): Activation {
    const a = host(x);
    const out = this.activation(a.rows, width);
    for (let j = 0; j < a.rows; j++) out.data.set(a.data.subarray(j * a.cols + offset, j * a.cols + offset + width), j * width);
    return out;
  }

  concatRows(parts: readonly Activation[]): Activation {
    if (parts.length === 1) return parts[0];
    const out = this.activation(parts.reduce((n, p) => n + p.rows, 0), parts[0].cols);
    let at = 0;
    for (const p of parts) {
      out.data.set(host(p).data, at);
      at += p.rows * p.cols;
    }
    return out;
  }

  writeLatents(layer: number, items: readonly BatchItem[], cKv: Activation, kPe: Activation): void {
    const c = host(cKv), k = host(kPe);
    for (const it of items) {
      for (let j = 0; j < it.count; j++) {
        const t = it.row + j;
        it.cache.write(layer, it.pos0 + j, c.data.subarray(t * c.cols, (t + 1) * c.cols), k.data.subarray(t * k.cols, (t + 1) * k.cols));
      }
    }
  }

  attendLatent(layer: number, item: BatchItem, heads: number, qLat: Activation, q: Activation, qStride: number, qPeOffset: number, scale: number): Activation {
    const ql = host(qLat), qa = host(q);
    const n = item.count;
    const latents = [...item.cache.chunks(layer, item.pos0 + n)];
    const r = latents[0].cKv.length / latents[0].count, dr = latents[0].kPe.length / latents[0].count;
    const rows = n * heads; // query row j·heads + h: head h of new token j
    const qPe = this.pool.take(rows * dr);
    const visible = new Int32Array(rows);
    for (let j = 0; j < n; j++) {
      for (let h = 0; h < heads; h++) {
        const at = j * qa.cols + h * qStride + qPeOffset;
        qPe.set(qa.data.subarray(at, at + dr), (j * heads + h) * dr);
        visible[j * heads + h] = item.pos0 + j + 1;
      }
    }
    const out = this.activation(n, heads * r);
    this.attendLatentRows({ out: out.data, qLat: ql.data, qPe, rows, visible, latents, kvLoraRank: r, ropeDim: dr, scale });
    return out;
  }

  attendHeads(item: BatchItem, heads: number, q: Activation, kv: Activation, kPe: Activation, dn: number, dv: number, scale: number): Activation {
    const qa = host(q), kva = host(kv), kpa = host(kPe);
    const visible = Int32Array.from({ length: item.count }, (_, j) => item.pos0 + j + 1);
    const out = this.activation(item.count, heads * dv);
    this.attendHeadRows({ out: out.data, q: qa.data, kv: kva.data, kPe: kpa.data, n: item.count, heads, length: kva.rows, nopeDim: dn, ropeDim: kpa.cols, vDim: dv, visible, scale });
    return out;
  }

  gatherLatents(layer: number, cache: LatentCache, end: number): { cKv: Activation; kPe: Activation } {
    let cKv: CpuActivation | undefined, kPe: CpuActivation | undefined;
    for (const ch of cache.chunks(layer, end)) {
      const r = ch.cKv.length / ch.count, dr = ch.kPe.length / ch.count;
      cKv ??= this.activation(end, r);
      kPe ??= this.activation(end, dr);
      cKv.data.set(ch.cKv.subarray(0, ch.count * r), ch.start * r);
      kPe.data.set(ch.kPe.subarray(0, ch.count * dr), ch.start * dr);
    }
    if (!cKv || !kPe) throw new RangeError('gatherLatents: the cache holds no tokens');
    return { cKv, kPe };
  }

  route(logits: Activation, spec: RouterSpec): Routing {
    const l = host(logits);
    const { experts, weights } = routeTokens(l.data, l.rows, l.cols, spec);
    return new CpuRouting(l.rows, spec.topK, experts, weights);
  }

  routedExperts(x: Activation, routing: Routing, experts: readonly ExpertWeights[]): Activation {
    const a = host(x);
    if (!(routing instanceof CpuRouting)) throw new TypeError('cpu backend: a routing of another backend');
    const n = a.rows, D = a.cols, k = routing.topK;
    // Group the tokens by expert so that each expert runs once, on all of its tokens.
    const tokensOf: number[][] = experts.map(() => []);
    const slotsOf: number[][] = experts.map(() => []);
    for (let t = 0; t < n; t++) {
      for (let j = 0; j < k; j++) {
        tokensOf[routing.experts[t * k + j]].push(t);
        slotsOf[routing.experts[t * k + j]].push(t * k + j);
      }
    }
    const out = this.activation(n, D);
    const od = out.data;
    experts.forEach((w, e) => {
      const tokens = tokensOf[e];
      if (tokens.length === 0) return;
      const weights = slotsOf[e].map((slot) => routing.weights[slot]);
      if (this.expertInScratch(a.data, D, tokens, weights, w, od)) return;
      const xe = this.activation(tokens.length, D);
      tokens.forEach((t, i) => xe.data.set(a.data.subarray(t * D, (t + 1) * D), i * D));
      const ye = host(this.linear(this.siluMul(this.linear(xe, w.gate), this.linear(xe, w.up)), w.down)).data;
      scatterAdd(od, ye, D, tokens, weights);
    });
    return out;
  }

  /**
   * One expert on its tokens with every intermediate in its bank's scratch area (x gathered once for gate and up,
   * and quantised once for both where they take integer dots; silu·up in place; down's output added from there into
   * `out`), when its three weights share a bank. The same kernels on the same inputs as the general path: each
   * weight takes the integer dot or not as `matmul` would decide for these tokens.
   */
  private expertInScratch(x: Float32Array, D: number, tokens: number[], weights: number[], w: ExpertWeights, out: Float32Array): boolean {
    const fast = this.fast;
    if (!fast) return false;
    const at = [w.gate, w.up, w.down].map((t) => fast.arena.locate(t));
    const I = w.gate.shape[0];
    if (at.some((l) => !l || l.bank !== at[0]!.bank) || D % 8 !== 0 || I % 8 !== 0) return false;
    const { bank } = at[0]!;
    const buffer = fast.arena.banks[bank].memory.buffer;
    const native = fast.pool.kernelsOf(bank).silu_mul;
    const n = tokens.length;
    const dotFormat = (t: Tensor) => (this.takesIntegerDot(t, n) ? ACTIVATION_QUANT_OF[t.dtype] : undefined);
    const [gateFormat, upFormat, downFormat] = [w.gate, w.up, w.down].map(dotFormat);
    const upOwn = upFormat !== undefined && upFormat !== gateFormat; // up needs x quantised a second way
    const qBytes = (format: ActivationQuant | undefined, cols: number) => (format ? quantisedRowBytes(format, cols) : 0);
    // Scratch per token: x f32 [D] | gate [I] | up [I] | y [D] | x quantised for gate | for up | silu·up for down.
    const perToken = 4 * (2 * D + 2 * I) + qBytes(gateFormat, D) + (upOwn ? qBytes(upFormat, D) : 0) + qBytes(downFormat, I);
    const chunk = Math.floor(SCRATCH_BYTES / perToken);
    for (let t0 = 0; t0 < n; t0 += chunk) {
      const m = Math.min(chunk, n - t0);
      const xs = new Float32Array(buffer, 0, m * D);
      const g = new Float32Array(buffer, xs.byteOffset + xs.byteLength, m * I);
      const u = new Float32Array(buffer, g.byteOffset + g.byteLength, m * I);
      const y = new Float32Array(buffer, u.byteOffset + u.byteLength, m * D);
      const xq = y.byteOffset + y.byteLength;
      const xqUp = upOwn ? xq + m * qBytes(gateFormat, D) : xq;
      const gq = xqUp + m * qBytes(upOwn ? upFormat : gateFormat, D);
      for (let i = 0; i < m; i++) xs.set(x.subarray(tokens[t0 + i] * D, (tokens[t0 + i] + 1) * D), i * D);
      if (gateFormat) this.quantiseInBank(gateFormat, bank, xs.byteOffset, xq, m, D);
      if (upOwn) this.quantiseInBank(upFormat!, bank, xs.byteOffset, xqUp, m, D);
      this.linearInScratch(w.gate, at[0]!, gateFormat ? xq : xs.byteOffset, g.byteOffset, m);
      this.linearInScratch(w.up, at[1]!, upFormat ? xqUp : xs.byteOffset, u.byteOffset, m);
      siluMulInPlace(g, u, native);
      if (downFormat) this.quantiseInBank(downFormat, bank, g.byteOffset, gq, m, I);
      this.linearInScratch(w.down, at[2]!, downFormat ? gq : g.byteOffset, y.byteOffset, m);
      scatterAdd(out, y, D, tokens.slice(t0, t0 + m), weights.slice(t0, t0 + m));
    }
    return true;
  }

  async read(x: Activation): Promise<Float32Array> {
    // Inside a layer the array goes back to the pool at its end: the caller gets a copy.
    return this.pool.inLayer ? host(x).data.slice() : host(x).data;
  }

  async readRouting(r: Routing): Promise<{ experts: Int32Array; weights: Float32Array }> {
    if (!(r instanceof CpuRouting)) throw new TypeError('cpu backend: a routing of another backend');
    return { experts: r.experts, weights: r.weights };
  }

  beginLayer(): void {
    this.pool.beginLayer();
  }

  endLayer(): void {
    this.pool.endLayer();
  }

  endStep(): void {
    this.pool.endStep();
  }

  /** A zeroed [rows, cols] activation; inside a layer, its array is the layer pool's. */
  private activation(rows: number, cols: number): CpuActivation {
    return new CpuActivation(rows, cols, this.pool.take(rows * cols));
  }

  private vector(w: Tensor): Float32Array {
    let v = this.vectors.get(w.data);
    if (!v) this.vectors.set(w.data, (v = toF32(w)));
    return v;
  }

  // ---- the kernels ----

  /** Whether a matmul of n tokens over W takes the integer-dot kernels (quantised activations). */
  private takesIntegerDot(w: Tensor, n: number): w is Tensor & { dtype: DotWeightDType } {
    return n <= (this.fast?.integerDotMaxTokens ?? 0) && isQuantised(w.dtype) && hasIntegerDot(w.dtype);
  }

  /** out[n, rows] = x[n, cols] · Wᵀ for a weight W of shape [rows, cols] (any stored dtype). */
  matmul(out: Float32Array, x: Float32Array, n: number, w: Tensor): void {
    const [rows, cols] = w.shape;
    const at = this.fast?.arena.locate(w);
    if (!this.fast || !at || cols % 8 !== 0) {
      matmulRows(out, x, n, w, 0, rows);
      return;
    }
    const memory = this.fast.arena.banks[at.bank].memory;
    if (this.takesIntegerDot(w, n)) {
      this.matmulIntegerDot(out, x, n, w, at, memory.buffer);
      return;
    }
    // Activations go through the bank's scratch, a chunk of tokens at a time.
    const perToken = (cols + rows) * 4;
    if (perToken > SCRATCH_BYTES) {
      matmulRows(out, x, n, w, 0, rows);
      return;
    }
    const chunk = Math.floor(SCRATCH_BYTES / perToken);
    for (let t0 = 0; t0 < n; t0 += chunk) {
      const m = Math.min(chunk, n - t0);
      const scratch = new Float32Array(memory.buffer, 0, m * (cols + rows));
      scratch.set(x.subarray(t0 * cols, (t0 + m) * cols));
      this.matmulInScratch(w, at, 0, m * cols * 4, m);
      out.set(scratch.subarray(m * cols, m * (cols + rows)), t0 * rows);
    }
  }

  /**
   * linearPerHead as one job whose heads the threads share, when the heads' weights lie evenly spaced in one bank
   * (as splitKvB allocates them) and take one f32-activation kernel: each head's x gathered into the scratch area,
   * its output read back from there. False (nothing done) otherwise.
   */
  private headsInScratch(a: CpuActivation, w: readonly Tensor[], stride: number, offset: number, out: CpuActivation): boolean {
    const fast = this.fast;
    const [o, din] = w[0].shape;
    const n = a.rows, H = w.length;
    if (!fast || H < 2 || din % 8 !== 0 || 4 * H * n * (din + o) > SCRATCH_BYTES) return false;
    if (isQuantised(w[0].dtype)) return false;
    const at = w.map((t) => fast.arena.locate(t));
    const step = at[1] && at[0] ? at[1].offset - at[0].offset : 0;
    for (let h = 0; h < H; h++) {
      const l = at[h];
      if (!l || l.bank !== at[0]!.bank || l.offset !== at[0]!.offset + h * step || w[h].dtype !== w[0].dtype || w[h].shape[0] !== o || w[h].shape[1] !== din) return false;
    }
    const op = this.opFor(w[0], at[0]!);
    if (w.some((t, h) => this.opFor(t, at[h]!) !== op)) return false;
    // Scratch (f32): x per head [H][n, din] | out per head [H][n, o].
    const buffer = fast.arena.banks[at[0]!.bank].memory.buffer;
    const xs = new Float32Array(buffer, 0, H * n * din);
    const ys = new Float32Array(buffer, xs.byteLength, H * n * o);
    for (let h = 0; h < H; h++) {
      for (let j = 0; j < n; j++) {
        const from = j * a.cols + h * stride + offset;
        xs.set(a.data.subarray(from, from + din), (h * n + j) * din);
      }
    }
    const rowBlock = rowBlockFor(rowBytes(w[0].dtype, din));
    fast.pool.runMatmul({
      op, bank: at[0]!.bank, x: 0, w: at[0]!.offset, out: ys.byteOffset, n, rows: o, cols: din, rowBlock, split: o,
      heads: { count: H, x: n * din * 4, w: step, out: n * o * 4 },
    });
    for (let h = 0; h < H; h++) {
      for (let j = 0; j < n; j++) out.data.set(ys.subarray((h * n + j) * o, (h * n + j + 1) * o), j * out.cols + h * o);
    }
    return true;
  }

  /** out = x·Wᵀ for n tokens with x and out already at these byte offsets of W's bank (f32 activations). */
  private matmulInScratch(w: Tensor, at: WeightLocation, x: number, out: number, n: number): void {
    const [rows, cols] = w.shape;
    const rowBlock = rowBlockFor(rowBytes(w.dtype, cols));
    this.fast!.pool.runMatmul({ op: this.opFor(w, at), bank: at.bank, x, w: at.offset, out, n, rows, cols, rowBlock, split: rows });
  }

  /** The same with x already quantised for W's integer-dot kernel (quantDotWat.ts, native/). */
  private dotInScratch(w: Tensor & { dtype: DotWeightDType }, at: WeightLocation, xq: number, out: number, n: number): void {
    const [rows, cols] = w.shape;
    const rowBlock = rowBlockFor(rowBytes(w.dtype, cols));
    this.fast!.pool.runMatmul({ op: DOT_OPS[w.dtype], bank: at.bank, x: xq, w: at.offset, out, n, rows, cols, rowBlock, split: rows });
  }

  /** x (f32, or quantised at xq where W takes integer dots for these n tokens) times Wᵀ, all in W's bank. */
  private linearInScratch(w: Tensor, at: WeightLocation, x: number, out: number, n: number): void {
    if (this.takesIntegerDot(w, n)) this.dotInScratch(w, at, x, out, n);
    else this.matmulInScratch(w, at, x, out, n);
  }

  /** n rows of f32 at byte xAt of a bank, quantised (Q8_0 or Q8_K) to dstAt of the same bank. */
  private quantiseInBank(format: ActivationQuant, bank: number, xAt: number, dstAt: number, n: number, cols: number): void {
    const quantise = this.fast!.pool.kernelsOf(bank)[format === 'Q8_0' ? 'quantise_q8_0' : 'quantise_q8_k'];
    const buffer = this.fast!.arena.banks[bank].memory.buffer;
    if (quantise) quantise(xAt, dstAt, n, cols);
    else quantiseActivations(format, new Float32Array(buffer, xAt, n * cols), n, cols, new Uint8Array(buffer), dstAt);
  }

  /** matmul over quantised W with quantised activations, through the bank's scratch a chunk of tokens at a time. */
  private matmulIntegerDot(out: Float32Array, x: Float32Array, n: number, w: Tensor & { dtype: DotWeightDType }, at: WeightLocation, buffer: SharedArrayBuffer): void {
    const [rows, cols] = w.shape;
    const format = ACTIVATION_QUANT_OF[w.dtype];
    const xBytes = quantisedRowBytes(format, cols); // a multiple of 4
    // Scratch: quantised x [m] | out f32 [m, rows] | x f32 [m, cols].
    const chunk = Math.floor(SCRATCH_BYTES / (xBytes + rows * 4 + cols * 4));
    for (let t0 = 0; t0 < n; t0 += chunk) {
      const m = Math.min(chunk, n - t0);
      const outAt = m * xBytes;
      const xAt = outAt + m * rows * 4;
      new Float32Array(buffer, xAt, m * cols).set(x.subarray(t0 * cols, (t0 + m) * cols));
      this.quantiseInBank(format, at.bank, xAt, 0, m, cols);
      this.dotInScratch(w, at, 0, outAt, m);
      out.set(new Float32Array(buffer, outAt, m * rows), t0 * rows);
    }
  }

  /** The latent-attention kernel on host arrays (see LatentAttention). */
  attendLatentRows(a: LatentAttention): void {
    const length = a.latents.reduce((n, ch) => n + ch.count, 0);
    const { kvLoraRank: r, ropeDim: dr } = a;
    // The latents take a fixed share of the scratch area; the query rows go through in groups that fit the rest.
    const rowBytes = latentScratchBytes({ ...a, rows: 1 }, length) - latentScratchBytes({ ...a, rows: 0 }, length);
    const rowsPerCall = Math.floor((SCRATCH_BYTES - latentScratchBytes({ ...a, rows: 0 }, length)) / rowBytes);
    if (!this.fast || r % 8 !== 0 || dr % 8 !== 0) {
      attendLatentReference(a);
      return;
    }
    const bank = this.fast.arena.anyBank();
    const kernels = this.fast.pool.kernelsOf(bank);
    const nativeRows = kernels.attend_latent ? nativeLatentRowsPerCall(a, length) : 0;
    if (nativeRows >= 1) {
      attendLatentNative(a, length, nativeRows, this.fast.pool, bank, this.fast.arena.banks[bank].memory, kernels);
      return;
    }
    if (rowsPerCall < 1) {
      // The latents alone overflow the scratch area (e.g. 32K tokens of V2-Lite's 576-wide rows): segments of the
      // context, in groups of query rows, sized so that both fit.
      const group = Math.min(a.rows, 64);
      const segment = Math.floor((SCRATCH_BYTES / 4 - group * (2 * r + dr)) / (r + dr + 2 * group));
      for (let first = 0; first < a.rows; first += group) {
        const rows = Math.min(group, a.rows - first);
        attendLatentSegmented(queryRows(a, first, rows), segment, this.fast.pool, bank, this.fast.arena.banks[bank].memory);
      }
      return;
    }
    for (let first = 0; first < a.rows; first += rowsPerCall) {
      const rows = Math.min(rowsPerCall, a.rows - first);
      attendLatentWasm(queryRows(a, first, rows), length, this.fast.pool, bank, this.fast.arena.banks[bank].memory);
    }
  }

  /** The head-attention kernel on host arrays (see HeadAttention). */
  attendHeadRows(a: HeadAttention): void {
    const block = this.fast && (a.nopeDim + a.ropeDim) % 8 === 0 && a.vDim % 8 === 0 ? headQueryBlock(a) : 0;
    if (!this.fast || block === 0) {
      attendHeadsReference(a);
      return;
    }
    const bank = this.fast.arena.anyBank();
    attendHeadsWasm(a, block, this.fast.pool, bank, this.fast.arena.banks[bank].memory, this.fast.pool.kernelsOf(bank).softmax_rows);
  }

  /** The kernel for a weight; f16 takes the cheaper decode when the tensor holds no inf/nan (checked once). */
  private opFor(w: Tensor, at: WeightLocation): MatmulJob['op'] {
    if (w.dtype !== 'F16') return OPS[w.dtype];
    let finite = this.f16Finite.get(w.data);
    if (finite === undefined) {
      finite = this.fast!.pool.kernelsOf(at.bank).f16_finite(at.offset, w.data.length) === 1;
      this.f16Finite.set(w.data, finite);
    }
    return finite ? C.OP_MATMUL_F16_FINITE : C.OP_MATMUL_F16;
  }

  dispose(): void {
    this.fast?.pool.dispose();
  }
}
