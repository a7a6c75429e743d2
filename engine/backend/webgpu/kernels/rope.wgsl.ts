// Interleaved RoPE, in place: per row j and head h < heads, v = x[j, h·stride + offset .. + 2·half) is read as
// pairs (v[2i], v[2i+1]) and written half-split: v'[i] = v[2i]·c − v[2i+1]·s, v'[half+i] = v[2i+1]·c + v[2i]·s,
// with c, s = cosSin[j] (uploaded: per row [cos (half) | sin (half)], computed on the host by the model's Rope, so
// the tables are the CPU's to the bit). Shapes: x [rows, xStride] from xOff; half ≤ 64. One workgroup per (j, h).
export const ROPE_WGSL = `struct Params { rows: u32, heads: u32, stride: u32, offset: u32, half: u32, xOff: u32, xStride: u32, tableOff: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> X: array<f32>;
@group(0) @binding(2) var<storage, read> U: array<u32>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) i: u32) {
  let pair = wid.x + wid.y * nwg.x;
  let j = pair / p.heads;
  let h = pair % p.heads;
  let live = j < p.rows && i < p.half;
  let base = p.xOff + j * p.xStride + h * p.stride + p.offset;
  var a = 0.0;
  var b = 0.0;
  var c = 0.0;
  var s = 0.0;
  if (live) {
    a = X[base + 2u * i];
    b = X[base + 2u * i + 1u];
    c = bitcast<f32>(U[p.tableOff + j * 2u * p.half + i]);
    s = bitcast<f32>(U[p.tableOff + j * 2u * p.half + p.half + i]);
  }
  // Every pair is read before any is written: the rotation is in place.
  workgroupBarrier();
  if (live) {
    X[base + i] = a * c - b * s;
    X[base + p.half + i] = b * c + a * s;
  }
}`;
