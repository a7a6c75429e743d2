// One chunk of a random checkpoint: CHUNK_ELEMENTS (or fewer) values of one tensor, drawn from that chunk's own
// stream and encoded in the file dtype. Pure, so that worker threads can draw chunks in any order.
import { encodeBf16, encodeF16 } from './halfPrecision';
import type { FloatDType } from './ggmlTypes';
import { NormalStream } from './seededNormal';

/** Elements drawn per PRNG stream: part of what a seed means, so never change it. */
export const CHUNK_ELEMENTS = 1 << 20;

export interface ChunkJob {
  /** The stream's key: seed words, tensor name hash, chunk index. */
  key: number[];
  count: number;
  mean: number;
  std: number;
  dtype: FloatDType;
}

/** The chunk's bytes, little-endian as safetensors stores them (a fresh buffer, safe to transfer). */
export function drawChunk(job: ChunkJob, scratch?: Float32Array): Uint8Array {
  const values = scratch && scratch.length >= job.count ? scratch.subarray(0, job.count) : new Float32Array(job.count);
  new NormalStream(job.key).fill(values, job.mean, job.std);
  if (job.dtype === 'F32') return new Uint8Array(values.slice().buffer);
  const out = new Uint16Array(job.count);
  if (job.dtype === 'F16') encodeF16(values, out);
  else encodeBf16(values, out);
  return new Uint8Array(out.buffer);
}
