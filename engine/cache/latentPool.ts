// The paged pool of MLA latents. A page holds PAGE_TOKENS tokens of every layer (c_kv in the pool's format, k_pe
// 16- or 32-bit). Pages are reference-counted: each holder (a running sequence, a radix-tree node) holds one
// reference; a page returns to the free list when its last reference goes. The byte budget bounds the pages
// that exist at once.
import { bytesPerTokenLayer, LatentFormat, rowCodec, RowCodec } from './latentFormat';
import type { Rope } from '../model/rope';

export const PAGE_TOKENS = 16;

export interface LatentShape {
  numLayers: number;
  kvLoraRank: number;
  qkRopeHeadDim: number;
}

interface Page {
  cKv: ReturnType<RowCodec['allocate']>;
  kPe: ReturnType<RowCodec['allocate']>;
}

export class PoolExhaustedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PoolExhaustedError';
  }
}

export class LatentPool {
  readonly pageBytes: number;
  readonly capacityPages: number;
  private readonly cKvCodec: RowCodec;
  private readonly kPeCodec: RowCodec;
  private readonly storage: Page[] = [];
  private readonly refs: number[] = [];
  private readonly free: number[] = [];
  private inUse = 0;

  constructor(readonly shape: LatentShape, readonly format: LatentFormat, budgetBytes: number) {
    const { numLayers, kvLoraRank: r, qkRopeHeadDim: dr } = shape;
    this.pageBytes = PAGE_TOKENS * numLayers * bytesPerTokenLayer(format, r, dr);
    this.capacityPages = Math.floor(budgetBytes / this.pageBytes);
    if (this.capacityPages < 1) throw new RangeError(`latent pool: a budget of ${budgetBytes} B holds no page of ${this.pageBytes} B`);
    this.cKvCodec = rowCodec(format, r);
    this.kPeCodec = rowCodec(format === 'fp32' ? 'fp32' : 'fp16', dr);
  }

  get pagesInUse(): number {
    return this.inUse;
  }

  get bytesInUse(): number {
    return this.inUse * this.pageBytes;
  }

  /** A fresh page with one reference, or null when the budget is spent (the caller may evict and retry). */
  tryAlloc(): number | null {
    let id = this.free.pop();
    if (id === undefined) {
      if (this.storage.length >= this.capacityPages) return null;
      id = this.storage.length;
      const rows = PAGE_TOKENS * this.shape.numLayers;
      this.storage.push({ cKv: this.cKvCodec.allocate(rows), kPe: this.kPeCodec.allocate(rows) });
      this.refs.push(0);
    }
    this.refs[id] = 1;
    this.inUse++;
    return id;
  }

  refCount(id: number): number {
    return this.refs[id] ?? 0;
  }

  incRef(id: number): void {
    if (!(this.refs[id] > 0)) throw new Error(`latent pool: incRef of free page ${id}`);
    this.refs[id]++;
  }

  decRef(id: number): void {
    if (!(this.refs[id] > 0)) throw new Error(`latent pool: decRef of free page ${id} (double free)`);
    if (--this.refs[id] === 0) {
      this.free.push(id);
      this.inUse--;
    }
  }

  /**
   * The pool's invariants, in one place: every page's reference count equals the references its holders report
   * (`held`: page -> count, from every tree and sequence), free pages are held by no one and listed once, and
   * the pages in use fit the budget.
   */
  checkInvariants(held: Map<number, number>): void {
    const free = new Set(this.free);
    if (free.size !== this.free.length) throw new Error('latent pool: a page is on the free list twice');
    let inUse = 0;
    for (let id = 0; id < this.storage.length; id++) {
      const refs = this.refs[id];
      const want = held.get(id) ?? 0;
      if (refs !== want) throw new Error(`latent pool: page ${id} has ${refs} references but its holders account for ${want}`);
      if (refs > 0 && free.has(id)) throw new Error(`latent pool: page ${id} is in use and free`);
      if (refs === 0 && !free.has(id)) throw new Error(`latent pool: page ${id} leaked (no references, not free)`);
      if (refs > 0) inUse++;
    }
    for (const id of held.keys()) if (id >= this.storage.length) throw new Error(`latent pool: unknown page ${id} is held`);
    if (inUse !== this.inUse) throw new Error(`latent pool: ${inUse} pages in use, counted ${this.inUse}`);
    if (this.storage.length > this.capacityPages) throw new Error('latent pool: more pages than the budget allows');
  }

  private row(slot: number, layer: number): number {
    return layer * PAGE_TOKENS + slot;
  }

  write(page: number, slot: number, layer: number, cKv: Float32Array, kPe: Float32Array): void {
    const p = this.storage[page];
    const row = this.row(slot, layer);
    this.cKvCodec.encode(cKv, 0, p.cKv.data, row, p.cKv.scales);
    this.kPeCodec.encode(kPe, 0, p.kPe.data, row, p.kPe.scales);
  }

  /** The first `count` tokens of a page in one layer, as fp32 rows (views for fp32, decoded copies otherwise). */
  read(page: number, layer: number, count: number): { cKv: Float32Array; kPe: Float32Array } {
    const p = this.storage[page];
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

  /**
   * Copies one token's latents of every layer to another page slot, re-positioned from sequence position `fromPos`
   * to `toPos`: c_kv is copied as stored (it carries no position), k_pe is re-rotated from `fromPos` to `toPos`.
   */
  copyToken(src: number, srcSlot: number, dst: number, dstSlot: number, rope: Rope, fromPos: number, toPos: number): void {
    const s = this.storage[src], d = this.storage[dst];
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
