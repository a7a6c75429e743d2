// The routed experts of a prefill as grouped GEMMs: the (token, slot) pairs are sorted by expert on the GPU
// (expertSort: one invocation counts, prefix-sums and scatters the n·topK pairs: L = [offsets (E+1) | fill (E) |
// pairs by expert]), then per expert e a tiled GEMM over the rows of its pairs, weights read once per 64 rows
// instead of once per pair (routedExperts.wgsl.ts's GEMVs, kept for decode). Same contracts as those kernels:
// - gateUp: h[pair, i] = silu(gate_e[i]·x[token]) · (up_e[i]·x[token]), x [n, D], h [pairs, inter];
// - down:   y[pair, d] = down_e[d]·h[pair], y [pairs, D].
// Dispatch: x = ceil(N/64), y = ceil(n/64) (an expert has at most n pairs), z = experts of this slab. Tiles as
// gemm.wgsl.ts (16x16 threads, 4x4 outputs each, k in 16-wide blocks; weights read as there, f32 products and
// accumulation).
import { weightArray, weightDecode, WeightRead, weightEnable } from './weightDecode.wgsl';

export const EXPERT_SORT_WGSL = `struct Params { pairs: u32, topK: u32, E: u32, rOff: u32, lOff: u32, pad0: u32, pad1: u32, pad2: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> R: array<f32>;
@group(0) @binding(2) var<storage, read_write> L: array<u32>;
fn expertOf(pair: u32) -> u32 { return bitcast<u32>(R[p.rOff + (pair / p.topK) * 2u * p.topK + pair % p.topK]); }
@compute @workgroup_size(1)
fn main() {
  let fill = p.lOff + p.E + 1u;
  let list = fill + p.E;
  for (var e = 0u; e <= p.E; e++) { L[p.lOff + e] = 0u; }
  for (var e = 0u; e < p.E; e++) { L[fill + e] = 0u; }
  for (var q = 0u; q < p.pairs; q++) { let e = expertOf(q); L[p.lOff + e + 1u] += 1u; }
  for (var e = 0u; e < p.E; e++) { L[p.lOff + e + 1u] += L[p.lOff + e]; }
  for (var q = 0u; q < p.pairs; q++) {
    let e = expertOf(q);
    L[list + L[p.lOff + e] + L[fill + e]] = q;
    L[fill + e] += 1u;
  }
}`;

const GROUPED_PARAMS = `struct Params {
  pairs: u32, topK: u32, K: u32, N: u32,
  e0: u32, E: u32, stride: u32, xOff: u32,
  lOff: u32, outOff: u32, pad0: u32, pad1: u32,
}`;

function groupedWgsl(read: WeightRead, gateUp: boolean): string {
  const array = weightArray(read);
  const weights = gateUp
    ? `@group(0) @binding(3) var<storage, read> G: ${array};
@group(0) @binding(4) var<storage, read> Up: ${array};
@group(0) @binding(5) var<storage, read_write> O: array<f32>;
${weightDecode(read, 'wa', 'G')}
${weightDecode(read, 'wb', 'Up')}`
    : `@group(0) @binding(3) var<storage, read> Dn: ${array};
@group(0) @binding(4) var<storage, read_write> O: array<f32>;
${weightDecode(read, 'wa', 'Dn')}`;
  // gateUp reads x by the pair's token, down reads h by the pair itself.
  const aRow = gateUp ? '(pair / p.topK)' : 'pair';
  return `${weightEnable(read)}
${GROUPED_PARAMS}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> A: array<f32>;
@group(0) @binding(2) var<storage, read> L: array<u32>;
${weights}
var<workgroup> xs: array<array<f32, 17>, 64>;
var<workgroup> as_: array<array<f32, 17>, 64>;
${gateUp ? 'var<workgroup> bs: array<array<f32, 17>, 64>;' : ''}
var<workgroup> rowPair: array<u32, 64>;
var<workgroup> rowsOfExpert: u32;

@compute @workgroup_size(16, 16)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let t = lid.y * 16u + lid.x;
  let e = p.e0 + wid.z;
  let first = L[p.lOff + e];
  if (t == 0u) { rowsOfExpert = L[p.lOff + e + 1u] - first; }
  let rows = workgroupUniformLoad(&rowsOfExpert);
  let r0 = wid.y * 64u;
  if (r0 >= rows) { return; }
  let list = p.lOff + 2u * p.E + 1u;
  if (t < 64u) { rowPair[t] = select(0xffffffffu, L[list + first + r0 + t], r0 + t < rows); }
  workgroupBarrier();
  let n0 = wid.x * 64u;
  let wBase = wid.z * p.stride;
  var acc = array<array<f32, 4>, 4>();
  ${gateUp ? 'var accB = array<array<f32, 4>, 4>();' : ''}
  for (var k0 = 0u; k0 < p.K; k0 += 16u) {
    for (var i = 0u; i < 4u; i++) {
      let el = t + i * 256u;
      let r = el / 16u;
      let c = el % 16u;
      let k = k0 + c;
      let pair = rowPair[r];
      var xv = 0.0;
      if (pair != 0xffffffffu && k < p.K) { xv = A[p.xOff + ${aRow} * p.K + k]; }
      xs[r][c] = xv;
      var av = 0.0;
      ${gateUp ? 'var bv = 0.0;' : ''}
      if (n0 + r < p.N && k < p.K) {
        av = wa(wBase + (n0 + r) * p.K + k);
        ${gateUp ? 'bv = wb(wBase + (n0 + r) * p.K + k);' : ''}
      }
      as_[r][c] = av;
      ${gateUp ? 'bs[r][c] = bv;' : ''}
    }
    workgroupBarrier();
    var tile = array<array<f32, 4>, 4>();
    ${gateUp ? 'var tileB = array<array<f32, 4>, 4>();' : ''}
    for (var c = 0u; c < 16u; c++) {
      for (var i = 0u; i < 4u; i++) {
        let xv = xs[lid.y + i * 16u][c];
        for (var j = 0u; j < 4u; j++) {
          tile[i][j] += xv * as_[lid.x + j * 16u][c];
          ${gateUp ? 'tileB[i][j] += xv * bs[lid.x + j * 16u][c];' : ''}
        }
      }
    }
    for (var i = 0u; i < 4u; i++) {
      for (var j = 0u; j < 4u; j++) {
        acc[i][j] += tile[i][j];
        ${gateUp ? 'accB[i][j] += tileB[i][j];' : ''}
      }
    }
    workgroupBarrier();
  }
  for (var i = 0u; i < 4u; i++) {
    let pair = rowPair[lid.y + i * 16u];
    if (pair == 0xffffffffu) { continue; }
    for (var j = 0u; j < 4u; j++) {
      let n = n0 + lid.x + j * 16u;
      if (n < p.N) {
        ${gateUp ? 'let g = acc[i][j]; O[p.outOff + pair * p.N + n] = (g / (1.0 + exp(-g))) * accB[i][j];' : 'O[p.outOff + pair * p.N + n] = acc[i][j];'}
      }
    }
  }
}`;
}

export const groupedGateUpWgsl = (read: WeightRead): string => groupedWgsl(read, true);
export const groupedDownWgsl = (read: WeightRead): string => groupedWgsl(read, false);
