// Embedding gather: out[t, d] = table[ids[t], d]. Shapes: table [vocab, D] of any dtype (rows [row0, row0 + rows)
// of it in this binding, for tables split across bindings), ids [n] (u32, in the upload buffer at idsOff),
// out [n, D]. Tokens outside this part of the table are left alone. One thread per (d, t): x over D, y over t.
import { weightArray, weightDecode, WeightRead, weightEnable } from './weightDecode.wgsl';

export function embedWgsl(read: WeightRead): string {
  return `${weightEnable(read)}
struct Params { n: u32, D: u32, row0: u32, rows: u32, idsOff: u32, outOff: u32, pad0: u32, pad1: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> T: ${weightArray(read)};
@group(0) @binding(2) var<storage, read> U: array<u32>;
@group(0) @binding(3) var<storage, read_write> O: array<f32>;
${weightDecode(read, 'table', 'T')}

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) g: vec3<u32>) {
  let d = g.x;
  let t = g.y + g.z * 65535u;
  if (d >= p.D || t >= p.n) { return; }
  let id = U[p.idsOff + t];
  if (id < p.row0 || id >= p.row0 + p.rows) { return; }
  O[p.outOff + t * p.D + d] = table((id - p.row0) * p.D + d);
}`;
}
