// The engine's latent cache across requests: a paged pool, a radix tree over it, and the reuse policy.
//   exact    - reuse the longest cached prefix only (bit-exact);
//   reuse:k  - also reuse cached runs that moved (re-positioned by rotating only k_pe), recomputing the first
//              k tokens of each run so that they see their new left context (the EPIC recipe).
// A request `prepare`s its cache (adopt the prefix, copy moved runs, compute the gaps) and `finish`es it
// (its pages go into the tree, its references are dropped).
import type { Rope } from '../model/rope';
import type { LatentFormat } from './latentFormat';
import { LatentPool, LatentShape, PAGE_TOKENS, PoolExhaustedError } from './latentPool';
import { findMovedRuns } from './movedRuns';
import { PagedLatentCache } from './pagedLatentCache';
import { RadixNode, RadixTree } from './radixTree';

export type ReusePolicy = { kind: 'exact' } | { kind: 'reuse'; k: number };

export function parseReusePolicy(text: string): ReusePolicy {
  if (text === 'exact') return { kind: 'exact' };
  const m = /^reuse:(\d+)$/.exec(text);
  if (m) return { kind: 'reuse', k: Number(m[1]) };
  throw new RangeError(`reuse policy must be "exact" or "reuse:K" (got "${text}")`);
}

export function formatReusePolicy(p: ReusePolicy): string {
  return p.kind === 'exact' ? 'exact' : `reuse:${p.k}`;
}

export interface PreparedPrompt {
  cache: PagedLatentCache;
  /** Prompt tokens whose latents came from the cache (prefix and moved runs). */
  cachedTokens: number;
  /** The prompt's last tokens, still to be computed by the caller (always at least one). */
  pending: number[];
  /** Held until `finish`. */
  lockedNode: RadixNode;
}

export interface PromptCacheOptions {
  format: LatentFormat;
  budgetBytes: number;
  policy: ReusePolicy;
}

export class PromptCache {
  readonly pool: LatentPool;
  readonly tree: RadixTree;
  policy: ReusePolicy;

  constructor(shape: LatentShape, private readonly rope: Rope, options: PromptCacheOptions) {
    this.pool = new LatentPool(shape, options.format, options.budgetBytes);
    this.tree = new RadixTree(this.pool);
    this.policy = options.policy;
  }

  /** A page for a running sequence, evicting cold cached pages when the budget is spent. */
  private allocPage = (): number => {
    let page = this.pool.tryAlloc();
    if (page === null && this.tree.evict(1) > 0) page = this.pool.tryAlloc();
    if (page === null) {
      throw new PoolExhaustedError(`latent pool full: ${this.pool.pagesInUse} pages of ${this.pool.pageBytes} B in use by running requests`);
    }
    return page;
  };

  newCache(): PagedLatentCache {
    return new PagedLatentCache(this.pool, this.allocPage);
  }

  /**
   * Builds the cache for `prompt`. `compute(cache, tokens)` runs the model over tokens appended to the cache
   * (used for the gaps between reused runs); the last gap is returned as `pending` for the caller's batch.
   */
  prepare(prompt: readonly number[], compute: (cache: PagedLatentCache, tokens: number[]) => void): PreparedPrompt {
    const n = prompt.length;
    const cache = this.newCache();
    const match = this.tree.matchPrefix(prompt, n - 1);
    this.tree.lock(match.node);
    cache.adoptPrefix(match.pages);
    let cachedTokens = match.length;
    let cursor = match.length;
    const policy = this.policy;
    if (policy.kind === 'reuse') {
      const runs = findMovedRuns(this.tree, prompt, cursor, n - 1, policy.k + PAGE_TOKENS);
      const sources = runs.flatMap((r) => r.pages.map((p) => p.node));
      for (const s of sources) this.tree.lock(s);
      try {
        for (const run of runs) {
          const copyFrom = run.start + policy.k;
          if (copyFrom > cursor) compute(cache, prompt.slice(cursor, copyFrom));
          const count = run.start + run.length - copyFrom;
          const base = cache.length;
          cache.grow(count);
          const delta = run.start - run.sourceStart;
          for (let i = 0; i < count; i++) {
            const offset = copyFrom - run.start + i;
            const src = run.pages[Math.floor(offset / PAGE_TOKENS)];
            const dst = cache.locate(base + i);
            this.pool.copyToken(src.node.pages[src.index], offset % PAGE_TOKENS, dst.page, dst.slot, this.rope, delta);
          }
          cachedTokens += count;
          cursor = run.start + run.length;
        }
      } catch (e) {
        this.tree.unlock(match.node);
        cache.release();
        throw e;
      } finally {
        for (const s of sources) this.tree.unlock(s);
      }
    }
    return { cache, cachedTokens, pending: prompt.slice(cursor), lockedNode: match.node };
  }

  /** Ends a request: the tokens whose latents the cache holds go into the tree; references are dropped. */
  finish(prepared: PreparedPrompt, tokens: readonly number[]): void {
    const cache = prepared.cache;
    this.tree.insert(tokens.slice(0, cache.length), cache.fullPages());
    this.tree.unlock(prepared.lockedNode);
    cache.release();
  }

  /** Ends a request without caching anything (its references are dropped). */
  abandon(prepared: PreparedPrompt): void {
    this.tree.unlock(prepared.lockedNode);
    prepared.cache.release();
  }
}
