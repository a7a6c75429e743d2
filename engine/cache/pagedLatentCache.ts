// One sequence's latents as a list of pool pages (its block table), with each token's provenance. The sequence
// holds one reference on each page; shared prefix pages are full and never written again, so sharing needs no
// copy-on-write.
import type { LatentCache, LatentChunk } from './latentCache';
import { LatentPool, PAGE_TOKENS } from './latentPool';
import { EXACT } from './provenance';

export class PagedLatentCache implements LatentCache {
  readonly pages: number[] = [];
  /** Per token: re-positionings from exact (provenance.ts). */
  readonly distances: number[] = [];
  length = 0;
  /** The largest distance so far: what a token computed next attends to. */
  private distanceSoFar = EXACT;
  private released = false;

  /** `allocPage` returns a fresh page (evicting other pages if it must) or throws PoolExhaustedError. */
  constructor(readonly pool: LatentPool, private readonly allocPage: () => number) {}

  /** Starts the sequence with already-computed full pages (a matched prefix); takes a reference on each. */
  adoptPrefix(pages: number[], distances: readonly number[]): void {
    if (this.length !== 0) throw new Error('adoptPrefix on a non-empty cache');
    if (distances.length !== pages.length * PAGE_TOKENS) throw new RangeError(`adoptPrefix: ${distances.length} distances for ${pages.length} pages`);
    for (const p of pages) {
      this.pool.incRef(p);
      this.pages.push(p);
    }
    this.length = pages.length * PAGE_TOKENS;
    this.noteDistances(distances);
  }

  private noteDistances(distances: readonly number[]): void {
    for (const d of distances) {
      this.distances.push(d);
      if (d > this.distanceSoFar) this.distanceSoFar = d;
    }
  }

  /** Makes room for `count` tokens whose latents will be copied in; their provenance is given here. */
  growCopied(distances: readonly number[]): void {
    this.reserve(distances.length);
    this.length += distances.length;
    this.noteDistances(distances);
  }

  /**
   * Makes sure the pages for `count` more tokens exist, so that the next `grow(count)` cannot fail. All or
   * nothing: on PoolExhaustedError the cache is as it was.
   */
  reserve(count: number): void {
    const need = Math.ceil((this.length + count) / PAGE_TOKENS);
    const added: number[] = [];
    try {
      while (this.pages.length + added.length < need) added.push(this.allocPage());
    } catch (e) {
      for (const p of added) this.pool.decRef(p);
      throw e;
    }
    this.pages.push(...added);
  }

  /** Room for `count` tokens the model computes: they attend to everything before, so inherit its provenance. */
  grow(count: number): void {
    this.reserve(count);
    this.length += count;
    for (let i = 0; i < count; i++) this.distances.push(this.distanceSoFar);
  }

  /** Where token `index` lives. */
  locate(index: number): { page: number; slot: number } {
    return { page: this.pages[Math.floor(index / PAGE_TOKENS)], slot: index % PAGE_TOKENS };
  }

  write(layer: number, index: number, cKv: Float32Array, kPe: Float32Array): void {
    if (index >= this.length) throw new RangeError(`latent cache: token ${index} written past length ${this.length}`);
    const { page, slot } = this.locate(index);
    this.pool.write(page, slot, layer, cKv, kPe);
  }

  *chunks(layer: number, end: number): Iterable<LatentChunk> {
    for (let start = 0; start < end; start += PAGE_TOKENS) {
      const count = Math.min(PAGE_TOKENS, end - start);
      const { cKv, kPe } = this.pool.read(this.pages[start / PAGE_TOKENS], layer, count);
      yield { start, count, cKv, kPe };
    }
  }

  /** The full pages (their tokens all written), for insertion into the radix tree. */
  fullPages(): number[] {
    // Pages reserved beyond length are not full.
    return this.pages.slice(0, Math.floor(this.length / PAGE_TOKENS));
  }

  /** Drops this sequence's references (idempotent). */
  release(): void {
    if (this.released) return;
    this.released = true;
    for (const p of this.pages) this.pool.decRef(p);
    this.pages.length = 0;
    this.distances.length = 0;
    this.length = 0;
  }
}
