// A radix tree over token ids mapping cached sequences to pool pages (SGLang's RadixAttention, at page
// granularity: every edge is a whole number of pages). Its public face: matchPrefix, insert, lock/unlock,
// evict, and a walk over its pages for edit-aware reuse. The tree holds one pool reference per page it stores.
import { LatentPool, PAGE_TOKENS } from './latentPool';

export class RadixNode {
  readonly children = new Map<string, RadixNode>();
  lockRef = 0;
  lastAccess = 0;

  constructor(
    /** Tokens of this edge (a multiple of PAGE_TOKENS). */
    public key: number[],
    /** One page per PAGE_TOKENS tokens of key. */
    public pages: number[],
    public parent: RadixNode | null,
    /** Position of key[0] in the sequence. */
    public depth: number,
  ) {}
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
  /** Matched tokens (pages.length * PAGE_TOKENS). */
  length: number;
  /** The deepest node the match reached (lock it while the pages are in use). */
  node: RadixNode;
}

/** A page of the tree: where it sits and what follows it. */
export interface PageRef {
  node: RadixNode;
  index: number;
}

export class RadixTree {
  readonly root = new RadixNode([], [], null, 0);
  private clock = 0;
  private pageCount = 0;

  constructor(private readonly pool: LatentPool) {}

  /** Pages the tree holds. */
  get size(): number {
    return this.pageCount;
  }

  /** The longest cached prefix of `tokens` made of whole pages, at most `maxTokens` long. */
  matchPrefix(tokens: readonly number[], maxTokens = tokens.length): PrefixMatch {
    const pages: number[] = [];
    let node = this.root;
    let pos = 0;
    const limit = Math.floor(Math.min(maxTokens, tokens.length) / PAGE_TOKENS) * PAGE_TOKENS;
    node.lastAccess = ++this.clock;
    while (pos < limit) {
      const child = node.children.get(pageKey(tokens, pos));
      if (!child) break;
      child.lastAccess = this.clock;
      let i = 0;
      while (i < child.pages.length && pos < limit && samePage(child.key, i * PAGE_TOKENS, tokens, pos)) {
        pages.push(child.pages[i]);
        pos += PAGE_TOKENS;
        i++;
      }
      node = child;
      if (i < child.pages.length) break;
    }
    return { pages, length: pos, node };
  }

  /**
   * Stores the full pages of a sequence (`pages[i]` holds tokens[i*P, (i+1)*P)). Pages of a prefix the tree
   * already has are not taken (the caller's copies stay the caller's); the tree takes a reference on each page
   * it adopts. Returns the number of pages adopted.
   */
  insert(tokens: readonly number[], pages: readonly number[]): number {
    const total = Math.min(pages.length, Math.floor(tokens.length / PAGE_TOKENS));
    let node = this.root;
    let pageIdx = 0;
    ++this.clock;
    while (pageIdx < total) {
      const pos = pageIdx * PAGE_TOKENS;
      const child = node.children.get(pageKey(tokens, pos));
      if (!child) {
        const key = tokens.slice(pos, total * PAGE_TOKENS);
        const adopted = pages.slice(pageIdx, total);
        for (const p of adopted) this.pool.incRef(p);
        const leaf = new RadixNode([...key], [...adopted], node, pos);
        leaf.lastAccess = this.clock;
        node.children.set(pageKey(key, 0), leaf);
        this.pageCount += adopted.length;
        return adopted.length;
      }
      child.lastAccess = this.clock;
      let i = 0;
      while (i < child.pages.length && pageIdx < total && samePage(child.key, i * PAGE_TOKENS, tokens, pageIdx * PAGE_TOKENS)) {
        i++;
        pageIdx++;
      }
      if (i < child.pages.length) this.split(child, i);
      node = child;
    }
    return 0;
  }

  /** Cuts `node` after `pages` pages: the rest moves to a new child. */
  private split(node: RadixNode, pages: number): void {
    const cut = pages * PAGE_TOKENS;
    const tail = new RadixNode(node.key.slice(cut), node.pages.slice(pages), node, node.depth + cut);
    tail.lastAccess = node.lastAccess;
    // Locks stay on the upper part, where their holders will release them; the holders' own page references
    // keep the tail's pages alive if it is evicted meanwhile.
    for (const [k, c] of node.children) {
      c.parent = tail;
      tail.children.set(k, c);
    }
    node.children.clear();
    node.children.set(pageKey(tail.key, 0), tail);
    node.key = node.key.slice(0, cut);
    node.pages = node.pages.slice(0, pages);
  }

  /** Pins `node` and its ancestors against eviction. */
  lock(node: RadixNode): void {
    for (let n: RadixNode | null = node; n; n = n.parent) n.lockRef++;
  }

  unlock(node: RadixNode): void {
    for (let n: RadixNode | null = node; n; n = n.parent) {
      if (n.lockRef <= 0) throw new Error('radix tree: unlock of an unlocked node');
      n.lockRef--;
    }
  }

  /** Pages that eviction could release: those in unlocked nodes. */
  evictablePages(): number {
    let count = 0;
    const visit = (n: RadixNode) => {
      if (n !== this.root && n.lockRef === 0) count += n.pages.length;
      for (const c of n.children.values()) visit(c);
    };
    visit(this.root);
    return count;
  }

  /**
   * Drops least-recently-used unlocked leaves until `pagesWanted` pages went back to the pool (a page still
   * held by a running sequence leaves the tree but is not freed). Returns the pages freed.
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
      leaves.sort((a, b) => b.lastAccess - a.lastAccess);
      const leaf = leaves.pop()!;
      for (const p of leaf.pages) {
        const last = this.pool.refCount(p) === 1;
        this.pool.decRef(p);
        if (last) freed++;
      }
      this.pageCount -= leaf.pages.length;
      const parent = leaf.parent!;
      parent.children.delete(pageKey(leaf.key, 0));
      if (parent !== this.root && parent.children.size === 0 && parent.lockRef === 0) leaves.push(parent);
    }
    return freed;
  }

  /** Every page in the tree, with the tokens it holds, for finding moved runs (edit-aware reuse). */
  *pages(): Iterable<PageRef> {
    const stack = [...this.root.children.values()];
    while (stack.length) {
      const n = stack.pop()!;
      for (let i = 0; i < n.pages.length; i++) yield { node: n, index: i };
      stack.push(...n.children.values());
    }
  }

  /** The page after `ref` along the sequence whose next page holds tokens[at, at+P), if cached. */
  nextPage(ref: PageRef, tokens: readonly number[], at: number): PageRef | null {
    if (at + PAGE_TOKENS > tokens.length) return null;
    let next: PageRef;
    if (ref.index + 1 < ref.node.pages.length) next = { node: ref.node, index: ref.index + 1 };
    else {
      const child = ref.node.children.get(pageKey(tokens, at));
      if (!child) return null;
      next = { node: child, index: 0 };
    }
    return samePage(next.node.key, next.index * PAGE_TOKENS, tokens, at) ? next : null;
  }

  /** Checks the tree's own bookkeeping (for tests): keys, pages, depths, page count. */
  checkInvariants(): Map<number, number> {
    const held = new Map<number, number>();
    let count = 0;
    const visit = (n: RadixNode, depth: number) => {
      if (n !== this.root) {
        if (n.key.length !== n.pages.length * PAGE_TOKENS || n.pages.length === 0) throw new Error('radix tree: key/pages mismatch');
        if (n.depth !== depth) throw new Error('radix tree: wrong depth');
        for (const p of n.pages) held.set(p, (held.get(p) ?? 0) + 1);
        count += n.pages.length;
      }
      for (const [k, c] of n.children) {
        if (k !== pageKey(c.key, 0) || c.parent !== n) throw new Error('radix tree: bad child link');
        visit(c, depth + n.key.length);
      }
    };
    visit(this.root, 0);
    if (count !== this.pageCount) throw new Error(`radix tree: counted ${count} pages, recorded ${this.pageCount}`);
    return held;
  }
}
