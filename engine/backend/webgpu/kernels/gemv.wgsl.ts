// GEMV for decode (x with at most GEMV_ROWS rows): out[m, n] = Σ_k x[m, k]·W[n, k].
// Shapes: x [M ≤ GEMV_ROWS, K] (row stride xStride), W [N, K] of any dtype, out [M, N] (row stride outStride).
// Per head z (dispatch z; MLA's per-head W_UK / W_UV): x columns start at (head0 + z)·xHeadStride, out columns at
// outCol0 + (head0 + z)·outHeadStride, and W is the z-th matrix of the stack (wHeadElems apart).
// One workgroup of 64 threads per output column n (flat over x, y): the threads split K, then reduce. Rows whose
// start and K are multiples of the read's vector width (weightDecode.wgsl.ts: 4 f16 natively, 2 in a u32 word)
// load vectors of weights; f32 products and accumulation on every path.
import { f32Vector, FLAT_WORKGROUP, vectorWidth, weightArray, weightDecode, WeightRead, weightEnable, weightVectorDecode } from './weightDecode.wgsl';

export const GEMV_ROWS = 4;

export const LINEAR_PARAMS = `struct Params {
  M: u32, K: u32, N: u32, xOff: u32,
  xStride: u32, xHeadStride: u32, outOff: u32, outStride: u32,
  outCol0: u32, outHeadStride: u32, wHeadElems: u32, head0: u32,
}`;

export function gemvWgsl(read: WeightRead): string {
  const V = vectorWidth(read);
  // Vectors of V weights where the row allows (f32 weights: one by one).
  const vectorLoop = V === 1 ? '' : `if (p.K % ${V}u == 0u && wRow % ${V}u == 0u) {
      for (var k = ${V}u * t; k < p.K; k += ${64 * V}u) {
        let wk = wVec(wRow + k);
        for (var m = 0u; m < p.M; m++) { let xk = xCol + m * p.xStride + k; acc[m] += dot(${f32Vector('X', 'xk', V)}, wk); }
      }
    } else `;
  return `${weightEnable(read)}
${LINEAR_PARAMS}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> X: array<f32>;
@group(0) @binding(2) var<storage, read> W: ${weightArray(read)};
@group(0) @binding(3) var<storage, read_write> O: array<f32>;
${weightDecode(read, 'w', 'W')}
${weightVectorDecode(read, 'wVec', 'W')}
${FLAT_WORKGROUP}
var<workgroup> part: array<array<f32, 64>, ${GEMV_ROWS}>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) t: u32) {
  let n = flatWorkgroup(wid, nwg);
  let head = p.head0 + wid.z;
  let live = n < p.N;
  var acc = array<f32, ${GEMV_ROWS}>();
  if (live) {
    let wRow = wid.z * p.wHeadElems + n * p.K;
    let xCol = p.xOff + head * p.xHeadStride;
    ${vectorLoop}{
      for (var k = t; k < p.K; k += 64u) {
        let wk = w(wRow + k);
        for (var m = 0u; m < p.M; m++) { acc[m] += X[xCol + m * p.xStride + k] * wk; }
      }
    }
  }
  for (var m = 0u; m < ${GEMV_ROWS}u; m++) { part[m][t] = acc[m]; }
  workgroupBarrier();
  for (var s = 32u; s > 0u; s >>= 1u) {
    if (t < s) { for (var m = 0u; m < ${GEMV_ROWS}u; m++) { part[m][t] += part[m][t + s]; } }
    workgroupBarrier();
  }
  if (live && t < p.M) {
    O[p.outOff + t * p.outStride + p.outCol0 + head * p.outHeadStride + n] = part[t][0];
  }
}`;
}
