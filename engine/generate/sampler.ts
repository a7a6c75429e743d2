// Picking the next token from logits: greedy at temperature 0, else temperature / top-k / top-p sampling from a
// seeded random stream (the same seed gives the same tokens).
import type { SamplingOptions } from '../api';
import { mulberry32 } from './seededRandom';

export function argmax(logits: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < logits.length; i++) if (logits[i] > logits[best]) best = i;
  return best;
}

export class Sampler {
  private readonly random: () => number;

  constructor(private readonly options: SamplingOptions) {
    this.random = mulberry32(options.seed ?? Math.floor(Math.random() * 2 ** 32));
  }

  sample(logits: Float32Array): number {
    const { temperature, topK, topP } = this.options;
    if (temperature <= 0) return argmax(logits);
    let ids = Array.from(logits.keys());
    ids.sort((a, b) => logits[b] - logits[a] || a - b);
    if (topK > 0 && topK < ids.length) ids = ids.slice(0, topK);
    const max = logits[ids[0]];
    let probs = ids.map((i) => Math.exp((logits[i] - max) / temperature));
    let sum = probs.reduce((a, b) => a + b, 0);
    if (topP < 1) {
      let acc = 0;
      let keep = 0;
      while (keep < probs.length && acc < topP * sum) acc += probs[keep++];
      ids = ids.slice(0, Math.max(1, keep));
      probs = probs.slice(0, ids.length);
      sum = probs.reduce((a, b) => a + b, 0);
    }
    let u = this.random() * sum;
    for (let i = 0; i < ids.length; i++) {
      u -= probs[i];
      if (u <= 0) return ids[i];
    }
    return ids[ids.length - 1];
  }
}
