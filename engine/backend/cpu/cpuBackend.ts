// The CPU backend: exact fp32 arithmetic (accumulated in double), the oracle for every other backend.
import type { Backend } from '../backend';
import type { Tensor } from '../../weights/tensor';
import { matmulRows } from './matmulKernel';

export class CpuBackend implements Backend {
  readonly name = 'cpu';

  matmul(out: Float32Array, x: Float32Array, n: number, w: Tensor): void {
    matmulRows(out, x, n, w, 0, w.shape[0]);
  }

  dispose(): void {}
}
