// The radix tree's bookkeeping on the shapes that broke it: a split under a lock held below the cut, counts kept
// through locks, splits, replacements and evictions, and the release of a superseded derived branch.
import * as assert from 'node:assert/strict';
import { LatentPool, PAGE_TOKENS } from '../../engine/cache/latentPool';
import { RadixTree } from '../../engine/cache/radixTree';

const P = PAGE_TOKENS;
const pool = () => new LatentPool({ numLayers: 1, kvLoraRank: 4, qkRopeHeadDim: 2 }, 'fp32', 1 << 20);
const pagesOf = (pl: LatentPool, count: number) => Array.from({ length: count }, () => pl.tryAlloc()!);
const tokensOf = (...pageIds: number[]) => pageIds.flatMap((id) => Array.from({ length: P }, (_, i) => id * 100 + i));
const exact = (tokens: number) => new Array<number>(tokens).fill(0);

/** The tree's pages plus the callers' own references must account for every reference in the pool. */
function checkAll(pl: LatentPool, tree: RadixTree, callerPages: number[][]): void {
  const held = tree.checkInvariants();
  for (const pages of callerPages) for (const p of pages) held.set(p, (held.get(p) ?? 0) + 1);
  pl.checkInvariants(held);
}

describe('radix tree', () => {
  it('a split above a held lock keeps the lock: the holder unlocks, the counts stay right', async () => {
    const pl = pool(), tree = new RadixTree(pl);
    const x = tokensOf(1, 2, 3, 4), xPages = pagesOf(pl, 4);
    tree.insert(x, xPages, exact(x.length));
    const y = [...x, ...tokensOf(5)], yPages = [...xPages, ...pagesOf(pl, 1)];
    tree.insert(y, yPages, exact(y.length));
    const held = tree.matchPrefix(y);
    assert.equal(held.length, 5 * P);
    tree.lock(held.node);
    assert.equal(tree.stats().evictablePages, 0);
    // Diverges after two pages of x's node: the node is cut above the locked child.
    const z = [...tokensOf(1, 2), ...tokensOf(9)], zPages = [...xPages.slice(0, 2), ...pagesOf(pl, 1)];
    tree.insert(z, zPages, exact(z.length));
    checkAll(pl, tree, [xPages, yPages.slice(4), zPages.slice(2)]);
    assert.equal(tree.stats().evictablePages, 1, 'only the new leaf is unlocked');
    assert.equal(tree.evict(10), 0, 'the locked path was evicted');
    tree.unlock(held.node);
    assert.equal(tree.stats().evictablePages, 5);
    checkAll(pl, tree, [xPages, yPages.slice(4), zPages.slice(2)]);
    assert.throws(() => tree.unlock(held.node), /unlock of an unlocked node/);
    checkAll(pl, tree, [xPages, yPages.slice(4), zPages.slice(2)]);
  });

  it('an exact copy replaces a derived one; a derived copy never replaces an exact one', async () => {
    const pl = pool(), tree = new RadixTree(pl);
    const t = tokensOf(1, 2, 3);
    const derived = pagesOf(pl, 3);
    tree.insert(t, derived, [...exact(P), ...new Array(2 * P).fill(1)]);
    assert.equal(tree.stats().derivedPages, 2);
    assert.equal(tree.matchPrefix(t).length, P, 'exact matching stopped at the first derived page');
    assert.equal(tree.matchPrefix(t, t.length, 1).length, 3 * P);
    const exactPages = pagesOf(pl, 3);
    assert.equal(tree.insert(t, exactPages, exact(3 * P)), 2);
    assert.equal(tree.stats().derivedPages, 0);
    assert.deepEqual(tree.matchPrefix(t).pages, [derived[0], exactPages[1], exactPages[2]]);
    const again = pagesOf(pl, 3);
    assert.equal(tree.insert(t, again, new Array(3 * P).fill(2)), 0);
    checkAll(pl, tree, [derived, exactPages, again]);
  });

  it('releases a superseded branch up to what other sequences share; never a locked one', async () => {
    const pl = pool(), tree = new RadixTree(pl);
    const shared = tokensOf(1, 2);
    const a = [...shared, ...tokensOf(3, 4)], b = [...shared, ...tokensOf(5, 6)], c = [...shared, ...tokensOf(7, 8)];
    const aPages = pagesOf(pl, 4), bPages = [...aPages.slice(0, 2), ...pagesOf(pl, 2)], cPages = [...aPages.slice(0, 2), ...pagesOf(pl, 2)];
    tree.insert(a, aPages, exact(a.length));
    tree.insert(b, bPages, [...exact(2 * P + 3), ...new Array(2 * P - 3).fill(1)]);
    tree.insert(c, cPages, [...exact(3 * P), ...new Array(P).fill(1)]);
    const lockedC = tree.matchPrefix(c, c.length, 1).node;
    tree.lock(lockedC);
    assert.equal(tree.releaseBranch(c), 0, 'a locked branch was released');
    tree.unlock(lockedC);
    assert.equal(tree.releaseBranch(tokensOf(1, 2, 5)), 0, 'a sequence that does not end at a leaf was released');
    assert.equal(tree.releaseBranch(b), 2);
    assert.equal(tree.size, 6);
    assert.equal(tree.releaseBranch(c), 2);
    assert.equal(tree.releaseBranch(a), 4, 'the last branch goes with the prefix it no longer shares');
    assert.equal(tree.size, 0);
    checkAll(pl, tree, [aPages, bPages.slice(2), cPages.slice(2)]);
  });

  it('evicts derived leaves before exact ones, each least recently used first', async () => {
    const pl = pool(), tree = new RadixTree(pl);
    const a = tokensOf(1), b = tokensOf(2), c = tokensOf(3);
    const pages = pagesOf(pl, 3);
    tree.insert(a, [pages[0]], exact(P));
    tree.insert(b, [pages[1]], new Array(P).fill(1));
    tree.insert(c, [pages[2]], exact(P));
    for (const p of pages) pl.decRef(p); // the tree holds them alone now
    tree.evict(1);
    assert.equal(tree.matchPrefix(b, P, 1).length, 0, 'the derived leaf was not evicted first');
    tree.evict(1);
    assert.equal(tree.matchPrefix(a).length, 0, 'the older exact leaf was not evicted next');
    assert.equal(tree.matchPrefix(c).length, P);
    checkAll(pl, tree, []);
  });

  it('the source of an edited prompt is the most recent sequence below the longest shared prefix', async () => {
    const pl = pool(), tree = new RadixTree(pl);
    const a = tokensOf(1, 2, 3), b = tokensOf(1, 2, 4), other = tokensOf(9, 2, 3);
    tree.insert(a, pagesOf(pl, 3), exact(3 * P));
    tree.insert(b, pagesOf(pl, 3), exact(3 * P));
    tree.insert(other, pagesOf(pl, 3), exact(3 * P));
    assert.deepEqual(tree.latestSequenceSharingPrefix(tokensOf(1, 2, 5))?.tokens, b);
    tree.matchPrefix(a); // a is used again
    assert.deepEqual(tree.latestSequenceSharingPrefix(tokensOf(1, 2, 5))?.tokens, a);
    assert.deepEqual(tree.latestSequenceSharingPrefix(tokensOf(1, 7))?.tokens, a);
    assert.equal(tree.latestSequenceSharingPrefix(tokensOf(8, 2, 3)), null, 'an unrelated sequence was offered');
  });
});
