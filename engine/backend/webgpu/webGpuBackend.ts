/// <reference types="@webgpu/types" />
// The WebGPU backend: every Backend op as WGSL kernels over activations resident on the GPU. Ops are recorded
// (stepQueue.ts) and encoded into one command encoder per flush; a step flushes when the model reads (the logits)
// and at endStep, so a step is one submission and nothing comes back but what `read` asks for. Weights are placed
// at load (gpuWeights.ts; host copies kept so that a lost device can be re-filled), latent pages live in GPU
// buffers (gpuLatentStore.ts). A lost device fails the request in flight; the runtime opens a new one and the next
// request re-places the weights there.
import type { Activation, Backend, BackendInfo, BatchItem, ExpertWeights, Routing, RouterSpec, SamplingPick } from '../backend';
import type { LatentCache } from '../../cache/latentCache';
import type { LatentFormat } from '../../cache/latentFormat';
import { LatentPageStore, LatentShape, PAGE_TOKENS } from '../../cache/latentStore';
import { PagedLatentCache } from '../../cache/pagedLatentCache';
import type { Rope } from '../../model/rope';
import { f32Bits } from '../../weights/halfPrecision';
import type { DType } from '../../weights/safetensors';
import { allocateTensor, Tensor } from '../../weights/tensor';
import { describeAdapter, MAP_READ, USAGE } from './gpuDevice';
import { DeviceLostError, GpuRuntime } from './gpuRuntime';
import { GpuLatentStore } from './gpuLatentStore';
import { GpuWeights, StackLayout, WeightGenerator } from './gpuWeights';
import { ATTENTION_COMBINE_WGSL } from './kernels/attentionCombine.wgsl';
import { COPY_BLOCK_WGSL } from './kernels/copyBlock.wgsl';
import { ADD_INTO_WGSL, SILU_MUL_WGSL } from './kernels/elementwise.wgsl';
import { embedWgsl } from './kernels/embed.wgsl';
import { gemmWgsl, GEMM_TILE } from './kernels/gemm.wgsl';
import { EXPERT_SORT_WGSL, groupedDownWgsl, groupedGateUpWgsl } from './kernels/groupedExperts.wgsl';
import { GEMV_ROWS, gemvWgsl } from './kernels/gemv.wgsl';
import { HEAD_ATTENTION_WGSL } from './kernels/headAttention.wgsl';
import { ATTENTION_MAX_WIDTH, latentAttentionWgsl } from './kernels/latentAttention.wgsl';
import { latentGatherWgsl } from './kernels/latentGather.wgsl';
import { randomFillWgsl } from './kernels/randomFill.wgsl';
import { rmsNormWgsl } from './kernels/rmsNorm.wgsl';
import { ROPE_WGSL } from './kernels/rope.wgsl';
import { expertDownWgsl, expertGateUpWgsl, EXPERT_COMBINE_WGSL } from './kernels/routedExperts.wgsl';
import { ROUTER_MAX_EXPERTS, ROUTER_WGSL } from './kernels/router.wgsl';
import { SAMPLE_WGSL, samplingPickWords } from './kernels/sample.wgsl';
import { readKey, WeightRead, weightRead } from './kernels/weightDecode.wgsl';
import { ropeTable } from './ropeTable';
import { GpuActivation, grid2, StepQueue } from './stepQueue';

export interface WebGpuBackendOptions {
  /**
   * Bytes of GPU memory the weights may take (WebGPU does not report a device's memory: without a budget a model
   * too large fails at its first allocation, with the numbers, as the device reports out-of-memory).
   */
  memoryBudgetBytes?: number;
  /** Tokens per flash-decoding chunk of the attention kernels (default 256). */
  attentionSplitTokens?: number;
  /**
   * Read f16 weights as native f16 where the adapter has `shader-f16` (default: yes, unless
   * LATENT_WEBGPU_SHADER_F16=0); false keeps the u32-word fallback, as on an adapter without it.
   */
  shaderF16?: boolean;
}

/** Average pairs per expert from which the routed experts run as grouped GEMMs (groupedExperts.wgsl.ts). */
const GROUPED_MIN_ROWS_PER_EXPERT = 16;

class GpuRouting implements Routing {
  constructor(readonly tokens: number, readonly topK: number, readonly table: GpuActivation) {}
}

function gpu(x: Activation): GpuActivation {
  if (!(x instanceof GpuActivation)) throw new TypeError('webgpu backend: an activation of another backend');
  return x;
}

/** The GPU offset (floats) of an activation. */
const off = (a: GpuActivation) => a.offset;

export class WebGpuBackend implements Backend {
  readonly name = 'webgpu';
  readonly runtime: GpuRuntime;
  /** The step recorder (tests record raw dispatches through it). */
  readonly queue: StepQueue;
  readonly weights: GpuWeights;
  private readonly splitTokens: number;
  /** Device stores for caches whose pages are not in a store of this backend (ContiguousLatentCache). */
  private readonly privateStores = new WeakMap<LatentCache, GpuLatentStore[]>();
  private readonly stores = new Set<WeakRef<GpuLatentStore>>();
  private readonly resetListeners: (() => void)[] = [];
  private seed = 1;

  private constructor(runtime: GpuRuntime, options: WebGpuBackendOptions) {
    this.runtime = runtime;
    this.queue = new StepQueue(runtime);
    this.weights = new GpuWeights(runtime, this.queue, options.memoryBudgetBytes ?? null);
    this.splitTokens = options.attentionSplitTokens ?? 256;
    runtime.onReset(() => {
      for (const l of this.resetListeners) l();
    });
  }

  static async create(options: WebGpuBackendOptions = {}): Promise<WebGpuBackend> {
    return new WebGpuBackend(await GpuRuntime.open({ shaderF16: options.shaderF16 }), options);
  }

  info(): BackendInfo {
    const s = this.runtime.summary;
    return { name: this.name, device: `${describeAdapter(s)}${this.runtime.hasShaderF16 ? ', shader-f16' : ''}`, limits: { ...s.limits } };
  }

  /** Called after a lost device was replaced: every latent page was lost with it (callers drop what they cached). */
  onDeviceReset(listener: () => void): void {
    this.resetListeners.push(listener);
  }

  // ---- weights ----

  allocateWeight(name: string, dtype: DType, shape: number[]): { tensor: Tensor; bytes: Uint8Array } {
    // The loader fills a host tensor; adoptWeight places it on the GPU and keeps it (to re-fill a new device).
    return allocateTensor(name, dtype, shape);
  }

  adoptWeight(w: Tensor): Tensor {
    this.weights.place(w);
    return w;
  }

  /**
   * A weight made on the GPU from a seed (values uniform with standard deviation `std`), with no host bytes: the
   * benchmark's way to a model of real size. Re-made from the same seed on a new device.
   */
  randomWeight(name: string, dtype: DType, shape: number[], std: number): Tensor {
    if (dtype !== 'F32' && dtype !== 'F16' && dtype !== 'BF16') throw new Error(`webgpu: random weights are made as F32, F16 or BF16, not ${dtype} (a quantised model loads from a GGUF file)`);
    const t: Tensor = { name, dtype, shape, data: dtype === 'F32' ? new Float32Array(0) : new Uint16Array(0) };
    const seed = (this.seed++ * 2654435761) >>> 0;
    const amplitude = std * Math.sqrt(3);
    const generate: WeightGenerator = (queue, buffer, wordOffset, words) => {
      const [x, y] = grid2(Math.ceil(words / 256));
      queue.dispatch(() => this.runtime.pipeline(`randomFill-${dtype}`, () => randomFillWgsl(dtype)),
        [words, wordOffset, seed, f32Bits(amplitude)], [buffer], [x, y, 1]);
    };
    this.weights.registerGenerated(t, generate);
    return t;
  }

  /** Waits until the work recorded so far (weight uploads and generation at load) ran, throwing what the device reported. */
  async settle(): Promise<void> {
    await this.runtime.ready();
    const verdict = await this.queue.flush();
    await this.runtime.device.queue.onSubmittedWorkDone();
    if (verdict) throw verdict;
    this.runtime.takeError();
  }

  // ---- latent pages ----

  maxLatentPages(shape: LatentShape, format: LatentFormat): number {
    return GpuLatentStore.maxPages(this.runtime, shape, format);
  }

  createLatentStore(shape: LatentShape, format: LatentFormat, capacityPages: number): LatentPageStore {
    const store = new GpuLatentStore(this.runtime, this.queue, shape, format, capacityPages);
    this.stores.add(new WeakRef(store));
    return store;
  }

  /**
   * Where a cache's latents of `layer` live on the device: the store, the layer within it, and the page table of the
   * cache's first `tokens` tokens. A pooled cache (PagedLatentCache over this backend's store) uses its pages; any
   * other cache (ContiguousLatentCache, for one-off forwards) gets private one-layer stores, page p holding tokens
   * [16p, 16p + 16), grown as it grows. `widths` (c_kv, k_pe) create the private store on first write.
   */
  private storeOf(cache: LatentCache, tokens: number, layer: number, widths?: { r: number; dr: number; fresh: number }): { store: GpuLatentStore; layer: number; pages: Uint32Array } {
    if (cache instanceof PagedLatentCache) {
      if (!(cache.pool.store instanceof GpuLatentStore)) {
        throw new Error('webgpu backend: the latent pool keeps its pages on the host; create its store with the backend\'s createLatentStore');
      }
      const pages = Uint32Array.from(cache.pages.slice(0, Math.ceil(tokens / PAGE_TOKENS)));
      cache.pool.store.checkPages(pages);
      return { store: cache.pool.store, layer, pages };
    }
    let layers = this.privateStores.get(cache);
    if (!layers) this.privateStores.set(cache, (layers = []));
    let store = layers[layer];
    const need = Math.ceil(Math.max(tokens, cache.length) / PAGE_TOKENS);
    if (store?.stale && (widths === undefined || tokens - widths.fresh > 0)) {
      throw new DeviceLostError('the WebGPU device was lost during the request: this cache\'s latents were on the old device; the backend re-created the device for the next request');
    }
    if (!store || store.capacityPages < need || store.stale) {
      if (!widths) throw new Error(`webgpu backend: layer ${layer} of a cache that holds no latents on this device`);
      // Doubling, within what one layer's binding holds (a need beyond it is refused by the store, with the numbers).
      const most = GpuLatentStore.maxPages(this.runtime, { numLayers: 1, kvLoraRank: widths.r, qkRopeHeadDim: widths.dr }, 'fp32');
      const capacity = Math.max(need, Math.min(most, Math.max(2 * (store?.capacityPages ?? 0), 4)));
      const grown = new GpuLatentStore(this.runtime, this.queue, { numLayers: 1, kvLoraRank: widths.r, qkRopeHeadDim: widths.dr }, 'fp32', capacity);
      if (store && !store.stale) grown.adoptContents(store);
      layers[layer] = store = grown;
    }
    if (need > 0) store.ensurePage(need - 1);
    return { store, layer: 0, pages: Uint32Array.from({ length: Math.ceil(tokens / PAGE_TOKENS) }, (_, i) => i) };
  }

  // ---- ops ----

  private pipeline(key: string, code: () => string): () => GPUComputePipeline {
    return () => this.runtime.pipeline(key, code);
  }

  /** A weight-reading kernel's pipeline for `dtype` weights, native f16 reads where the device has shader-f16. */
  private weightPipeline(kernel: string, dtype: DType, code: (read: WeightRead) => string): () => GPUComputePipeline {
    const read = weightRead(dtype, this.runtime.hasShaderF16);
    return this.pipeline(`${kernel}-${readKey(read)}`, () => code(read));
  }

  embed(table: Tensor, tokens: Int32Array): Activation {
    const layout = this.weights.matrixLayout(table);
    const D = layout.cols;
    const out = this.queue.activation(tokens.length, D);
    const ids = this.queue.addUpload(tokens);
    const [y, z] = grid2(tokens.length);
    layout.slabs.forEach((s, i) => {
      this.queue.dispatch(this.weightPipeline('embed', table.dtype, embedWgsl),
        [tokens.length, D, s.first, s.count, ids, 0, 0, 0], [this.weights.slabBuffer(table, i), 'upload', out], [Math.ceil(D / 64), y, z]);
    });
    return out;
  }

  linear(x: Activation, w: Tensor): Activation {
    const a = gpu(x);
    const layout = this.weights.matrixLayout(w);
    if (a.cols !== layout.cols) throw new RangeError(`linear: x has ${a.cols} columns, ${w.name} takes ${layout.cols}`);
    const out = this.queue.activation(a.rows, layout.rows);
    layout.slabs.forEach((s, i) => {
      this.recordLinear(a, out, w.dtype, this.weights.slabBuffer(w, i), {
        K: layout.cols, N: s.count, xOff: off(a), xStride: a.cols, xHeadStride: 0, outStride: out.cols, outCol0: s.first, outHeadStride: 0, wHeadElems: 0, head0: 0, heads: 1,
      });
    });
    return out;
  }

  private recordLinear(x: GpuActivation, out: GpuActivation, dtype: DType, w: () => GPUBuffer, p: {
    K: number; N: number; xOff: number; xStride: number; xHeadStride: number; outStride: number; outCol0: number;
    outHeadStride: number; wHeadElems: number; head0: number; heads: number;
  }): void {
    const M = x.rows;
    const params = [M, p.K, p.N, p.xOff, p.xStride, p.xHeadStride, off(out), p.outStride, p.outCol0, p.outHeadStride, p.wHeadElems, p.head0];
    if (M <= GEMV_ROWS) {
      const [gx, gy] = grid2(p.N);
      this.queue.dispatch(this.weightPipeline('gemv', dtype, gemvWgsl), params, [x, w, out], [gx, gy, p.heads]);
    } else {
      this.queue.dispatch(this.weightPipeline('gemm', dtype, gemmWgsl), params, [x, w, out],
        [Math.ceil(p.N / GEMM_TILE), Math.ceil(M / GEMM_TILE), p.heads]);
    }
  }

  linearPerHead(x: Activation, w: readonly Tensor[], stride: number, offset: number): Activation {
    const a = gpu(x);
    const layout = this.weights.stackLayout(w);
    const H = w.length, o = layout.rows;
    if (offset + layout.cols > stride && H > 1) throw new RangeError(`linearPerHead: a head's ${layout.cols} columns from ${offset} overrun its stride ${stride}`);
    if ((H - 1) * stride + offset + layout.cols > a.cols) throw new RangeError(`linearPerHead: x has ${a.cols} columns, ${H} heads need ${(H - 1) * stride + offset + layout.cols}`);
    const out = this.queue.activation(a.rows, H * o);
    layout.slabs.forEach((s, i) => {
      this.recordLinear(a, out, layout.dtype, this.weights.stackBuffer(w, i), {
        K: layout.cols, N: o, xOff: off(a) + offset, xStride: a.cols, xHeadStride: stride, outStride: out.cols, outCol0: 0, outHeadStride: o,
        wHeadElems: layout.stride, head0: s.first, heads: s.count,
      });
    });
    return out;
  }

  rmsNorm(x: Activation, weight: Tensor, eps: number, offset = 0, width?: number): Activation {
    const a = gpu(x);
    const w = width ?? a.cols - offset;
    const out = this.queue.activation(a.rows, w);
    const [gx, gy] = grid2(a.rows);
    this.queue.dispatch(this.weightPipeline('rmsNorm', weight.dtype, rmsNormWgsl),
      [a.rows, w, off(a) + offset, a.cols, off(out), f32Bits(eps), 0, 0], [a, this.weights.slabBuffer(weight, 0), out], [gx, gy, 1]);
    return out;
  }

  applyRope(x: Activation, rope: Rope, positions: Int32Array, heads: number, stride: number, offset: number): void {
    const a = gpu(x);
    if (a.root) throw new Error('applyRope: rotates in place, not on a view (sliceRows)');
    const half = rope.invFreq.length;
    if (half > 64) throw new RangeError(`applyRope: rope dim ${2 * half} over 128`);
    if (positions.length !== a.rows) throw new RangeError(`applyRope: ${positions.length} positions for ${a.rows} rows`);
    const table = new Float32Array(a.rows * 2 * half);
    positions.forEach((pos, j) => table.set(ropeTable(rope, pos), j * 2 * half));
    const at = this.queue.addUpload(table);
    const [gx, gy] = grid2(a.rows * heads);
    this.queue.dispatch(this.pipeline('rope', () => ROPE_WGSL), [a.rows, heads, stride, offset, half, off(a), a.cols, at], [a, 'upload'], [gx, gy, 1]);
  }

  private elementwise(key: string, code: string, a: GpuActivation, b: GpuActivation): void {
    if (a.rows !== b.rows || a.cols !== b.cols) throw new RangeError(`${key}: [${a.rows}, ${a.cols}] and [${b.rows}, ${b.cols}] differ`);
    if (a.root) throw new Error(`${key}: writes in place, not into a view (sliceRows)`);
    const count = a.size;
    const [gx, gy] = grid2(Math.ceil(count / 256));
    this.queue.dispatch(this.pipeline(key, () => code), [count, off(a), off(b), 0], [a, b], [gx, gy, 1]);
  }

  addInto(h: Activation, d: Activation): void {
    this.elementwise('addInto', ADD_INTO_WGSL, gpu(h), gpu(d));
  }

  siluMul(gate: Activation, up: Activation): Activation {
    this.elementwise('siluMul', SILU_MUL_WGSL, gpu(gate), gpu(up));
    return gate;
  }

  sliceRows(x: Activation, first: number, count: number): Activation {
    const a = gpu(x);
    if (first < 0 || count < 0 || first + count > a.rows) throw new RangeError(`sliceRows: rows [${first}, ${first + count}) of ${a.rows}`);
    return new GpuActivation(count, a.cols, a.root ?? a, a.offset + first * a.cols, a.step);
  }

  private copyBlock(src: GpuActivation, srcOff: number, srcStride: number, rows: number, width: number, dst: GpuActivation, dstOff: number, dstStride: number): void {
    const [y, z] = grid2(rows);
    this.queue.dispatch(this.pipeline('copyBlock', () => COPY_BLOCK_WGSL), [rows, width, srcOff, srcStride, dstOff, dstStride, 0, 0], [src, dst], [Math.ceil(width / 64), y, z]);
  }

  sliceCols(x: Activation, offset: number, width: number): Activation {
    const a = gpu(x);
    if (offset < 0 || offset + width > a.cols) throw new RangeError(`sliceCols: columns [${offset}, ${offset + width}) of ${a.cols}`);
    const out = this.queue.activation(a.rows, width);
    this.copyBlock(a, off(a) + offset, a.cols, a.rows, width, out, 0, width);
    return out;
  }

  concatRows(parts: readonly Activation[]): Activation {
    const ps = parts.map(gpu);
    if (ps.length === 1) return ps[0];
    const cols = ps[0].cols;
    if (ps.some((p) => p.cols !== cols)) throw new RangeError('concatRows: the parts differ in width');
    const out = this.queue.activation(ps.reduce((n, p) => n + p.rows, 0), cols);
    let row = 0;
    for (const p of ps) {
      this.copyBlock(p, off(p), cols, p.rows, cols, out, row * cols, cols);
      row += p.rows;
    }
    return out;
  }

  writeLatents(layer: number, items: readonly BatchItem[], cKv: Activation, kPe: Activation): void {
    const c = gpu(cKv), k = gpu(kPe);
    const byStore = new Map<GpuLatentStore, { layer: number; pairs: number[] }>();
    for (const it of items) {
      const { store, layer: at } = this.storeOf(it.cache, it.pos0 + it.count, layer, { r: c.cols, dr: k.cols, fresh: it.count });
      let entry = byStore.get(store);
      if (!entry) byStore.set(store, (entry = { layer: at, pairs: [] }));
      const pairs = entry.pairs;
      for (let j = 0; j < it.count; j++) {
        const index = it.pos0 + j;
        const page = it.cache instanceof PagedLatentCache ? it.cache.locate(index).page : Math.floor(index / PAGE_TOKENS);
        pairs.push(it.row + j, page * PAGE_TOKENS + (index % PAGE_TOKENS));
      }
    }
    for (const [store, { layer: at, pairs }] of byStore) {
      if (store.shape.kvLoraRank !== c.cols || store.shape.qkRopeHeadDim !== k.cols) {
        throw new RangeError(`writeLatents: latents [${c.cols} | ${k.cols}] for a store of [${store.shape.kvLoraRank} | ${store.shape.qkRopeHeadDim}]`);
      }
      if (at >= store.shape.numLayers) throw new RangeError(`writeLatents: layer ${at} of a store with ${store.shape.numLayers}`);
      store.recordWrite(at, c, off(c), k, off(k), Uint32Array.from(pairs));
    }
  }

  private splitsFor(length: number): { splitTokens: number; splits: number } {
    const splitTokens = this.splitTokens;
    return { splitTokens, splits: Math.max(1, Math.ceil(length / splitTokens)) };
  }

  private combine(part: GpuActivation, rows: number, splits: number, width: number, out: GpuActivation): void {
    const [gx, gy] = grid2(rows);
    this.queue.dispatch(this.pipeline('attentionCombine', () => ATTENTION_COMBINE_WGSL), [rows, splits, width, 0, off(out), 0, 0, 0], [part, out], [gx, gy, 1]);
  }

  attendLatent(layer: number, item: BatchItem, heads: number, qLat: Activation, q: Activation, qStride: number, qPeOffset: number, scale: number): Activation {
    const ql = gpu(qLat), qa = gpu(q);
    const r = ql.cols / heads;
    const length = item.pos0 + item.count;
    const { store, layer: at, pages } = this.storeOf(item.cache, length, layer);
    const dr = store.shape.qkRopeHeadDim;
    if (r + dr > ATTENTION_MAX_WIDTH) throw new RangeError(`attendLatent: latent rows of ${r + dr} over ${ATTENTION_MAX_WIDTH}`);
    const rows = item.count * heads;
    const { splitTokens, splits } = this.splitsFor(length);
    const part = this.queue.activation(rows * splits, r + 2);
    const pagesAt = this.queue.addUpload(pages);
    const [y, z] = grid2(rows);
    const format = store.format;
    this.queue.dispatch(this.pipeline(`latentAttention-${format}`, () => latentAttentionWgsl(format)), [
      rows, heads, r, dr, item.pos0, off(ql), off(qa), qStride, qPeOffset, pagesAt, splitTokens, splits, f32Bits(scale), store.rowWords, 0, 0,
    ], [store.layerBuffer(at), 'upload', ql, qa, part], [splits, y, z]);
    const out = this.queue.activation(item.count, heads * r);
    this.combine(part, rows, splits, r, out);
    return out;
  }

  attendHeads(item: BatchItem, heads: number, q: Activation, kv: Activation, kPe: Activation, dn: number, dv: number, scale: number): Activation {
    const qa = gpu(q), kva = gpu(kv), kpa = gpu(kPe);
    const dr = kpa.cols;
    const length = item.pos0 + item.count;
    if (dn + dr > ATTENTION_MAX_WIDTH || dv > ATTENTION_MAX_WIDTH) throw new RangeError(`attendHeads: head dims over ${ATTENTION_MAX_WIDTH}`);
    if (kva.rows < length || kpa.rows < length) throw new RangeError(`attendHeads: keys for ${kva.rows} tokens, ${length} needed`);
    const rows = item.count * heads;
    const { splitTokens, splits } = this.splitsFor(length);
    const part = this.queue.activation(rows * splits, dv + 2);
    const [y, z] = grid2(rows);
    this.queue.dispatch(this.pipeline('headAttention', () => HEAD_ATTENTION_WGSL), [
      rows, heads, dn, dr, dv, item.pos0, off(qa), off(kva), off(kpa), splitTokens, splits, f32Bits(scale), 0, 0, 0, 0,
    ], [qa, kva, kpa, part], [splits, y, z]);
    const out = this.queue.activation(item.count, heads * dv);
    this.combine(part, rows, splits, dv, out);
    return out;
  }

  gatherLatents(layer: number, cache: LatentCache, end: number): { cKv: Activation; kPe: Activation } {
    if (end < 1) throw new RangeError('gatherLatents: the cache holds no tokens');
    const { store, layer: at, pages } = this.storeOf(cache, end, layer);
    const { kvLoraRank: r, qkRopeHeadDim: dr } = store.shape;
    const cKv = this.queue.activation(end, r), kPe = this.queue.activation(end, dr);
    const pagesAt = this.queue.addUpload(pages);
    const [y, z] = grid2(end);
    const format = store.format;
    this.queue.dispatch(this.pipeline(`latentGather-${format}`, () => latentGatherWgsl(format)), [end, r, dr, store.rowWords, 0, 0, pagesAt, 0],
      [store.layerBuffer(at), 'upload', cKv, kPe], [Math.ceil((r + dr) / 64), y, z]);
    return { cKv, kPe };
  }

  route(logits: Activation, spec: RouterSpec): Routing {
    const l = gpu(logits);
    const E = l.cols;
    if (E > ROUTER_MAX_EXPERTS) throw new RangeError(`route: ${E} experts, over the kernel's ${ROUTER_MAX_EXPERTS}`);
    const groupLimited = spec.method === 'group_limited_greedy';
    if (groupLimited && (spec.nGroup > 64 || E % spec.nGroup !== 0)) throw new RangeError(`route: ${spec.nGroup} groups of ${E} experts`);
    if (spec.topK > E) throw new RangeError(`route: top-${spec.topK} of ${E} experts`);
    const table = this.queue.activation(l.rows, 2 * spec.topK);
    this.queue.dispatch(this.pipeline('router', () => ROUTER_WGSL), [
      l.rows, E, spec.topK, groupLimited ? 1 : 0, spec.nGroup, spec.topkGroup, spec.normTopkProb ? 1 : 0, f32Bits(spec.routedScalingFactor), off(l), 0, 0, 0,
    ], [l, table], [Math.ceil(l.rows / 64), 1, 1]);
    return new GpuRouting(l.rows, spec.topK, table);
  }

  private readonly expertStacks = new WeakMap<readonly ExpertWeights[], { gate: Tensor[]; up: Tensor[]; down: Tensor[] }>();

  routedExperts(x: Activation, routing: Routing, experts: readonly ExpertWeights[]): Activation {
    const a = gpu(x);
    if (!(routing instanceof GpuRouting)) throw new TypeError('webgpu backend: a routing of another backend');
    let stacks = this.expertStacks.get(experts);
    if (!stacks) {
      stacks = { gate: experts.map((e) => e.gate), up: experts.map((e) => e.up), down: experts.map((e) => e.down) };
      this.expertStacks.set(experts, stacks);
    }
    const g = this.weights.stackLayout(stacks.gate), u = this.weights.stackLayout(stacks.up), d = this.weights.stackLayout(stacks.down);
    const n = a.rows, D = a.cols, k = routing.topK, inter = g.rows, pairs = n * k;
    if (g.cols !== D || d.rows !== D || d.cols !== inter || u.rows !== inter) throw new RangeError('routedExperts: expert shapes do not match x');
    const h = this.queue.activation(pairs, inter);
    const y = this.queue.activation(pairs, D);
    const [py, pz] = grid2(pairs);
    const table = routing.table;
    // Grouped GEMMs pay off once an expert has rows enough to fill its tiles (16 on average of 64); below that a
    // GEMV per pair reads the same weights with no wasted rows.
    const grouped = pairs >= GROUPED_MIN_ROWS_PER_EXPERT * experts.length;
    if (grouped) {
      this.groupedExperts(a, table, stacks, g, d, h, y, n, k, experts.length);
    } else g.slabs.forEach((s, i) => {
      this.queue.dispatch(this.weightPipeline('expertGateUp', g.dtype, expertGateUpWgsl),
        [pairs, k, D, inter, s.first, s.count, g.stride, off(a), off(table), off(h), 0, 0],
        [a, table, this.weights.stackBuffer(stacks!.gate, i), this.weights.stackBuffer(stacks!.up, i), h], [inter, py, pz]);
    });
    if (!grouped) d.slabs.forEach((s, i) => {
      this.queue.dispatch(this.weightPipeline('expertDown', d.dtype, expertDownWgsl),
        [pairs, k, inter, D, s.first, s.count, d.stride, off(h), off(table), off(y), 0, 0],
        [h, table, this.weights.stackBuffer(stacks!.down, i), y], [D, py, pz]);
    });
    const out = this.queue.activation(n, D);
    const [ty, tz] = grid2(n);
    this.queue.dispatch(this.pipeline('expertCombine', () => EXPERT_COMBINE_WGSL), [n, k, D, off(y), off(table), off(out), 0, 0], [y, table, out], [Math.ceil(D / 64), ty, tz]);
    return out;
  }

  /** Prefill's routed experts: pairs sorted by expert on the GPU, then a tiled GEMM per expert (groupedExperts.wgsl.ts). */
  private groupedExperts(x: GpuActivation, table: GpuActivation, stacks: { gate: Tensor[]; up: Tensor[]; down: Tensor[] },
    g: StackLayout, d: StackLayout, h: GpuActivation, y: GpuActivation, n: number, k: number, E: number): void {
    const pairs = n * k, D = x.cols, inter = g.rows;
    const list = this.queue.activation(1, 2 * E + 1 + pairs);
    this.queue.dispatch(this.pipeline('expertSort', () => EXPERT_SORT_WGSL), [pairs, k, E, off(table), off(list), 0, 0, 0], [table, list], [1, 1, 1]);
    const tiles = Math.ceil(n / GEMM_TILE);
    g.slabs.forEach((s, i) => {
      this.queue.dispatch(this.weightPipeline('groupedGateUp', g.dtype, groupedGateUpWgsl),
        [pairs, k, D, inter, s.first, E, g.stride, off(x), off(list), off(h), 0, 0],
        [x, list, this.weights.stackBuffer(stacks.gate, i), this.weights.stackBuffer(stacks.up, i), h], [Math.ceil(inter / GEMM_TILE), tiles, s.count]);
    });
    d.slabs.forEach((s, i) => {
      this.queue.dispatch(this.weightPipeline('groupedDown', d.dtype, groupedDownWgsl),
        [pairs, k, inter, D, s.first, E, d.stride, off(h), off(list), off(y), 0, 0],
        [h, list, this.weights.stackBuffer(stacks.down, i), y], [Math.ceil(D / GEMM_TILE), tiles, s.count]);
    });
  }

  // ---- results ----

  private async readFloats(a: GpuActivation): Promise<Float32Array> {
    await this.runtime.ready();
    const bytes = a.size * 4;
    const staging = this.runtime.createBuffer('readback', bytes, USAGE.MAP_READ | USAGE.COPY_DST);
    try {
      const verdict = this.queue.flush((encoder, ctx) => {
        if (bytes > 0) encoder.copyBufferToBuffer(ctx.bufferOf(a), a.offset * 4, staging, 0, bytes);
      });
      const lost = this.runtime.lostSignal();
      const error = await Promise.race([verdict, lost]);
      if (error) throw error;
      await Promise.race([staging.mapAsync(MAP_READ), lost]);
      const out = new Float32Array(staging.getMappedRange(0, Math.max(16, Math.ceil(bytes / 16) * 16)).slice(0, bytes));
      staging.unmap();
      this.runtime.takeError();
      return out;
    } catch (e) {
      if (e instanceof DeviceLostError || this.runtime.unavailable) {
        throw new DeviceLostError(e instanceof DeviceLostError ? e.message : `${this.runtime.unavailable}; the request failed, the backend re-creates the device for the next one`);
      }
      throw e;
    } finally {
      staging.destroy();
    }
  }

  read(x: Activation): Promise<Float32Array> {
    return this.readFloats(gpu(x));
  }

  /** One workgroup per row (kernels/sample.wgsl.ts); only the ids are read back. */
  async sampleRows(logits: Activation, picks: readonly SamplingPick[]): Promise<Int32Array> {
    const l = gpu(logits);
    if (picks.length !== l.rows) throw new RangeError(`sampleRows: ${picks.length} picks for ${l.rows} rows`);
    if (l.cols < 1 || l.cols >= 2 ** 24) throw new RangeError(`sampleRows: a vocabulary of ${l.cols}`);
    const out = this.queue.activation(1, l.rows);
    const picksAt = this.queue.addUpload(samplingPickWords(picks));
    const [x, y] = grid2(l.rows);
    this.queue.dispatch(this.pipeline('sample', () => SAMPLE_WGSL), [l.rows, l.cols, off(l), picksAt, 0, 0, 0, 0], [l, 'upload', out], [x, y, 1]);
    const ids = await this.readFloats(out);
    return new Int32Array(ids.buffer, ids.byteOffset, l.rows);
  }

  async readRouting(r: Routing): Promise<{ experts: Int32Array; weights: Float32Array }> {
    if (!(r instanceof GpuRouting)) throw new TypeError('webgpu backend: a routing of another backend');
    const table = await this.readFloats(r.table);
    const k = r.topK;
    const experts = new Int32Array(r.tokens * k), weights = new Float32Array(r.tokens * k);
    const ids = new Int32Array(table.buffer);
    for (let t = 0; t < r.tokens; t++) {
      for (let j = 0; j < k; j++) {
        experts[t * k + j] = ids[t * 2 * k + j];
        weights[t * k + j] = table[t * 2 * k + k + j];
      }
    }
    return { experts, weights };
  }

  beginLayer(): void {
    this.queue.layerEdge('begin');
  }

  endLayer(): void {
    this.queue.layerEdge('end');
  }

  endStep(): void {
    // Work nobody read (a prefill chunk's latents) still runs: submitted now, its errors thrown by the next flush.
    try {
      if (this.queue.pending > 0 && !this.runtime.unavailable) {
        void this.queue.flush().then((e) => {
          if (e) this.runtime.deferError(e);
        });
      } else {
        this.queue.discard();
      }
    } catch (e) {
      this.runtime.deferError(e as Error);
    } finally {
      this.queue.endStep();
    }
  }

  dispose(): void {
    this.runtime.dispose();
  }
}
