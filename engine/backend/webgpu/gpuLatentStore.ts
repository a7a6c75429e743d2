/// <reference types="@webgpu/types" />
// A latent pool's pages in GPU memory: one buffer per layer (a layer's attention binds only its own), rows
// page·PAGE_TOKENS + slot of [c_kv | k_pe] in the pool's format (latentRow.wgsl.ts). Buffers grow as the pool
// hands out pages (doubling, up to the pool's capacity, with a GPU copy of what they held), so a large budget costs
// nothing until it is used. A budget whose layer buffer would exceed one storage binding is refused with the
// numbers. Re-positioning (copyToken) runs on the GPU, batched: consecutive copies become one dispatch per layer.
import type { LatentFormat } from '../../cache/latentFormat';
import { LatentPageStore, LatentShape, PAGE_TOKENS } from '../../cache/latentStore';
import type { Rope } from '../../model/rope';
import { USAGE } from './gpuDevice';
import { DeviceLostError, GpuRuntime } from './gpuRuntime';
import { GpuLatentFormat, latentRowWords } from './kernels/latentRow.wgsl';
import { latentRepositionWgsl } from './kernels/latentReposition.wgsl';
import { latentWriteWgsl } from './kernels/latentWrite.wgsl';
import type { GpuActivation, StepQueue } from './stepQueue';
import { grid2 } from './stepQueue';
import { ropeTable } from './ropeTable';

export class GpuLatentStore implements LatentPageStore {
  readonly format: GpuLatentFormat;
  readonly rowWords: number;
  private buffers: GPUBuffer[] = [];
  /** Pages the buffers hold now (recorded growth included). */
  private pages = 0;
  private generation: number;
  /** Copies recorded but not yet dispatched: [src row, dst row, from, to]. */
  private copies: { src: number; dst: number; from: number; to: number; rope: Rope }[] = [];
  private copyDsts = new Set<number>();
  /** Per page: the device generation it was handed out on. */
  private readonly pageGeneration: number[] = [];
  private readonly flushHook = (): void => this.flushCopies();

  constructor(private readonly runtime: GpuRuntime, private readonly queue: StepQueue, readonly shape: LatentShape,
    format: LatentFormat, readonly capacityPages: number) {
    if (format !== 'fp32' && format !== 'fp16') throw new Error(`webgpu: latent format ${format} is not implemented on webgpu (fp32 and fp16 are)`);
    if (shape.kvLoraRank % 2 !== 0 || shape.qkRopeHeadDim % 4 !== 0) {
      throw new RangeError(`webgpu: the latent store needs an even kv_lora_rank and qk_rope_head_dim divisible by 4 (got ${shape.kvLoraRank}, ${shape.qkRopeHeadDim})`);
    }
    this.format = format;
    this.rowWords = latentRowWords(format, shape.kvLoraRank, shape.qkRopeHeadDim);
    const layerBytes = capacityPages * PAGE_TOKENS * this.rowWords * 4;
    const limit = runtime.limits.maxStorageBufferBindingSize;
    if (layerBytes > limit) {
      throw new RangeError(`webgpu: a latent pool of ${capacityPages} pages needs ${layerBytes} B per layer (${capacityPages * PAGE_TOKENS} tokens ` +
        `of ${this.rowWords * 4} B), over the adapter's maxStorageBufferBindingSize of ${limit} B; lower the cache budget to at most ` +
        `${Math.floor(limit / (PAGE_TOKENS * this.rowWords * 4)) * PAGE_TOKENS * this.rowWords * 4 * shape.numLayers} B`);
    }
    this.generation = runtime.generation;
  }

  /** Pages one store holds at most: a layer's buffer is one storage binding. */
  static maxPages(runtime: GpuRuntime, shape: LatentShape, format: LatentFormat): number {
    const rowWords = format === 'fp16' ? latentRowWords('fp16', shape.kvLoraRank, shape.qkRopeHeadDim) : latentRowWords('fp32', shape.kvLoraRank, shape.qkRopeHeadDim);
    return Math.floor(runtime.limits.maxStorageBufferBindingSize / (PAGE_TOKENS * rowWords * 4));
  }

  /**
   * Throws when a page of `pages` was handed out on a device since lost: its latents are gone (the request holding
   * them fails; the next one starts from pages of the new device).
   */
  checkPages(pages: Uint32Array): void {
    this.onCurrentDevice();
    for (const p of pages) {
      if (this.pageGeneration[p] !== this.generation) {
        throw new DeviceLostError(`the WebGPU device was lost during the request: latent page ${p} was on the old device; the backend re-created the device for the next request`);
      }
    }
  }

  /** True once the device its buffers were on was lost. */
  get stale(): boolean {
    return this.generation !== this.runtime.generation;
  }

  /** Takes over a smaller store's pages (a private cache that outgrew its store): copied on the GPU, in order. */
  adoptContents(old: GpuLatentStore): void {
    old.flushCopies();
    if (old.pages === 0) return;
    this.ensurePage(old.pages - 1);
    const bytes = old.pages * PAGE_TOKENS * old.rowWords * 4;
    const from = old.buffers, to = this.buffers;
    this.queue.encoderOp((ctx) => {
      for (let l = 0; l < from.length; l++) ctx.encoder.copyBufferToBuffer(from[l], 0, to[l], 0, bytes);
    });
  }

  /** Bytes the store's buffers hold now. */
  get bytes(): number {
    return this.pages * PAGE_TOKENS * this.rowWords * 4 * this.shape.numLayers;
  }

  /** The buffer of a layer, resolved when the op reading it is encoded (after any growth recorded before). */
  layerBuffer(layer: number): () => GPUBuffer {
    this.onCurrentDevice();
    return () => this.buffers[layer];
  }

  /**
   * On a new device (the old one lost) the pages are gone: the store starts over with zeroed buffers of the same
   * size there (the engine drops what its tree cached; the request that was running failed).
   */
  private onCurrentDevice(): void {
    if (this.generation === this.runtime.generation) return;
    this.generation = this.runtime.generation;
    this.copies = [];
    this.copyDsts.clear();
    const bytes = this.pages * PAGE_TOKENS * this.rowWords * 4;
    this.buffers = this.pages === 0 ? [] : Array.from({ length: this.shape.numLayers }, (_, l) =>
      this.runtime.createBuffer(`latent store layer ${l} (${this.pages} pages)`, bytes, USAGE.STORAGE | USAGE.COPY_SRC | USAGE.COPY_DST));
  }

  ensurePage(id: number): void {
    this.onCurrentDevice();
    // Handed out now (fresh, or reused from the free list): its content will be written on this device.
    this.pageGeneration[id] = this.generation;
    if (id < this.pages) return;
    if (id >= this.capacityPages) throw new RangeError(`webgpu latent store: page ${id} beyond the capacity of ${this.capacityPages}`);
    const pages = Math.min(this.capacityPages, Math.max(id + 1, this.pages * 2, 4));
    const bytes = pages * PAGE_TOKENS * this.rowWords * 4;
    const old = this.buffers;
    const oldBytes = this.pages * PAGE_TOKENS * this.rowWords * 4;
    const grown = Array.from({ length: this.shape.numLayers }, (_, l) =>
      this.runtime.createBuffer(`latent store layer ${l} (${pages} pages)`, bytes, USAGE.STORAGE | USAGE.COPY_SRC | USAGE.COPY_DST));
    this.flushCopies();
    if (old.length > 0) {
      this.queue.encoderOp((ctx) => {
        for (let l = 0; l < old.length; l++) ctx.encoder.copyBufferToBuffer(old[l], 0, grown[l], 0, oldBytes);
      });
    }
    this.buffers = grown;
    this.pages = pages;
  }

  /** Host writes (tests, host-side callers): uploaded and copied in order with the recorded GPU work. */
  write(page: number, slot: number, layer: number, cKv: Float32Array, kPe: Float32Array): void {
    this.flushCopies();
    const row = page * PAGE_TOKENS + slot;
    const c = this.queue.activation(1, this.shape.kvLoraRank);
    const k = this.queue.activation(1, this.shape.qkRopeHeadDim);
    const cAt = this.queue.addUpload(cKv);
    const kAt = this.queue.addUpload(kPe);
    // Stage through activations: copy the uploads in, then the ordinary latent-write kernel encodes the row.
    this.queue.encoderOp((ctx) => {
      ctx.encoder.copyBufferToBuffer(ctx.bufferOf('upload'), cAt * 4, ctx.bufferOf(c), 0, cKv.length * 4);
      ctx.encoder.copyBufferToBuffer(ctx.bufferOf('upload'), kAt * 4, ctx.bufferOf(k), 0, kPe.length * 4);
    });
    this.recordWrite(layer, c, 0, k, 0, Uint32Array.of(0, row));
  }

  /** Records the latent-write kernel: rows `pairs` = [src, dst, ...] of cKv/kPe into rows of `layer`. */
  recordWrite(layer: number, cKv: GpuActivation, cOff: number, kPe: GpuActivation, kOff: number, pairs: Uint32Array): void {
    this.onCurrentDevice();
    this.flushCopies();
    const n = pairs.length / 2;
    const at = this.queue.addUpload(pairs);
    const [y, z] = grid2(n);
    const format = this.format;
    this.queue.dispatch(() => this.runtime.pipeline(`latentWrite-${format}`, () => latentWriteWgsl(format)),
      [n, this.shape.kvLoraRank, this.shape.qkRopeHeadDim, this.rowWords, cOff, kOff, at, 0],
      [cKv, kPe, 'upload', this.layerBuffer(layer)], [Math.ceil(this.rowWords / 64), y, z]);
  }

  read(): { cKv: Float32Array; kPe: Float32Array } {
    throw new Error('webgpu latent store: pages live in GPU memory; read them through the backend (gatherLatents)');
  }

  copyToken(src: number, srcSlot: number, dst: number, dstSlot: number, rope: Rope, fromPos: number, toPos: number): void {
    this.onCurrentDevice();
    const s = src * PAGE_TOKENS + srcSlot, d = dst * PAGE_TOKENS + dstSlot;
    // A copy reading a row an earlier pending copy writes must see that write: start a new batch.
    if (this.copyDsts.has(s) || this.copies.some((c) => c.rope !== rope)) this.flushCopies();
    this.copies.push({ src: s, dst: d, from: fromPos, to: toPos, rope });
    this.copyDsts.add(d);
    this.queue.beforeNextOp(this.flushHook);
  }

  /** Records the pending copies as one re-positioning dispatch per layer. */
  flushCopies(): void {
    const copies = this.copies;
    if (copies.length === 0) return;
    this.copies = [];
    this.copyDsts.clear();
    const half = this.shape.qkRopeHeadDim / 2;
    const perCopy = 2 + 4 * half;
    const table = new Uint32Array(copies.length * perCopy);
    const f = new Float32Array(table.buffer);
    copies.forEach((c, i) => {
      const base = i * perCopy;
      table[base] = c.src;
      table[base + 1] = c.dst;
      f.set(ropeTable(c.rope, c.from), base + 2);
      f.set(ropeTable(c.rope, c.to), base + 2 + 2 * half);
    });
    const at = this.queue.addUpload(table);
    const [y, z] = grid2(copies.length);
    const format = this.format;
    const threads = Math.max(this.shape.kvLoraRank / (format === 'fp32' ? 1 : 2), half / 2);
    for (let l = 0; l < this.shape.numLayers; l++) {
      this.queue.dispatch(() => this.runtime.pipeline(`latentReposition-${format}`, () => latentRepositionWgsl(format)),
        [copies.length, this.shape.kvLoraRank, half, this.rowWords, at, 0, 0, 0], ['upload', this.layerBuffer(l)], [Math.ceil(threads / 64), y, z]);
    }
  }
}
