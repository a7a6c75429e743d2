// A radix tree over token ids mapping cached sequences to pool pages (SGLang's RadixAttention, at page
// granularity: every edge is a whole number of pages). Its public face: matchPrefix, insert, lock/unlock, evict,
// stats; plus, for edit-aware reuse, the latest sequence below a prefix and the release of a superseded one.
// The tree holds one pool reference per page it stores. Every token carries its provenance (see provenance.ts);
// along any root-to-leaf path exact tokens come first, so a prefix of exact pages is found by walking down.
import { LatentPool, PAGE_TOKENS } from './latentPool';
import { EXACT, maxDistance } from './provenance';

export class RadixNode {
  readonly children = new Map<string, RadixNode>();
  /** Holders of this node or of a node below it (a lock pins the node and its ancestors). */
  lockRef = 0;
  lastAccess = 0;

  constructor(
    /** Tokens of this edge (a multiple of PAGE_TOKENS). */
    public key: number[],
    /** One page per PAGE_TOKENS tokens of key. */
    public pages: number[],
    /** Per token of key: re-positionings from exact (0: exact). */
    public distances: number[],
    public parent: RadixNode | null,
    /** Position of key[0] in the sequence. */
    public depth: number,
  ) {}

  /** The largest distance among the tokens of page `index`. */
  pageDistance(index: number): number {
    return maxDistance(this.distances, index * PAGE_TOKENS, (index + 1) * PAGE_TOKENS);
  }
}

/** The child-map key of the page starting at tokens[at]. */
export function pageKey(tokens: readonly number[], at: number): string {
  return tokens.slice(at, at + PAGE_TOKENS).join(',');
}

function samePage(a: readonly number[], ai: number, b: readonly number[], bi: number): boolean {
  for (let i = 0; i < PAGE_TOKENS; i++) if (a[ai + i] !== b[bi + i]) return false;
  return true;
}

export interface PrefixMatch {
  pages: number[];
  /** Per matched token: its distance from exact. */
  distances: number[];
  /** Matched tokens (pages.length * PAGE_TOKENS). */
  length: number;
  /** The deepest node the match reached (lock it while the pages are in use). */
  node: RadixNode;
}

/** One cached sequence, root to leaf, flattened: what edit-aware reuse aligns a new prompt against. */
export interface CachedSequence {
  tokens: number[];
  pages: number[];
  distances: number[];
  leaf: RadixNode;
}

/** Counts kept up to date by every operation (never recomputed by walking the tree). */
export interface RadixTreeStats {
  /** Pages the tree holds. */
  pages: number;
  /** Pages in unlocked nodes: what eviction may drop. */
  evictablePages: number;
  /** Pages holding at least one derived (re-positioned) token. */
  derivedPages: number;
}

export class RadixTree {
  readonly root = new RadixNode([], [], [], null, 0);
  private clock = 0;
  private pageCount = 0;
  private evictable = 0;
  private derived = 0;

  constructor(private readonly pool: LatentPool) {}

  /** Pages the tree holds. */
  get size(): number {
    return this.pageCount;
  }

  stats(): RadixTreeStats {
    return { pages: this.pageCount, evictablePages: this.evictable, derivedPages: this.derived };
  }

  /**
   * The longest cached prefix of `tokens` made of whole pages, at most `maxTokens` long, whose every token is at
   * most `maxDistance` re-positionings from exact (0: exact latents only).
   */
  matchPrefix(tokens: readonly number[], maxTokens = tokens.length, maxDistance = EXACT): PrefixMatch {
    const pages: number[] = [];
    const distances: number[] = [];
    let node = this.root;
    let pos = 0;
    const limit = Math.floor(Math.min(maxTokens, tokens.length) / PAGE_TOKENS) * PAGE_TOKENS;
    node.lastAccess = ++this.clock;
    while (pos < limit) {
      const child = node.children.get(pageKey(tokens, pos));
      if (!child || child.pageDistance(0) > maxDistance) break;
      child.lastAccess = this.clock;
      let i = 0;
      while (i < child.pages.length && pos < limit && samePage(child.key, i * PAGE_TOKENS, tokens, pos)
        && child.pageDistance(i) <= maxDistance) {
        pages.push(child.pages[i]);
        for (let t = i * PAGE_TOKENS; t < (i + 1) * PAGE_TOKENS; t++) distances.push(child.distances[t]);
        pos += PAGE_TOKENS;
        i++;
      }
      node = child;
      if (i < child.pages.length) break;
    }
    return { pages, distances, length: pos, node };
  }

  /**
   * Stores the full pages of a sequence (`pages[i]` holds tokens[i*P, (i+1)*P), `distances` per token). Where the
   * tree already has a page for the same tokens it keeps the closer-to-exact copy (an exact recompute replaces a
   * derived copy, never the reverse). The tree takes a reference on each page it adopts. Returns the pages adopted.
   */
  insert(tokens: readonly number[], pages: readonly number[], distances: readonly number[]): number {
    const total = Math.min(pages.length, Math.floor(tokens.length / PAGE_TOKENS));
    if (distances.length < total * PAGE_TOKENS) throw new RangeError(`radix tree: ${distances.length} distances for ${total} pages`);
    let node = this.root;
    let pageIdx = 0;
    let adopted = 0;
    ++this.clock;
    while (pageIdx < total) {
      const pos = pageIdx * PAGE_TOKENS;
      const child = node.children.get(pageKey(tokens, pos));
      if (!child) {
        const leaf = new RadixNode(tokens.slice(pos, total * PAGE_TOKENS), pages.slice(pageIdx, total),
          distances.slice(pos, total * PAGE_TOKENS), node, pos);
        for (const p of leaf.pages) this.pool.incRef(p);
        leaf.lastAccess = this.clock;
        node.children.set(pageKey(leaf.key, 0), leaf);
        this.pageCount += leaf.pages.length;
        this.evictable += leaf.pages.length;
        for (let i = 0; i < leaf.pages.length; i++) if (leaf.pageDistance(i) > EXACT) this.derived++;
        return adopted + leaf.pages.length;
      }
      // The part of the node this sequence does not pass through keeps its own last use.
      const lastAccess = child.lastAccess;
      child.lastAccess = this.clock;
      let i = 0;
      while (i < child.pages.length && pageIdx < total && samePage(child.key, i * PAGE_TOKENS, tokens, pageIdx * PAGE_TOKENS)) {
        if (maxDistance(distances, pageIdx * PAGE_TOKENS, (pageIdx + 1) * PAGE_TOKENS) < child.pageDistance(i)) {
          this.replacePage(child, i, pages[pageIdx], distances.slice(pageIdx * PAGE_TOKENS, (pageIdx + 1) * PAGE_TOKENS));
          adopted++;
        }
        i++;
        pageIdx++;
      }
      if (i < child.pages.length) this.split(child, i, lastAccess);
      node = child;
    }
    return adopted;
  }

  /** Puts a closer-to-exact copy of the same tokens in place of page `index` of `node`. */
  private replacePage(node: RadixNode, index: number, page: number, distances: number[]): void {
    const wasDerived = node.pageDistance(index) > EXACT;
    this.pool.incRef(page);
    this.pool.decRef(node.pages[index]);
    node.pages[index] = page;
    node.distances.splice(index * PAGE_TOKENS, PAGE_TOKENS, ...distances);
    this.derived += Number(node.pageDistance(index) > EXACT) - Number(wasDerived);
  }

  /** Cuts `node` after `pages` pages: the rest moves to a new child. */
  private split(node: RadixNode, pages: number, tailLastAccess: number): void {
    const cut = pages * PAGE_TOKENS;
    const tail = new RadixNode(node.key.slice(cut), node.pages.slice(pages), node.distances.slice(cut), node,
      node.depth + cut);
    tail.lastAccess = tailLastAccess;
    // Holders below the cut unlock through the tail, so it carries their locks; holders of `node` itself stay on
    // the upper part (their own page references keep the tail's pages alive if it is evicted meanwhile).
    for (const [k, c] of node.children) {
      c.parent = tail;
      tail.children.set(k, c);
      tail.lockRef += c.lockRef;
    }
    if (node.lockRef > 0 && tail.lockRef === 0) this.evictable += tail.pages.length;
    node.children.clear();
    node.children.set(pageKey(tail.key, 0), tail);
    node.key = node.key.slice(0, cut);
    node.pages = node.pages.slice(0, pages);
    node.distances = node.distances.slice(0, cut);
  }

  /** Pins `node` and its ancestors against eviction. */
  lock(node: RadixNode): void {
    for (let n: RadixNode | null = node; n; n = n.parent) {
      if (n.lockRef++ === 0) this.evictable -= n.pages.length;
    }
  }

  unlock(node: RadixNode): void {
    // Checked before anything changes, so a wrong unlock leaves the counts as they were.
    for (let n: RadixNode | null = node; n; n = n.parent) {
      if (n.lockRef <= 0) throw new Error(`radix tree: unlock of an unlocked node (at token ${n.depth})`);
    }
    for (let n: RadixNode | null = node; n; n = n.parent) {
      if (--n.lockRef === 0) this.evictable += n.pages.length;
    }
  }

  /** Takes a leaf out of the tree, dropping its page references; returns the pages that went back to the pool. */
  private removeLeaf(leaf: RadixNode): number {
    let freed = 0;
    for (let i = 0; i < leaf.pages.length; i++) {
      const p = leaf.pages[i];
      if (this.pool.refCount(p) === 1) freed++;
      this.pool.decRef(p);
      if (leaf.pageDistance(i) > EXACT) this.derived--;
    }
    this.pageCount -= leaf.pages.length;
    if (leaf.lockRef === 0) this.evictable -= leaf.pages.length;
    leaf.parent!.children.delete(pageKey(leaf.key, 0));
    return freed;
  }

  /**
   * Drops unlocked leaves, derived ones first, each kind least recently used first, until `pagesWanted` pages went
   * back to the pool (a page still held by a running sequence leaves the tree but is not freed). Returns the pages
   * freed.
   */
  evict(pagesWanted: number): number {
    const leaves: RadixNode[] = [];
    const visit = (n: RadixNode) => {
      if (n.children.size === 0 && n !== this.root && n.lockRef === 0) leaves.push(n);
      for (const c of n.children.values()) visit(c);
    };
    visit(this.root);
    let freed = 0;
    while (freed < pagesWanted && leaves.length > 0) {
      // Popped from the end: exact before derived, and recent before old, sort to the front.
      const derived = (n: RadixNode) => Number(n.distances[n.distances.length - 1] > EXACT);
      leaves.sort((a, b) => derived(a) - derived(b) || b.lastAccess - a.lastAccess);
      const leaf = leaves.pop()!;
      const parent = leaf.parent!;
      freed += this.removeLeaf(leaf);
      if (parent !== this.root && parent.children.size === 0 && parent.lockRef === 0) leaves.push(parent);
    }
    return freed;
  }

  /**
   * The cached sequence an edited prompt most likely came from: the one sharing the longest token prefix with
   * it (whatever its provenance), continued below the divergence along the most recently used branch (the same
   * document's last request). Null when no whole page is shared: unrelated sequences are never used.
   */
  latestSequenceSharingPrefix(tokens: readonly number[]): CachedSequence | null {
    let node = this.root;
    let pos = 0;
    while (true) {
      const child = node.children.get(pageKey(tokens, pos));
      if (!child) break;
      let i = 0;
      while (i < child.pages.length && samePage(child.key, i * PAGE_TOKENS, tokens, pos)) {
        pos += PAGE_TOKENS;
        i++;
      }
      node = child;
      if (i < child.pages.length) break;
    }
    if (pos === 0) return null;
    while (node.children.size > 0) {
      let latest: RadixNode | null = null;
      for (const c of node.children.values()) if (!latest || c.lastAccess > latest.lastAccess) latest = c;
      node = latest!;
    }
    const path: RadixNode[] = [];
    for (let n: RadixNode | null = node; n && n !== this.root; n = n.parent) path.unshift(n);
    return {
      tokens: path.flatMap((n) => n.key),
      pages: path.flatMap((n) => n.pages),
      distances: path.flatMap((n) => n.distances),
      leaf: node,
    };
  }

  /**
   * The most recently used cached sequence that holds derived latents (what a background refresh recomputes
   * first), or null when every cached latent is exact. Walks the tree: for idle time, not for requests.
   */
  latestDerivedSequence(): number[] | null {
    let best = null as RadixNode | null;
    const visit = (n: RadixNode) => {
      if (n.children.size === 0 && n !== this.root && n.distances[n.distances.length - 1] > EXACT
        && (!best || n.lastAccess > best.lastAccess)) best = n;
      for (const c of n.children.values()) visit(c);
    };
    visit(this.root);
    const tokens: number[][] = [];
    for (let n: RadixNode | null = best; n && n !== this.root; n = n.parent) tokens.unshift(n.key);
    return best ? tokens.flat() : null;
  }

  /**
   * Releases a sequence that a newer one superseded: starting at the leaf that ends exactly with `tokens`, drops
   * unlocked leaves up to the first node that other sequences share or someone locks. Returns the pages taken out.
   */
  releaseBranch(tokens: readonly number[]): number {
    let node = this.root;
    let pos = 0;
    const end = Math.floor(tokens.length / PAGE_TOKENS) * PAGE_TOKENS;
    while (pos < end) {
      const child = node.children.get(pageKey(tokens, pos));
      if (!child || child.key.length > end - pos) return 0;
      for (let i = 0; i < child.pages.length; i++) if (!samePage(child.key, i * PAGE_TOKENS, tokens, pos + i * PAGE_TOKENS)) return 0;
      pos += child.key.length;
      node = child;
    }
    let released = 0;
    while (node !== this.root && node.children.size === 0 && node.lockRef === 0) {
      const parent = node.parent!;
      released += node.pages.length;
      this.removeLeaf(node);
      node = parent;
    }
    return released;
  }

  /**
   * Checks the tree's own bookkeeping (for tests): keys, pages, depths, lock counts (a node's locks cover its
   * children's), the kept counts, and that exact tokens come first along every path. Returns page -> references.
   */
  checkInvariants(): Map<number, number> {
    const held = new Map<number, number>();
    let count = 0, evictable = 0, derived = 0;
    const visit = (n: RadixNode, depth: number, derivedAbove: boolean) => {
      let childLocks = 0;
      for (const c of n.children.values()) childLocks += c.lockRef;
      if (n.lockRef < childLocks) throw new Error(`radix tree: node at token ${depth} has ${n.lockRef} locks, its children ${childLocks}`);
      if (n !== this.root) {
        if (n.key.length !== n.pages.length * PAGE_TOKENS || n.pages.length === 0) throw new Error('radix tree: key/pages mismatch');
        if (n.distances.length !== n.key.length) throw new Error(`radix tree: node at token ${depth} has ${n.distances.length} distances for ${n.key.length} tokens`);
        if (n.depth !== depth) throw new Error('radix tree: wrong depth');
        for (let i = 0; i < n.pages.length; i++) {
          held.set(n.pages[i], (held.get(n.pages[i]) ?? 0) + 1);
          if (n.pageDistance(i) > EXACT) derived++;
        }
        for (const d of n.distances) {
          if (derivedAbove && d === EXACT) throw new Error(`radix tree: an exact token below a derived one (node at token ${depth})`);
          derivedAbove ||= d > EXACT;
        }
        count += n.pages.length;
        if (n.lockRef === 0) evictable += n.pages.length;
      }
      for (const [k, c] of n.children) {
        if (k !== pageKey(c.key, 0) || c.parent !== n) throw new Error('radix tree: bad child link');
        visit(c, depth + n.key.length, derivedAbove);
      }
    };
    visit(this.root, 0, false);
    if (count !== this.pageCount) throw new Error(`radix tree: counted ${count} pages, recorded ${this.pageCount}`);
    if (evictable !== this.evictable) throw new Error(`radix tree: counted ${evictable} evictable pages, recorded ${this.evictable}`);
    if (derived !== this.derived) throw new Error(`radix tree: counted ${derived} derived pages, recorded ${this.derived}`);
    return held;
  }
}
