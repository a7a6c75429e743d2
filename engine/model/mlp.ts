// The gated MLP of DeepSeek-V2 (dense layers, every expert, and the shared experts): down(silu(gate(x)) ⊙ up(x)).
import type { Backend } from '../backend/backend';
import type { Tensor } from '../weights/tensor';

export interface MlpWeights {
  gate: Tensor;
  up: Tensor;
  down: Tensor;
}

/** out[n, hidden] = mlp(x[n, hidden]). */
export function gatedMlp(backend: Backend, w: MlpWeights, x: Float32Array, n: number, out: Float32Array): void {
  const inter = w.gate.shape[0];
  const gate = new Float32Array(n * inter);
  const up = new Float32Array(n * inter);
  backend.matmul(gate, x, n, w.gate);
  backend.matmul(up, x, n, w.up);
  for (let i = 0; i < gate.length; i++) {
    const g = gate[i];
    gate[i] = (g / (1 + Math.exp(-g))) * up[i];
  }
  backend.matmul(out, gate, n, w.down);
}
