// MLA naive attention (ordinary causal multi-head attention over expanded keys and values), flash-decoding
// style as latentAttention.wgsl.ts: one workgroup per (chunk, query row q = j·heads + h). Head h of token j has
// query q[j, h·(dn+dr) .. +(dn+dr)); token s has key [kv[s, h·(dn+dv) .. +dn) | kPe[s] (dr)] and value
// kv[s, h·(dn+dv) + dn .. +dv). Shapes: q [count, heads·(dn+dr)], kv [L, heads·(dn+dv)], kPe [L, dr]; causal:
// token j sees [0, pos0 + j]. Partials (m, l, acc [dv]) at part[(q·splits + chunk)·(dv + 2)]. dn + dr, dv ≤ 1024.
import { ATTENTION_MAX_WIDTH } from './latentAttention.wgsl';
import { PRECISE_EXP } from './preciseExp.wgsl';

export const HEAD_ATTENTION_WGSL = `struct Params {
  rows: u32, heads: u32, dn: u32, dr: u32,
  dv: u32, pos0: u32, qOff: u32, kvOff: u32,
  kPeOff: u32, splitTokens: u32, splits: u32, scale: f32,
  partOff: u32, pad0: u32, pad1: u32, pad2: u32,
}
@group(0) @binding(0) var<uniform> p: Params;
${PRECISE_EXP}
@group(0) @binding(1) var<storage, read> Q: array<f32>;
@group(0) @binding(2) var<storage, read> KV: array<f32>;
@group(0) @binding(3) var<storage, read> KP: array<f32>;
@group(0) @binding(4) var<storage, read_write> P: array<f32>;
var<workgroup> query: array<f32, ${ATTENTION_MAX_WIDTH}>;
var<workgroup> probs: array<f32, 64>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) t: u32) {
  let chunk = wid.x;
  let q = wid.y + wid.z * 65535u;
  if (q >= p.rows) { return; }
  let j = q / p.heads;
  let h = q % p.heads;
  let qk = p.dn + p.dr;
  let kvRow = p.heads * (p.dn + p.dv);
  for (var i = t; i < qk; i += 64u) { query[i] = Q[p.qOff + j * p.heads * qk + h * qk + i]; }
  workgroupBarrier();
  let visible = p.pos0 + j + 1u;
  let s0 = chunk * p.splitTokens;
  let s1 = min(s0 + p.splitTokens, visible);
  var m = -1e30;
  var l = 0.0;
  var acc = array<f32, ${ATTENTION_MAX_WIDTH / 64}>();
  for (var b0 = s0; b0 < s1; b0 += 64u) {
    let s = b0 + t;
    let valid = s < s1;
    var score = -1e30;
    if (valid) {
      let ko = p.kvOff + s * kvRow + h * (p.dn + p.dv);
      var dot = 0.0;
      for (var i = 0u; i < p.dn; i++) { dot += query[i] * KV[ko + i]; }
      for (var i = 0u; i < p.dr; i++) { dot += query[p.dn + i] * KP[p.kPeOff + s * p.dr + i]; }
      score = dot * p.scale;
    }
    probs[t] = score;
    workgroupBarrier();
    var blockMax = m;
    let n = min(64u, s1 - b0);
    for (var i = 0u; i < n; i++) { blockMax = max(blockMax, probs[i]); }
    workgroupBarrier();
    probs[t] = select(0.0, preciseExp(score - blockMax), valid);
    workgroupBarrier();
    let f = preciseExp(m - blockMax);
    var sum = 0.0;
    for (var i = 0u; i < n; i++) { sum += probs[i]; }
    l = l * f + sum;
    for (var k = 0u; k * 64u + t < p.dv; k++) {
      let d = k * 64u + t;
      var a = acc[k] * f;
      for (var i = 0u; i < n; i++) { a += probs[i] * KV[p.kvOff + (b0 + i) * kvRow + h * (p.dn + p.dv) + p.dn + d]; }
      acc[k] = a;
    }
    m = blockMax;
    workgroupBarrier();
  }
  let base = p.partOff + (q * p.splits + chunk) * (p.dv + 2u);
  if (t == 0u) { P[base] = m; P[base + 1u] = l; }
  for (var k = 0u; k * 64u + t < p.dv; k++) { P[base + 2u + k * 64u + t] = acc[k]; }
}`;
