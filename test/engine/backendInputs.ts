// Random weights and activations for the backend conformance tests: inputs enter every backend the same way, as
// rows of an embedding table (the seam has no other way in).
import type { Activation, Backend } from '../../engine/backend/backend';
import { signedUniform } from '../../engine/generate/seededRandom';
import { isQuantised } from '../../engine/weights/ggmlTypes';
import { quantiseRow } from '../../engine/weights/quantise';
import type { DType } from '../../engine/weights/safetensors';
import { allocateTensor, Tensor, writeF32 } from '../../engine/weights/tensor';

/** A tensor of seeded values uniform in [-scale, scale), rounded (or block-quantised) to `dtype`. */
export function randomTensor(name: string, dtype: DType, shape: number[], seed: number, scale = 1): Tensor {
  const { tensor, bytes } = allocateTensor(name, dtype, shape);
  const rand = signedUniform(seed);
  const values = Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => rand() * scale);
  if (isQuantised(dtype)) quantiseRow(dtype, values, bytes);
  else writeF32(tensor, values);
  return tensor;
}

/** The same random [rows, cols] activation in each backend (rows of an embedding table). */
export function inputs(backends: Backend[], rows: number, cols: number, seed: number, scale = 1): Activation[] {
  const table = randomTensor(`x${seed}`, 'F32', [rows, cols], seed, scale);
  const ids = Int32Array.from({ length: rows }, (_, i) => i);
  return backends.map((b) => b.embed(b.adoptWeight(table), ids));
}
