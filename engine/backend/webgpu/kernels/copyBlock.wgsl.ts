// Copies a [rows, width] block: out[j, i] = x[j·xStride + i] (from xOff) to out[outOff + j·outStride + i]. Serves
// sliceCols (a column range into a dense activation) and concatRows (each part into its rows). x over i, y over j.
export const COPY_BLOCK_WGSL = `struct Params { rows: u32, width: u32, xOff: u32, xStride: u32, outOff: u32, outStride: u32, pad0: u32, pad1: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> X: array<f32>;
@group(0) @binding(2) var<storage, read_write> O: array<f32>;
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) g: vec3<u32>) {
  let i = g.x;
  let j = g.y + g.z * 65535u;
  if (i < p.width && j < p.rows) { O[p.outOff + j * p.outStride + i] = X[p.xOff + j * p.xStride + i]; }
}`;
