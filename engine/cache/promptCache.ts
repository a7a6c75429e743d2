// The engine's latent cache across requests: a paged pool, a radix tree over it, and the reuse policy.
//   exact      - reuse the longest cached prefix of exact latents only (bit-exact, whatever ran before);
//   reuse:k:d  - also reuse what moved: the prompt is aligned by a token diff with the one cached sequence it was
//                edited from, and each aligned run is copied (re-positioned by rotating only k_pe) but for its
//                first k tokens, which are recomputed so that they see their new left context (the EPIC recipe);
//                no reused token may be more than d re-positionings from exact.
// A request `prepare`s its cache (adopt the prefix, copy moved runs, compute the gaps or leave their slots for the
// caller's first forward) and `finish`es it (its pages go into the tree, the sequence it is an edit of is released,
// its references are dropped) or `abandon`s it.
import type { Rope } from '../model/rope';
import type { LatentFormat } from './latentFormat';
import { LatentPool, LatentShape, PAGE_TOKENS, PoolExhaustedError } from './latentPool';
import type { LatentPageStore } from './latentStore';
import { findMovedRuns, MovedRun } from './movedRuns';
import { PagedLatentCache } from './pagedLatentCache';
import { EXACT } from './provenance';
import { CachedSequence, RadixNode, RadixTree } from './radixTree';

export type ReusePolicy = { kind: 'exact' } | { kind: 'reuse'; k: number; maxDistance: number };

/**
 * Re-positionings a reused latent may be from exact under `reuse:k` when no bound is given. Each keystroke's
 * prompt re-derives the suffix from the previous one, so this is also how many keystrokes drift may compound
 * over before the suffix is computed exactly again.
 */
export const DEFAULT_MAX_DISTANCE = 4;

export function parseReusePolicy(text: string): ReusePolicy {
  if (text === 'exact') return { kind: 'exact' };
  const m = /^reuse:(\d+)(?::(\d+))?$/.exec(text);
  if (m) {
    const maxDistance = m[2] === undefined ? DEFAULT_MAX_DISTANCE : Number(m[2]);
    if (maxDistance >= 1 && Number(m[1]) <= 1_000_000) return { kind: 'reuse', k: Number(m[1]), maxDistance };
  }
  throw new RangeError(`reuse policy must be "exact", "reuse:K" or "reuse:K:D" with D >= 1 (got "${text}")`);
}

export function formatReusePolicy(p: ReusePolicy): string {
  if (p.kind === 'exact') return 'exact';
  return p.maxDistance === DEFAULT_MAX_DISTANCE ? `reuse:${p.k}` : `reuse:${p.k}:${p.maxDistance}`;
}

export interface PreparedPrompt {
  cache: PagedLatentCache;
  /** Prompt tokens whose latents came from the cache (prefix and moved runs). */
  cachedTokens: number;
  /** The matched prefix (tokens [0, prefixLength) were adopted). */
  prefixLength: number;
  /** The copied runs, in prompt order; every other prompt token was or will be computed. */
  moved: MovedRun[];
  /** The prompt's last tokens, still to be computed by the caller (always at least one). */
  pending: number[];
  /**
   * Without a `compute` for `prepare`: the gaps between moved runs, whose slots the cache holds unwritten, for the
   * caller to compute in its first forward beside `pending` (items with `at`); the cache may go into the tree only
   * after they are (until then, `abandon` it).
   */
  gaps: Gap[];
  /** Held until `finish` or `abandon`. */
  lockedNode: RadixNode;
  /** The cached sequence this prompt is an edit of (its own branch is released once this one is cached). */
  supersedes: number[] | null;
  ended: boolean;
}

/** The cache's counts for metrics, kept up to date (nothing walks the tree to answer). */
export interface PromptCacheStats {
  capacityPages: number;
  pageBytes: number;
  pagesInUse: number;
  treePages: number;
  /** Tree pages no running request locks. */
  evictablePages: number;
  /** Pages in use that eviction could not free now (held by running requests). */
  pinnedPages: number;
  /** Tree pages holding derived (re-positioned) latents. */
  derivedPages: number;
}

export interface PromptCacheOptions {
  format: LatentFormat;
  budgetBytes: number;
  policy: ReusePolicy;
  /** Page storage in the backend's memory (default: host arrays). */
  createStore?: (shape: LatentShape, format: LatentFormat, capacityPages: number) => LatentPageStore;
}

/** Prompt tokens to compute into slots the cache holds from index `at` on. */
export interface Gap {
  at: number;
  tokens: number[];
}

/** Runs the model over `tokens` appended to `cache` (the caller's forward). */
export type ComputeTokens = (cache: PagedLatentCache, tokens: number[]) => unknown;

export class PromptCache {
  readonly pool: LatentPool;
  readonly tree: RadixTree;
  policy: ReusePolicy;

  constructor(shape: LatentShape, private readonly rope: Rope, options: PromptCacheOptions) {
    this.pool = new LatentPool(shape, options.format, options.budgetBytes,
      options.createStore && ((capacityPages) => options.createStore!(shape, options.format, capacityPages)));
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

  stats(): PromptCacheStats {
    const tree = this.tree.stats();
    return {
      capacityPages: this.pool.capacityPages,
      pageBytes: this.pool.pageBytes,
      pagesInUse: this.pool.pagesInUse,
      treePages: tree.pages,
      evictablePages: tree.evictablePages,
      pinnedPages: this.pool.pagesInUse - tree.evictablePages,
      derivedPages: tree.derivedPages,
    };
  }

  /**
   * Builds the cache for `prompt`. `compute(cache, tokens)` runs the model over tokens appended to the cache
   * (used for the gaps between reused runs); without it the gaps' slots are made and returned as `gaps`, for the
   * caller to compute with `pending` in one forward (the weights read once, not once per gap). The last gap is
   * returned as `pending` for the caller's batch. On any error nothing stays held.
   */
  async prepare(prompt: readonly number[], compute: ComputeTokens | null, policy: ReusePolicy = this.policy): Promise<PreparedPrompt> {
    const n = prompt.length;
    if (n === 0) throw new RangeError('prepare: the prompt is empty');
    const maxDistance = policy.kind === 'exact' ? EXACT : policy.maxDistance;
    const cache = this.newCache();
    const match = this.tree.matchPrefix(prompt, n - 1, maxDistance);
    this.tree.lock(match.node);
    let cachedTokens = match.length;
    let cursor = match.length;
    let moved: MovedRun[] = [];
    let supersedes: number[] | null = null;
    const gaps: Gap[] = [];
    try {
      cache.adoptPrefix(match.pages, match.distances);
      const source = policy.kind === 'reuse' ? this.tree.latestSequenceSharingPrefix(prompt) : null;
      if (source && policy.kind === 'reuse') {
        const alignment = findMovedRuns(source, prompt, cursor, n - 1, policy.k, maxDistance);
        moved = alignment.runs;
        // Pages for the copies may come from evicting cold leaves: never the source's.
        this.tree.lock(source.leaf);
        try {
          await this.copyRuns(moved, source, prompt, cache, compute, cursor, gaps);
        } finally {
          this.tree.unlock(source.leaf);
        }
        for (const run of moved) cachedTokens += run.count;
        if (moved.length > 0) cursor = moved[moved.length - 1].start + moved[moved.length - 1].count;
        // An edit of the source (most of what follows the shared prefix aligned) supersedes it; a prompt that merely
        // extends it, or shares only a preamble with it (another document), does not.
        const { alignedPastPrefix, sourceTokensPastPrefix } = alignment;
        if (sourceTokensPastPrefix > 0 && alignedPastPrefix * 2 >= sourceTokensPastPrefix) supersedes = source.tokens;
      }
    } catch (e) {
      this.tree.unlock(match.node);
      cache.release();
      throw e;
    }
    return {
      cache, cachedTokens, prefixLength: match.length, moved, pending: prompt.slice(cursor), gaps, lockedNode: match.node,
      supersedes, ended: false,
    };
  }

  /** Computes the gap before each moved run (or makes its slots, into `gaps`) and copies the run, re-positioned. */
  private async copyRuns(moved: MovedRun[], source: CachedSequence, prompt: readonly number[], cache: PagedLatentCache,
    compute: ComputeTokens | null, cursor: number, gaps: Gap[]): Promise<void> {
    for (const run of moved) {
      if (run.start > cursor) {
        const tokens = prompt.slice(cursor, run.start);
        if (compute) {
          await compute(cache, tokens);
        } else {
          // The slots take the provenance of what precedes them, as computed tokens do.
          gaps.push({ at: cache.length, tokens });
          cache.grow(tokens.length);
        }
      }
      const base = cache.length;
      cache.growCopied(source.distances.slice(run.sourceStart, run.sourceStart + run.count).map((d) => d + run.distanceStep));
      for (let i = 0; i < run.count; i++) {
        const from = run.sourceStart + i;
        const dst = cache.locate(base + i);
        this.pool.copyToken(source.pages[Math.floor(from / PAGE_TOKENS)], from % PAGE_TOKENS, dst.page, dst.slot, this.rope, from, base + i);
      }
      cursor = run.start + run.count;
    }
  }


  /**
   * Ends a request: the tokens whose latents the cache holds go into the tree (with their provenance), the
   * sequence it superseded (the same document before this edit) leaves the tree, and its references are dropped.
   * So an editing session holds one copy of its document, not one suffix copy per keystroke.
   */
  finish(prepared: PreparedPrompt, tokens: readonly number[]): void {
    this.end(prepared, () => {
      const cache = prepared.cache;
      const full = cache.fullPages();
      this.tree.insert(tokens.slice(0, cache.length), full, cache.distances.slice(0, full.length * PAGE_TOKENS));
      if (prepared.supersedes) this.tree.releaseBranch(prepared.supersedes);
    });
  }

  /** Ends a request without caching anything (its cache is in doubt, e.g. a failed step); references are dropped. */
  abandon(prepared: PreparedPrompt): void {
    this.end(prepared, () => undefined);
  }

  private end(prepared: PreparedPrompt, cacheIt: () => void): void {
    if (prepared.ended) throw new Error('prompt cache: a request was ended twice');
    prepared.ended = true;
    try {
      cacheIt();
    } finally {
      this.tree.unlock(prepared.lockedNode);
      prepared.cache.release();
    }
  }
}
