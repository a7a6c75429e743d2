// MLA absorbed attention, flash-decoding style: MQA of `count`·`heads` query rows over the latent rows of the
// cached tokens, the sequence split into chunks of splitTokens, one workgroup (64 threads) per (chunk, query row).
// Query row q = j·heads + h (token j, head h) sees tokens [0, pos0 + j]; its query is [qLat[j, h·r .. +r) |
// q[j, h·qStride + qPeOffset .. +dr)], the score of token s is scale·(query · [c_kv[s] | k_pe[s]]) and the
// output Σ_s p_s·c_kv[s] (r wide). Each workgroup writes a partial (max m, sum l, Σ e^(score−m)·c_kv [r]) at
// part[(q·splits + chunk)·(r + 2)]; attentionCombine.wgsl.ts merges the chunks. Tokens are found through the
// item's page table (row = pages[s / 16]·16 + s % 16). Limits: r + dr ≤ 1024, r ≤ 1024.
// Per block of 64 tokens each thread scores one token, then every thread accumulates its dims d ≡ t (mod 64).
import { PAGE_TOKENS } from '../../../cache/latentStore';
import { GpuLatentFormat, latentRead } from './latentRow.wgsl';
import { PRECISE_EXP } from './preciseExp.wgsl';

export const ATTENTION_MAX_WIDTH = 1024;

export function latentAttentionWgsl(format: GpuLatentFormat): string {
  return `struct Params {
  rows: u32, heads: u32, r: u32, dr: u32,
  pos0: u32, qLatOff: u32, qOff: u32, qStride: u32,
  qPeOffset: u32, pagesOff: u32, splitTokens: u32, splits: u32,
  scale: f32, rowWords: u32, partOff: u32, pad0: u32,
}
@group(0) @binding(0) var<uniform> p: Params;
${PRECISE_EXP}
@group(0) @binding(1) var<storage, read> L: array<u32>;
@group(0) @binding(2) var<storage, read> U: array<u32>;
@group(0) @binding(3) var<storage, read> QL: array<f32>;
@group(0) @binding(4) var<storage, read> Q: array<f32>;
@group(0) @binding(5) var<storage, read_write> P: array<f32>;
${latentRead(format)}
var<workgroup> query: array<f32, ${ATTENTION_MAX_WIDTH}>;
var<workgroup> probs: array<f32, 64>;
var<workgroup> tokenRow: array<u32, 64>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) t: u32) {
  let chunk = wid.x;
  let q = wid.y + wid.z * 65535u;
  if (q >= p.rows) { return; }
  let j = q / p.heads;
  let h = q % p.heads;
  let width = p.r + p.dr;
  for (var i = t; i < p.r; i += 64u) { query[i] = QL[p.qLatOff + q * p.r + i]; }
  for (var i = t; i < p.dr; i += 64u) { query[p.r + i] = Q[p.qOff + j * p.heads * p.qStride + h * p.qStride + p.qPeOffset + i]; }
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
    var row = 0u;
    if (valid) {
      row = U[p.pagesOff + s / ${PAGE_TOKENS}u] * ${PAGE_TOKENS}u + s % ${PAGE_TOKENS}u;
      var dot = 0.0;
      for (var i = 0u; i < width; i++) { dot += query[i] * latentAt(row, i); }
      score = dot * p.scale;
    }
    probs[t] = score;
    tokenRow[t] = row;
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
    for (var k = 0u; k * 64u + t < p.r; k++) {
      let d = k * 64u + t;
      var a = acc[k] * f;
      for (var i = 0u; i < n; i++) { a += probs[i] * latentAt(tokenRow[i], d); }
      acc[k] = a;
    }
    m = blockMax;
    workgroupBarrier();
  }
  let base = p.partOff + (q * p.splits + chunk) * (p.r + 2u);
  if (t == 0u) { P[base] = m; P[base + 1u] = l; }
  for (var k = 0u; k * 64u + t < p.r; k++) { P[base + 2u + k * 64u + t] = acc[k]; }
}`;
}
