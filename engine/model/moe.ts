// DeepSeekMoE: a softmax router over the routed experts picks top-k per token (greedy, or group-limited:
// groups scored by their best expert), and the output is Σ w_k·expert_k(x) plus the always-on shared experts.
import type { Backend } from '../backend/backend';
import type { DeepseekV2Config } from './config';
import { gatedMlp, MlpWeights } from './mlp';
import type { Tensor } from '../weights/tensor';

export interface MoeWeights {
  router: Tensor;
  experts: MlpWeights[];
  shared: MlpWeights | null;
}

export interface Routing {
  /** [n, topK] chosen expert ids. */
  experts: Int32Array;
  /** [n, topK] their weights after normalisation or scaling. */
  weights: Float32Array;
}

/** The router (MoEGate): which experts each token goes to, and with what weight. */
export function route(c: DeepseekV2Config, backend: Backend, router: Tensor, x: Float32Array, n: number): Routing {
  const E = c.nRoutedExperts!;
  const k = c.numExpertsPerTok;
  const logits = new Float32Array(n * E);
  backend.matmul(logits, x, n, router);
  const experts = new Int32Array(n * k);
  const weights = new Float32Array(n * k);
  const scores = new Float32Array(E);
  const order = Array.from({ length: E }, (_, i) => i);
  const groupSize = E / c.nGroup;
  for (let t = 0; t < n; t++) {
    // Softmax over all routed experts, in float32.
    let max = -Infinity;
    for (let e = 0; e < E; e++) max = Math.max(max, logits[t * E + e]);
    let sum = 0;
    for (let e = 0; e < E; e++) sum += scores[e] = Math.exp(logits[t * E + e] - max);
    for (let e = 0; e < E; e++) scores[e] = scores[e] / sum;

    let eligible = scores;
    if (c.topkMethod === 'group_limited_greedy') {
      const groupScore = Array.from({ length: c.nGroup }, (_, g) => {
        let m = -Infinity;
        for (let e = g * groupSize; e < (g + 1) * groupSize; e++) m = Math.max(m, scores[e]);
        return m;
      });
      const keptGroups = new Set(topIndices(groupScore, c.topkGroup));
      eligible = scores.map((s, e) => (keptGroups.has(Math.floor(e / groupSize)) ? s : 0));
    }
    order.sort((a, b) => eligible[b] - eligible[a] || a - b);
    let picked = 0;
    for (let j = 0; j < k; j++) {
      experts[t * k + j] = order[j];
      picked += weights[t * k + j] = scores[order[j]];
    }
    for (let j = 0; j < k; j++) {
      const w = weights[t * k + j];
      weights[t * k + j] = k > 1 && c.normTopkProb ? w / (picked + 1e-20) : w * c.routedScalingFactor;
    }
  }
  return { experts, weights };
}

function topIndices(values: number[], count: number): number[] {
  return values
    .map((v, i) => [v, i] as const)
    .sort((a, b) => b[0] - a[0] || a[1] - b[1])
    .slice(0, count)
    .map(([, i]) => i);
}

/** out[n, hidden] = MoE(x[n, hidden]); returns the routing for inspection. */
export function moe(c: DeepseekV2Config, backend: Backend, w: MoeWeights, x: Float32Array, n: number, out: Float32Array): Routing {
  const D = c.hiddenSize;
  const k = c.numExpertsPerTok;
  const routing = route(c, backend, w.router, x, n);
  // Group the tokens by expert so that each expert runs once, on all of its tokens.
  const tokensOf: number[][] = w.experts.map(() => []);
  const slotsOf: number[][] = w.experts.map(() => []);
  for (let t = 0; t < n; t++) {
    for (let j = 0; j < k; j++) {
      tokensOf[routing.experts[t * k + j]].push(t);
      slotsOf[routing.experts[t * k + j]].push(t * k + j);
    }
  }
  const routed = new Float32Array(n * D);
  for (let e = 0; e < w.experts.length; e++) {
    const tokens = tokensOf[e];
    if (tokens.length === 0) continue;
    const xe = new Float32Array(tokens.length * D);
    tokens.forEach((t, i) => xe.set(x.subarray(t * D, (t + 1) * D), i * D));
    const ye = new Float32Array(tokens.length * D);
    gatedMlp(backend, w.experts[e], xe, tokens.length, ye);
    tokens.forEach((t, i) => {
      const wt = routing.weights[slotsOf[e][i]];
      for (let d = 0; d < D; d++) routed[t * D + d] += ye[i * D + d] * wt;
    });
  }
  if (w.shared) {
    gatedMlp(backend, w.shared, x, n, out);
    for (let i = 0; i < out.length; i++) out[i] += routed[i];
  } else {
    out.set(routed);
  }
  return routing;
}
