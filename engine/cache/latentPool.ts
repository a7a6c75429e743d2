// The paged pool of MLA latents. A page holds PAGE_TOKENS tokens of every layer (c_kv in the pool's format, k_pe
// 16- or 32-bit). Pages are reference-counted: each holder (a running sequence, a radix-tree node) holds one
// reference; a page returns to the free list when its last reference goes. The byte budget bounds the pages
// that exist at once.
import { bytesPerTokenLayer, LatentFormat } from './latentFormat';
import { HostLatentStore, LatentPageStore, LatentShape, PAGE_TOKENS } from './latentStore';
import type { Rope } from '../model/rope';

export { PAGE_TOKENS } from './latentStore';
export type { LatentShape } from './latentStore';

export class PoolExhaustedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PoolExhaustedError';
  }
}

export class LatentPool {
  readonly pageBytes: number;
  readonly capacityPages: number;
  private readonly refs: number[] = [];
  private readonly free: number[] = [];
  private inUse = 0;

  /** Where the pages' bytes live (the backend's memory; host arrays by default). */
  readonly store: LatentPageStore;

  constructor(readonly shape: LatentShape, readonly format: LatentFormat, budgetBytes: number,
    createStore: (capacityPages: number) => LatentPageStore = () => new HostLatentStore(shape, format)) {
    const { numLayers, kvLoraRank: r, qkRopeHeadDim: dr } = shape;
    this.pageBytes = PAGE_TOKENS * numLayers * bytesPerTokenLayer(format, r, dr);
    this.capacityPages = Math.floor(budgetBytes / this.pageBytes);
    if (this.capacityPages < 1) throw new RangeError(`latent pool: a budget of ${budgetBytes} B holds no page of ${this.pageBytes} B`);
    this.store = createStore(this.capacityPages);
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
      if (this.refs.length >= this.capacityPages) return null;
      id = this.refs.length;
      this.refs.push(0);
    }
    // Every hand-out, a reused page too: a device store stamps the page's content as of its current device.
    this.store.ensurePage(id);
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
    for (let id = 0; id < this.refs.length; id++) {
      const refs = this.refs[id];
      const want = held.get(id) ?? 0;
      if (refs !== want) throw new Error(`latent pool: page ${id} has ${refs} references but its holders account for ${want}`);
      if (refs > 0 && free.has(id)) throw new Error(`latent pool: page ${id} is in use and free`);
      if (refs === 0 && !free.has(id)) throw new Error(`latent pool: page ${id} leaked (no references, not free)`);
      if (refs > 0) inUse++;
    }
    for (const id of held.keys()) if (id >= this.refs.length) throw new Error(`latent pool: unknown page ${id} is held`);
    if (inUse !== this.inUse) throw new Error(`latent pool: ${inUse} pages in use, counted ${this.inUse}`);
    if (this.refs.length > this.capacityPages) throw new Error('latent pool: more pages than the budget allows');
  }

  write(page: number, slot: number, layer: number, cKv: Float32Array, kPe: Float32Array): void {
    this.store.write(page, slot, layer, cKv, kPe);
  }

  read(page: number, layer: number, count: number): { cKv: Float32Array; kPe: Float32Array } {
    return this.store.read(page, layer, count);
  }

  /** See LatentPageStore.copyToken. */
  copyToken(src: number, srcSlot: number, dst: number, dstSlot: number, rope: Rope, fromPos: number, toPos: number): void {
    this.store.copyToken(src, srcSlot, dst, dstSlot, rope, fromPos, toPos);
  }
}
