// RMSNorm: out[j, i] = weight[i]·(x[j, offset + i] / sqrt(mean_i(x[j, offset + i]²) + eps)).
// Shapes: x [rows, xStride] (from xOff), weight [width] of any dtype, out [rows, width]. One workgroup of 64
// threads per row (flat over x, y): the sum of squares is reduced in workgroup memory.
import { FLAT_WORKGROUP, weightArray, weightDecode, WeightRead, weightEnable } from './weightDecode.wgsl';

export function rmsNormWgsl(read: WeightRead): string {
  return `${weightEnable(read)}
struct Params { rows: u32, width: u32, xOff: u32, xStride: u32, outOff: u32, eps: f32, pad0: u32, pad1: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> X: array<f32>;
@group(0) @binding(2) var<storage, read> Wt: ${weightArray(read)};
@group(0) @binding(3) var<storage, read_write> O: array<f32>;
${weightDecode(read, 'weight', 'Wt')}
${FLAT_WORKGROUP}
var<workgroup> part: array<f32, 64>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) t: u32) {
  let j = flatWorkgroup(wid, nwg);
  let live = j < p.rows;
  let xo = p.xOff + j * p.xStride;
  var ss = 0.0;
  if (live) { for (var i = t; i < p.width; i += 64u) { let v = X[xo + i]; ss += v * v; } }
  part[t] = ss;
  workgroupBarrier();
  for (var s = 32u; s > 0u; s >>= 1u) {
    if (t < s) { part[t] += part[t + s]; }
    workgroupBarrier();
  }
  if (!live) { return; }
  let inv = 1.0 / sqrt(part[0] / f32(p.width) + p.eps);
  for (var i = t; i < p.width; i += 64u) { O[p.outOff + j * p.width + i] = weight(i) * (X[xo + i] * inv); }
}`;
}
