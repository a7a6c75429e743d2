// Element-wise ops over [count] contiguous floats: addInto (h += d) and siluMul (g = silu(g)·u), in place on the
// first operand. One thread per element, flat over x and y (256 per workgroup).
export const ADD_INTO_WGSL = `struct Params { count: u32, aOff: u32, bOff: u32, pad0: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> A: array<f32>;
@group(0) @binding(2) var<storage, read> B: array<f32>;
@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) g: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = g.x + g.y * nwg.x * 256u;
  if (i < p.count) { A[p.aOff + i] += B[p.bOff + i]; }
}`;

export const SILU_MUL_WGSL = `struct Params { count: u32, aOff: u32, bOff: u32, pad0: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> A: array<f32>;
@group(0) @binding(2) var<storage, read> B: array<f32>;
@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) g: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = g.x + g.y * nwg.x * 256u;
  if (i < p.count) { let x = A[p.aOff + i]; A[p.aOff + i] = (x / (1.0 + exp(-x))) * B[p.bOff + i]; }
}`;
