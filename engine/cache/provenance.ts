// Provenance of cached latents. A token's latents are exact (computed with its true left context: distance 0) or
// derived: re-positioned from another prompt (its source's distance + 1), or computed after derived latents (the
// largest distance it attended to). Since every token attends to all before it, a derived token makes every later
// token of its sequence derived: along a sequence, exact tokens come first. `exact` reuse takes distance 0 only;
// a reuse policy bounds the distance it accepts, which bounds how far drift can compound over an editing session.
export const EXACT = 0;

/** The largest distance in distances[from, to) (EXACT for an empty range). */
export function maxDistance(distances: readonly number[], from = 0, to = distances.length): number {
  let max = EXACT;
  for (let i = from; i < to; i++) if (distances[i] > max) max = distances[i];
  return max;
}
