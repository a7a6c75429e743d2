// The routed experts from the router's choices in GPU memory (no host round trip), in three kernels over the
// n·topK (token, slot) pairs; expert matrices come from stacks (gpuWeights.ts), experts [e0, e0 + count) per
// binding, and a dispatch skips pairs whose expert another slab holds.
// - gateUp: h[pair, i] = silu(gate_e[i]·x[t]) · (up_e[i]·x[t]), gate/up [inter, D]; h [pairs, inter].
// - down:   y[pair, d] = down_e[d]·h[pair], down [D, inter]; y [pairs, D].
// - combine: out[t, d] = Σ_k w[t, k]·y[t·topK + k, d]; out [n, D].
// Routing r [n, 2·topK]: ids (u32 bits) then weights. gateUp/down: a workgroup of 64 threads per (output row,
// pair) splits the dot product; x over rows, y (+ z) over pairs. Where K and the stack's stride are multiples of
// the read's vector width (4 f16 natively, 2 in a u32 word) weights load as vectors;
// f32 products and accumulation on every path.
import { f32Vector, vectorWidth, weightArray, weightDecode, WeightRead, weightEnable, weightVectorDecode } from './weightDecode.wgsl';

const EXPERT_PARAMS = `struct Params {
  pairs: u32, topK: u32, K: u32, N: u32,
  e0: u32, count: u32, stride: u32, xOff: u32,
  rOff: u32, outOff: u32, pad0: u32, pad1: u32,
}`;

/** WGSL `if (<vectors fit>) { <loop of V-wide steps> } else ` before a kernel's scalar loop (nothing for f32). */
function vectorLoop(read: WeightRead, body: (V: number) => string): string {
  const V = vectorWidth(read);
  if (V === 1) return '';
  return `if (p.K % ${V}u == 0u && p.stride % ${V}u == 0u) {
      for (var k = ${V}u * t; k < p.K; k += ${64 * V}u) {
        ${body(V)}
      }
    } else `;
}

export function expertGateUpWgsl(read: WeightRead): string {
  const vectors = vectorLoop(read, (V) => `let xk = p.xOff + token * p.K + k;
        let xv = ${f32Vector('X', 'xk', V)};
        g += dot(xv, gateVec(wRow + k));
        u += dot(xv, upVec(wRow + k));`);
  return `${weightEnable(read)}
${EXPERT_PARAMS}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> X: array<f32>;
@group(0) @binding(2) var<storage, read> R: array<f32>;
@group(0) @binding(3) var<storage, read> G: ${weightArray(read)};
@group(0) @binding(4) var<storage, read> Up: ${weightArray(read)};
@group(0) @binding(5) var<storage, read_write> O: array<f32>;
${weightDecode(read, 'gate', 'G')}
${weightDecode(read, 'up', 'Up')}
${weightVectorDecode(read, 'gateVec', 'G')}
${weightVectorDecode(read, 'upVec', 'Up')}
var<workgroup> partG: array<f32, 64>;
var<workgroup> partU: array<f32, 64>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) t: u32) {
  let i = wid.x;
  let pair = wid.y + wid.z * 65535u;
  if (pair >= p.pairs || i >= p.N) { return; }
  let token = pair / p.topK;
  let slot = pair % p.topK;
  let e = bitcast<u32>(R[p.rOff + token * 2u * p.topK + slot]);
  let mine = e >= p.e0 && e < p.e0 + p.count;
  var g = 0.0;
  var u = 0.0;
  if (mine) {
    let wRow = (e - p.e0) * p.stride + i * p.K;
    ${vectors}{
      for (var k = t; k < p.K; k += 64u) {
        let xv = X[p.xOff + token * p.K + k];
        g += xv * gate(wRow + k);
        u += xv * up(wRow + k);
      }
    }
  }
  partG[t] = g;
  partU[t] = u;
  workgroupBarrier();
  for (var s = 32u; s > 0u; s >>= 1u) {
    if (t < s) { partG[t] += partG[t + s]; partU[t] += partU[t + s]; }
    workgroupBarrier();
  }
  if (mine && t == 0u) {
    let gv = partG[0];
    O[p.outOff + pair * p.N + i] = (gv / (1.0 + exp(-gv))) * partU[0];
  }
}`;
}

export function expertDownWgsl(read: WeightRead): string {
  const vectors = vectorLoop(read, (V) => `let hk = p.xOff + pair * p.K + k;
        acc += dot(${f32Vector('H', 'hk', V)}, downVec(wRow + k));`);
  return `${weightEnable(read)}
${EXPERT_PARAMS}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> H: array<f32>;
@group(0) @binding(2) var<storage, read> R: array<f32>;
@group(0) @binding(3) var<storage, read> Dn: ${weightArray(read)};
@group(0) @binding(4) var<storage, read_write> O: array<f32>;
${weightDecode(read, 'down', 'Dn')}
${weightVectorDecode(read, 'downVec', 'Dn')}
var<workgroup> part: array<f32, 64>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) t: u32) {
  let d = wid.x;
  let pair = wid.y + wid.z * 65535u;
  if (pair >= p.pairs || d >= p.N) { return; }
  let token = pair / p.topK;
  let slot = pair % p.topK;
  let e = bitcast<u32>(R[p.rOff + token * 2u * p.topK + slot]);
  let mine = e >= p.e0 && e < p.e0 + p.count;
  var acc = 0.0;
  if (mine) {
    let wRow = (e - p.e0) * p.stride + d * p.K;
    ${vectors}{
      for (var k = t; k < p.K; k += 64u) { acc += H[p.xOff + pair * p.K + k] * down(wRow + k); }
    }
  }
  part[t] = acc;
  workgroupBarrier();
  for (var s = 32u; s > 0u; s >>= 1u) {
    if (t < s) { part[t] += part[t + s]; }
    workgroupBarrier();
  }
  if (mine && t == 0u) { O[p.outOff + pair * p.N + d] = part[0]; }
}`;
}

export const EXPERT_COMBINE_WGSL = `struct Params { n: u32, topK: u32, D: u32, yOff: u32, rOff: u32, outOff: u32, pad0: u32, pad1: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> Y: array<f32>;
@group(0) @binding(2) var<storage, read> R: array<f32>;
@group(0) @binding(3) var<storage, read_write> O: array<f32>;
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) g: vec3<u32>) {
  let d = g.x;
  let t = g.y + g.z * 65535u;
  if (d >= p.D || t >= p.n) { return; }
  var acc = 0.0;
  for (var k = 0u; k < p.topK; k++) {
    acc += R[p.rOff + t * 2u * p.topK + p.topK + k] * Y[p.yOff + (t * p.topK + k) * p.D + d];
  }
  O[p.outOff + t * p.D + d] = acc;
}`;
