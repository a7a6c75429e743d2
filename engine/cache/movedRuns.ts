// Edit-aware reuse, step one: find runs of the new prompt that the cache holds at another position (text was
// typed or deleted above them; in a FIM prompt the suffix shifts with every keystroke). Runs are whole cached
// pages; the new prompt may hold them at any offset.
import { PAGE_TOKENS } from './latentPool';
import { pageKey, PageRef, RadixTree } from './radixTree';

export interface MovedRun {
  /** Where the run starts in the new prompt. */
  start: number;
  /** Tokens in the run (a multiple of PAGE_TOKENS). */
  length: number;
  /** The cached pages, in order. */
  pages: PageRef[];
  /** Position of the run's first token in the cached sequence. */
  sourceStart: number;
}

/**
 * Greedy left-to-right search over tokens[from, until): at each position, the longest chain of cached pages
 * holding the following tokens; runs shorter than `minLength` are ignored.
 */
export function findMovedRuns(tree: RadixTree, tokens: readonly number[], from: number, until: number, minLength: number): MovedRun[] {
  const byContent = new Map<string, PageRef[]>();
  for (const ref of tree.pages()) {
    const key = ref.node.key.slice(ref.index * PAGE_TOKENS, (ref.index + 1) * PAGE_TOKENS).join(',');
    const list = byContent.get(key);
    if (list) list.push(ref);
    else byContent.set(key, [ref]);
  }
  const runs: MovedRun[] = [];
  let q = from;
  while (q + PAGE_TOKENS <= until) {
    const candidates = byContent.get(pageKey(tokens, q));
    let best: PageRef[] = [];
    for (const first of candidates ?? []) {
      const chain = [first];
      for (let at = q + PAGE_TOKENS; at + PAGE_TOKENS <= until; at += PAGE_TOKENS) {
        const next = tree.nextPage(chain[chain.length - 1], tokens, at);
        if (!next) break;
        chain.push(next);
      }
      if (chain.length > best.length) best = chain;
    }
    if (best.length * PAGE_TOKENS >= minLength) {
      const first = best[0];
      runs.push({ start: q, length: best.length * PAGE_TOKENS, pages: best, sourceStart: first.node.depth + first.index * PAGE_TOKENS });
      q += best.length * PAGE_TOKENS;
    } else {
      q++;
    }
  }
  return runs;
}
