// Merges flash-decoding partials: for query row q with chunks i (max m_i, sum l_i, acc_i [width]),
// out[q, d] = Σ_i acc_i[d]·e^(m_i − M) / Σ_i l_i·e^(m_i − M), M = max_i m_i (empty chunks carry l = 0, m = −1e30).
// Shapes: part [rows·splits, width + 2] from partOff; out [rows, width] from outOff. One workgroup per row.
import { PRECISE_EXP } from './preciseExp.wgsl';
export const ATTENTION_COMBINE_WGSL = `struct Params { rows: u32, splits: u32, width: u32, partOff: u32, outOff: u32, pad0: u32, pad1: u32, pad2: u32 }
@group(0) @binding(0) var<uniform> p: Params;
${PRECISE_EXP}
@group(0) @binding(1) var<storage, read> P: array<f32>;
@group(0) @binding(2) var<storage, read_write> O: array<f32>;
@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) t: u32) {
  let q = wid.x + wid.y * nwg.x;
  if (q >= p.rows) { return; }
  let stride = p.width + 2u;
  let first = p.partOff + q * p.splits * stride;
  var M = -1e30;
  for (var i = 0u; i < p.splits; i++) { M = max(M, P[first + i * stride]); }
  var L = 0.0;
  for (var i = 0u; i < p.splits; i++) { L += P[first + i * stride + 1u] * preciseExp(P[first + i * stride] - M); }
  for (var d = t; d < p.width; d += 64u) {
    var a = 0.0;
    for (var i = 0u; i < p.splits; i++) { a += P[first + i * stride + 2u + d] * preciseExp(P[first + i * stride] - M); }
    O[p.outOff + q * p.width + d] = a / L;
  }
}`;
