// Edit-aware reuse, step one: which tokens of a new prompt can take their latents from the cached sequence it was
// edited from, and which must be computed. The prompt is aligned with that one sequence by a token diff; of each
// aligned run the first k tokens are recomputed (they see a new left context: the EPIC recipe) and the rest are
// copied, re-positioned. Everything else (the edit itself, typed or pasted) is computed.
import type { CachedSequence } from './radixTree';
import { alignTokens } from './tokenDiff';

/**
 * Tokens reused per moved run at the least: shorter runs are computed (a stray match inside new text is not reuse).
 * The rest of the shared prefix is taken whatever its length: it has not moved.
 */
export const MIN_REUSED_TOKENS = 16;

export interface MovedRun {
  /** Where the copied tokens start in the new prompt. */
  start: number;
  /** Where they are in the cached sequence. */
  sourceStart: number;
  count: number;
  /**
   * Added to each source token's distance: 1 for a re-positioned run; 0 for the rest of the shared prefix, whose
   * tokens see the very same left context at the same positions (their latents are as exact as the source's).
   */
  distanceStep: 0 | 1;
}

export interface Alignment {
  /** What to copy, in prompt order. */
  runs: MovedRun[];
  /** Source tokens past the shared prefix. */
  sourceTokensPastPrefix: number;
  /**
   * Of those, the ones the diff matched with the prompt (copied or not): most of them when the prompt is an edit of
   * the source, few when it only shares a preamble with it (another document).
   */
  alignedPastPrefix: number;
}

/**
 * The runs of prompt[from, until) to copy from `source` under reuse:k, where no copied token may end up more than
 * `maxDistance` re-positionings from exact.
 */
export function findMovedRuns(source: CachedSequence, prompt: readonly number[], from: number, until: number,
  k: number, maxDistance: number): Alignment {
  const runs: MovedRun[] = [];
  let alignedPastPrefix = 0, prefix = 0;
  for (const aligned of alignTokens(source.tokens, prompt.slice(0, until))) {
    const sharedPrefix = aligned.oldStart === 0 && aligned.newStart === 0;
    if (sharedPrefix) prefix = aligned.length;
    else alignedPastPrefix += aligned.length;
    const step = sharedPrefix ? 0 : 1;
    // Clip to [from, until).
    const skip = Math.max(0, from - aligned.newStart);
    let segment = -1;
    const close = (end: number) => {
      if (segment < 0) return;
      const copyFrom = sharedPrefix ? segment : segment + k;
      if (end - copyFrom >= (sharedPrefix ? 1 : MIN_REUSED_TOKENS)) {
        runs.push({ start: copyFrom, sourceStart: aligned.oldStart + (copyFrom - aligned.newStart), count: end - copyFrom, distanceStep: step });
      }
      segment = -1;
    };
    for (let i = skip; i < aligned.length; i++) {
      const withinBound = source.distances[aligned.oldStart + i] + step <= maxDistance;
      if (withinBound && segment < 0) segment = aligned.newStart + i;
      if (!withinBound) close(aligned.newStart + i);
    }
    close(aligned.newStart + aligned.length);
  }
  return { runs, sourceTokensPastPrefix: source.tokens.length - prefix, alignedPastPrefix };
}
