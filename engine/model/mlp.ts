// The gated MLP of DeepSeek-V2 (dense layers, every expert, and the shared experts): down(silu(gate(x)) ⊙ up(x)).
import type { Activation, Backend, ExpertWeights } from '../backend/backend';

export type MlpWeights = ExpertWeights;

/** [n, hidden] = mlp(x[n, hidden]). */
export function gatedMlp(b: Backend, w: MlpWeights, x: Activation): Activation {
  return b.linear(b.siluMul(b.linear(x, w.gate), b.linear(x, w.up)), w.down);
}
