// DeepSeekMoE: a softmax router over the routed experts picks top-k per token (router.ts), and the output is
// Σ w_k·expert_k(x) plus the always-on shared experts. The routing stays in the backend's memory.
import type { Activation, Backend, Routing, RouterSpec } from '../backend/backend';
import { gatedMlp, MlpWeights } from './mlp';
import type { Tensor } from '../weights/tensor';

export interface MoeWeights {
  router: Tensor;
  experts: MlpWeights[];
  shared: MlpWeights | null;
}

/** [n, hidden] = MoE(x[n, hidden]), and the routing (for traces). */
export function moe(b: Backend, spec: RouterSpec, w: MoeWeights, x: Activation): { out: Activation; routing: Routing } {
  const routing = b.route(b.linear(x, w.router), spec);
  const out = b.routedExperts(x, routing, w.experts);
  if (w.shared) b.addInto(out, gatedMlp(b, w.shared, x));
  return { out, routing };
}
