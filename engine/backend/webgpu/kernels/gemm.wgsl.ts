// Tiled GEMM for prefill: out[m, n] = Σ_k x[m, k]·W[n, k], the same contract and Params as gemv.wgsl.ts, for any M.
// A workgroup of 16x16 threads computes a 64x64 tile of out (4x4 per thread), staging 64x16 tiles of x and W in
// workgroup memory. Dispatch: x = ceil(N/64), y = ceil(M/64), z = heads. Weights enter the tile as f32 (natively
// read f16 converted one by one, weightDecode.wgsl.ts); f32 products and accumulation on every path.
import { LINEAR_PARAMS } from './gemv.wgsl';
import { weightArray, weightDecode, WeightRead, weightEnable } from './weightDecode.wgsl';

export const GEMM_TILE = 64;

export function gemmWgsl(read: WeightRead): string {
  return `${weightEnable(read)}
${LINEAR_PARAMS}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> X: array<f32>;
@group(0) @binding(2) var<storage, read> W: ${weightArray(read)};
@group(0) @binding(3) var<storage, read_write> O: array<f32>;
${weightDecode(read, 'w', 'W')}
var<workgroup> xs: array<array<f32, 17>, 64>;
var<workgroup> ws: array<array<f32, 17>, 64>;

@compute @workgroup_size(16, 16)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let head = p.head0 + wid.z;
  let m0 = wid.y * 64u;
  let n0 = wid.x * 64u;
  let t = lid.y * 16u + lid.x;
  let xBase = p.xOff + head * p.xHeadStride;
  let wBase = wid.z * p.wHeadElems;
  var acc = array<array<f32, 4>, 4>();
  for (var k0 = 0u; k0 < p.K; k0 += 16u) {
    // 256 threads load 64x16 of x and of W, 4 values each.
    for (var i = 0u; i < 4u; i++) {
      let e = t + i * 256u;
      let r = e / 16u;
      let c = e % 16u;
      let k = k0 + c;
      var xv = 0.0;
      if (m0 + r < p.M && k < p.K) { xv = X[xBase + (m0 + r) * p.xStride + k]; }
      xs[r][c] = xv;
      var wv = 0.0;
      if (n0 + r < p.N && k < p.K) { wv = w(wBase + (n0 + r) * p.K + k); }
      ws[r][c] = wv;
    }
    workgroupBarrier();
    // Blocked summation: each 16-wide k tile is summed on its own, then added, so rounding grows with K/16 + 16
    // rather than K (absorbed and naive attention then agree to 1e-5 on the fixtures, as on the CPU).
    var tile = array<array<f32, 4>, 4>();
    for (var c = 0u; c < 16u; c++) {
      var xr: array<f32, 4>;
      var wr: array<f32, 4>;
      for (var i = 0u; i < 4u; i++) { xr[i] = xs[lid.y + i * 16u][c]; wr[i] = ws[lid.x + i * 16u][c]; }
      for (var i = 0u; i < 4u; i++) { for (var j = 0u; j < 4u; j++) { tile[i][j] += xr[i] * wr[j]; } }
    }
    for (var i = 0u; i < 4u; i++) { for (var j = 0u; j < 4u; j++) { acc[i][j] += tile[i][j]; } }
    workgroupBarrier();
  }
  for (var i = 0u; i < 4u; i++) {
    let m = m0 + lid.y + i * 16u;
    for (var j = 0u; j < 4u; j++) {
      let n = n0 + lid.x + j * 16u;
      if (m < p.M && n < p.N) { O[p.outOff + m * p.outStride + p.outCol0 + head * p.outHeadStride + n] = acc[i][j]; }
    }
  }
}`;
}
