// The seam between the model and the hardware. The model (engine/model/) is written once against this
// interface; each backend (cpu here; webgpu next) implements the heavy operations its own way.
import type { Tensor } from '../weights/tensor';

export interface Backend {
  readonly name: string;
  /** out[n, rows] = x[n, cols] · Wᵀ for a weight W of shape [rows, cols] (any stored dtype). */
  matmul(out: Float32Array, x: Float32Array, n: number, w: Tensor): void;
  /** Releases threads and device memory. */
  dispose(): void;
}
