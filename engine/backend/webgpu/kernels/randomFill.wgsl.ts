// Seeded random weights made on the GPU (the benchmark's V2-Lite-shaped model: 31 GB would not cross a PCIe bus in
// a benchmark's time, nor fit the host). Word w of the range gets values uniform in [-amplitude, amplitude] (std
// amplitude/√3) from a PCG hash of (seed, w): one f32, or two f16/bf16 halves. x (+ y) over words.
import type { DType } from '../../../weights/safetensors';

export function randomFillWgsl(dtype: DType): string {
  const encode = dtype === 'F32'
    ? 'bitcast<u32>(uniformValue(h0))'
    : dtype === 'F16'
      ? 'pack2x16float(vec2<f32>(uniformValue(h0), uniformValue(h1)))'
      : '(bitcast<u32>(uniformValue(h0)) >> 16u) | (bitcast<u32>(uniformValue(h1)) & 0xffff0000u)';
  return `struct Params { words: u32, wordOffset: u32, seed: u32, amplitude: f32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> W: array<u32>;
fn pcg(v: u32) -> u32 {
  let state = v * 747796405u + 2891336453u;
  let word = ((state >> ((state >> 28u) + 4u)) ^ state) * 277803737u;
  return (word >> 22u) ^ word;
}
fn uniformValue(h: u32) -> f32 { return (f32(h >> 8u) / 16777216.0 * 2.0 - 1.0) * p.amplitude; }
@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) g: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let w = g.x + g.y * nwg.x * 256u;
  if (w >= p.words) { return; }
  let h0 = pcg(pcg(w * 2u) ^ p.seed);
  let h1 = pcg(pcg(w * 2u + 1u) ^ p.seed);
  W[p.wordOffset + w] = ${encode};
}`;
}
