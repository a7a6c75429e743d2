// DeepSeekMoE's router (MoEGate) on host floats: softmax over the routed experts' logits, then top-k per token
// (greedy, or group-limited: groups scored by their best expert, only the best topk_group groups eligible), with
// the chosen weights normalised or scaled. The CPU backend runs this; other backends reproduce it.
import type { RouterSpec } from '../backend/backend';
import type { DeepseekV2Config } from './config';

export function routerSpec(c: DeepseekV2Config): RouterSpec {
  return {
    topK: c.numExpertsPerTok,
    method: c.topkMethod,
    nGroup: c.nGroup,
    topkGroup: c.topkGroup,
    normTopkProb: c.normTopkProb,
    routedScalingFactor: c.routedScalingFactor,
  };
}

/** logits [n, E] -> per token the chosen experts [n, topK] and their weights [n, topK]. */
export function routeTokens(logits: Float32Array, n: number, E: number, spec: RouterSpec): { experts: Int32Array; weights: Float32Array } {
  const k = spec.topK;
  const experts = new Int32Array(n * k);
  const weights = new Float32Array(n * k);
  const scores = new Float32Array(E);
  const groupSize = E / spec.nGroup;
  for (let t = 0; t < n; t++) {
    // Softmax over all routed experts, in float32.
    let max = -Infinity;
    for (let e = 0; e < E; e++) max = Math.max(max, logits[t * E + e]);
    let sum = 0;
    for (let e = 0; e < E; e++) sum += scores[e] = Math.exp(logits[t * E + e] - max);
    for (let e = 0; e < E; e++) scores[e] = scores[e] / sum;

    let eligible = scores;
    if (spec.method === 'group_limited_greedy') {
      const groupScore = Array.from({ length: spec.nGroup }, (_, g) => {
        let m = -Infinity;
        for (let e = g * groupSize; e < (g + 1) * groupSize; e++) m = Math.max(m, scores[e]);
        return m;
      });
      const keptGroups = new Set(topIndices(groupScore, spec.topkGroup));
      eligible = scores.map((s, e) => (keptGroups.has(Math.floor(e / groupSize)) ? s : 0));
    }
    const best = topIndices(eligible, k);
    let picked = 0;
    for (let j = 0; j < k; j++) {
      experts[t * k + j] = best[j];
      picked += weights[t * k + j] = scores[best[j]];
    }
    for (let j = 0; j < k; j++) {
      const w = weights[t * k + j];
      weights[t * k + j] = k > 1 && spec.normTopkProb ? w / (picked + 1e-20) : w * spec.routedScalingFactor;
    }
  }
  return { experts, weights };
}

/** The indices of the `count` largest values, best first, ties to the lower index (a selection: k is 6 of 64 or 160). */
function topIndices(values: ArrayLike<number>, count: number): number[] {
  const taken = new Uint8Array(values.length);
  const out: number[] = [];
  for (let j = 0; j < count; j++) {
    let best = -1;
    for (let i = 0; i < values.length; i++) if (!taken[i] && (best < 0 || values[i] > values[best])) best = i;
    taken[best] = 1;
    out.push(best);
  }
  return out;
}
