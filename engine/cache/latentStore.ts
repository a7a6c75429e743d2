// Where a latent pool's pages live: per page, PAGE_TOKENS tokens of every layer (c_kv in the pool's format, k_pe
// 16- or 32-bit). The pool (latentPool.ts) counts references on the host; the bytes live in the backend's memory:
// host arrays for the CPU (HostLatentStore), a GPU buffer for a GPU backend, which also runs the re-positioning
// there.
import { LatentFormat, rowCodec, RowCodec } from './latentFormat';
import type { Rope } from '../model/rope';

export const PAGE_TOKENS = 16;

export interface LatentShape {
  numLayers: number;
  kvLoraRank: number;
  qkRopeHeadDim: number;
}

export interface LatentPageStore {
  /** Makes page `id` exist (ids are handed out densely from 0; a store may grow lazily); called at every hand-out. */
  ensurePage(id: number): void;
  /** Host writes of one token's latents of one layer (used by host-side backends and tests). */
  write(page: number, slot: number, layer: number, cKv: Float32Array, kPe: Float32Array): void;
  /**
   * The first `count` tokens of a page in one layer, as fp32 rows (views for fp32, decoded copies otherwise).
   * Host stores only: a device store throws and is read through its backend.
   */
  read(page: number, layer: number, count: number): { cKv: Float32Array; kPe: Float32Array };
  /**
   * Copies one token's latents of every layer to another page slot, re-positioned from sequence position `fromPos`
   * to `toPos`: c_kv is copied as stored (it carries no position), k_pe is re-rotated from `fromPos` to `toPos`.
   */
  copyToken(src: number, srcSlot: number, dst: number, dstSlot: number, rope: Rope, fromPos: number, toPos: number): void;
}

interface Page {
  cKv: ReturnType<RowCodec['allocate']>;
  kPe: ReturnType<RowCodec['allocate']>;
}

/** Pages as host typed arrays, allocated as the pool first hands them out. */
export class HostLatentStore implements LatentPageStore {
  private readonly pages: Page[] = [];
  private readonly cKvCodec: RowCodec;
  private readonly kPeCodec: RowCodec;

  constructor(readonly shape: LatentShape, readonly format: LatentFormat) {
    this.cKvCodec = rowCodec(format, shape.kvLoraRank);
    this.kPeCodec = rowCodec(format === 'fp32' ? 'fp32' : 'fp16', shape.qkRopeHeadDim);
  }

  ensurePage(id: number): void {
    const rows = PAGE_TOKENS * this.shape.numLayers;
    while (this.pages.length <= id) this.pages.push({ cKv: this.cKvCodec.allocate(rows), kPe: this.kPeCodec.allocate(rows) });
  }

  private row(slot: number, layer: number): number {
    return layer * PAGE_TOKENS + slot;
  }

  write(page: number, slot: number, layer: number, cKv: Float32Array, kPe: Float32Array): void {
    const p = this.pages[page];
    const row = this.row(slot, layer);
    this.cKvCodec.encode(cKv, 0, p.cKv.data, row, p.cKv.scales);
    this.kPeCodec.encode(kPe, 0, p.kPe.data, row, p.kPe.scales);
  }

  read(page: number, layer: number, count: number): { cKv: Float32Array; kPe: Float32Array } {
    const p = this.pages[page];
    const r = this.shape.kvLoraRank, dr = this.shape.qkRopeHeadDim;
    const first = this.row(0, layer);
    if (this.format === 'fp32') {
      return {
        cKv: (p.cKv.data as Float32Array).subarray(first * r, (first + count) * r),
        kPe: (p.kPe.data as Float32Array).subarray(first * dr, (first + count) * dr),
      };
    }
    const cKv = new Float32Array(count * r);
    const kPe = new Float32Array(count * dr);
    for (let s = 0; s < count; s++) {
      this.cKvCodec.decode(p.cKv.data, first + s, p.cKv.scales, cKv, s * r);
      this.kPeCodec.decode(p.kPe.data, first + s, p.kPe.scales, kPe, s * dr);
    }
    return { cKv, kPe };
  }

  copyToken(src: number, srcSlot: number, dst: number, dstSlot: number, rope: Rope, fromPos: number, toPos: number): void {
    const s = this.pages[src], d = this.pages[dst];
    const r = this.cKvCodec, k = this.kPeCodec;
    const kPe = new Float32Array(this.shape.qkRopeHeadDim);
    for (let layer = 0; layer < this.shape.numLayers; layer++) {
      const from = this.row(srcSlot, layer), to = this.row(dstSlot, layer);
      d.cKv.data.set(s.cKv.data.subarray(from * r.rowElements, (from + 1) * r.rowElements), to * r.rowElements);
      if (r.rowScales) d.cKv.scales.set(s.cKv.scales.subarray(from * r.rowScales, (from + 1) * r.rowScales), to * r.rowScales);
      k.decode(s.kPe.data, from, s.kPe.scales, kPe, 0);
      rope.reposition(kPe, 0, fromPos, toPos);
      k.encode(kPe, 0, d.kPe.data, to, d.kPe.scales);
    }
  }
}
