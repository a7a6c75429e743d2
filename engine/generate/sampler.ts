// Picking the next token from logits: greedy at temperature 0, else temperature / top-k / top-p sampling from a
// seeded random stream (the same seed gives the same tokens). `pickToken` is the host's definition of a
// SamplingPick (backend/backend.ts); a backend that samples on the device (Backend.sampleRows) picks the same token.
import type { SamplingOptions } from '../api';
import type { SamplingPick } from '../backend/backend';
import { mulberry32 } from './seededRandom';

/** The index of the largest value, ties to the lowest. */
export function argmax(logits: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < logits.length; i++) if (logits[i] > logits[best]) best = i;
  return best;
}

/**
 * The tokens a pick (temperature > 0) samples from, in rank order (logit descending, ties to the lower id), with
 * their unnormalised probabilities exp((logit - max) / temperature): the first topK of the ranking, then the shortest
 * prefix of those whose probabilities sum to at least topP of theirs (at least one).
 */
export function keptTokens(logits: Float32Array, pick: Omit<SamplingPick, 'u'>): { ids: number[]; probs: number[] } {
  const { temperature, topK, topP } = pick;
  let ids = Array.from(logits.keys());
  ids.sort((a, b) => logits[b] - logits[a] || a - b);
  if (topK > 0 && topK < ids.length) ids = ids.slice(0, topK);
  const max = logits[ids[0]];
  let probs = ids.map((i) => Math.exp((logits[i] - max) / temperature));
  if (topP < 1) {
    const target = topP * probs.reduce((a, b) => a + b, 0);
    let acc = 0;
    let keep = 0;
    while (keep < probs.length && acc < target) acc += probs[keep++];
    ids = ids.slice(0, Math.max(1, keep));
    probs = probs.slice(0, ids.length);
  }
  return { ids, probs };
}

/** The token `pick` takes from `logits` (SamplingPick in backend/backend.ts states the rule). */
export function pickToken(logits: Float32Array, pick: SamplingPick): number {
  if (pick.temperature <= 0) return argmax(logits);
  const { ids, probs } = keptTokens(logits, pick);
  // The kept tokens are walked in id order, not rank order: the distribution is the same, and id order is what a
  // GPU reproduces with a prefix sum (no sort), so both pick the same token for the same u.
  const byId = ids.map((_, j) => j).sort((a, b) => ids[a] - ids[b]);
  let u = pick.u * probs.reduce((a, b) => a + b, 0);
  let last = byId[0];
  for (const j of byId) {
    if (probs[j] <= 0) continue;
    last = j;
    u -= probs[j];
    if (u < 0) return ids[j];
  }
  return ids[last];
}

export class Sampler {
  private readonly random: () => number;

  constructor(private readonly options: SamplingOptions) {
    this.random = mulberry32(options.seed ?? Math.floor(Math.random() * 2 ** 32));
  }

  /** The next token's pick: the options and one draw of the stream (none when greedy). */
  nextPick(): SamplingPick {
    const { temperature, topK, topP } = this.options;
    return { temperature, topK, topP, u: temperature > 0 ? this.random() : 0 };
  }

  sample(logits: Float32Array): number {
    return pickToken(logits, this.nextPick());
  }
}
