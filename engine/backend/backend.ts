// The seam between the model and the hardware. The model (engine/model/) is written once against this
// interface; each backend (cpu here; webgpu next) implements the heavy operations its own way.
import type { Tensor } from '../weights/tensor';

export interface Backend {
  readonly name: string;
  /**
   * Takes a weight into the memory the backend computes from (device memory for a GPU, kernel-visible memory
   * for the CPU), once, at load; the model uses the returned tensor from then on. May return `w` itself.
   */
  adoptWeight(w: Tensor): Tensor;
  /** out[n, rows] = x[n, cols] · Wᵀ for a weight W of shape [rows, cols] (any stored dtype). */
  matmul(out: Float32Array, x: Float32Array, n: number, w: Tensor): void;
  /** Releases threads and device memory. */
  dispose(): void;
}
