// Sampling per row of logits, as generate/sampler.ts's pickToken (the rule: SamplingPick in backend.ts). One
// workgroup of 256 per row:
// - greedy (temperature <= 0): argmax, ties to the lowest id;
// - else p_i = preciseExp((l_i - max) / temperature). Tokens are ranked by an order-preserving u32 key of the logit
//   (-0 as +0, so equal logits tie), ties by lower id; a cut (key, id) keeps the tokens ranked at or above it. The
//   top-k cut and then the top-p cut are found without a sort: the largest key whose tokens at or above it pass
//   (count >= topK; or count >= 1 and sum of p >= topP · the top-k sum) by bisection over the 32 key bits, each step
//   one pass over the row and a workgroup reduction; among ties at that key, the smallest id that passes, by
//   bisection over the ids (skipped when one token holds the key). The prefix sums are monotone in the cut, as
//   rounding is, so the bisection is exact for the sums it computes;
// - the pick: each thread sums the kept p over a contiguous chunk of ids, thread 0 runs through the chunks and then
//   the chosen chunk, in id order, to the first kept token where the running sum passes u · (the kept sum); the last
//   kept token with p > 0 when rounding leaves the sum short (u rounds to 1 in f32 from 1 - 2^-25).
// Sums run in f32 in another order than the host's doubles, so a u within rounding of a bucket's edge (or a top-p
// cut within rounding of topP) may pick a neighbour.
// Shapes: logits [rows, V] from lOff (V < 2^24: counts are exact in f32); picks [rows, 4] words in the upload
// buffer from picksOff: temperature (f32 bits), topK (u32, 0 = off), topP (f32 bits), u (f32 bits); out [rows] token
// ids (u32) from oOff.
import type { SamplingPick } from '../../backend';
import { PRECISE_EXP } from './preciseExp.wgsl';

export const SAMPLE_WORKGROUP = 256;

/** The picks as the kernel reads them: 4 words per row. */
export function samplingPickWords(picks: readonly SamplingPick[]): Uint32Array {
  const words = new Uint32Array(picks.length * 4);
  const floats = new Float32Array(words.buffer);
  picks.forEach((pk, r) => {
    floats[r * 4] = pk.temperature;
    words[r * 4 + 1] = Math.min(Math.max(0, Math.floor(pk.topK)), 0xffffffff);
    floats[r * 4 + 2] = pk.topP;
    floats[r * 4 + 3] = pk.u;
  });
  return words;
}

export const SAMPLE_WGSL = `struct Params { rows: u32, V: u32, lOff: u32, picksOff: u32, oOff: u32, pad0: u32, pad1: u32, pad2: u32 }
@group(0) @binding(0) var<uniform> p: Params;
${PRECISE_EXP}
@group(0) @binding(1) var<storage, read> Lg: array<f32>;
@group(0) @binding(2) var<storage, read> U: array<u32>;
@group(0) @binding(3) var<storage, read_write> O: array<u32>;

const WG = ${SAMPLE_WORKGROUP}u;
const ALL = 0xffffffffu;
var<workgroup> best: array<vec2<u32>, ${SAMPLE_WORKGROUP}>;
var<workgroup> red: array<vec4<f32>, ${SAMPLE_WORKGROUP}>;

// A row as the passes see it, the same in every invocation: where its logits start, their max, the temperature,
// and the cuts found so far ((0, ALL): everything).
struct Row { base: u32, mx: f32, temperature: f32, kCut: vec2<u32>, pCut: vec2<u32> }

fn keyOf(v: f32) -> u32 {
  let b = bitcast<u32>(select(v, 0.0, v == 0.0));
  return select(b | 0x80000000u, ~b, (b >> 31u) == 1u);
}

// Whether token (k, i) ranks at or above the cut c: a larger key, or the same key and an id <= c.y.
fn within(k: u32, i: u32, c: vec2<u32>) -> bool {
  return k > c.x || (k == c.x && i <= c.y);
}

fn kept(row: Row, k: u32, i: u32) -> bool {
  return within(k, i, row.kCut) && within(k, i, row.pCut);
}

fn prob(row: Row, v: f32) -> f32 {
  return preciseExp((v - row.mx) / row.temperature);
}

fn reduce(lid: u32, v: vec4<f32>) -> vec4<f32> {
  red[lid] = v;
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    workgroupBarrier();
    if (lid < s) { red[lid] += red[lid + s]; }
  }
  return workgroupUniformLoad(&red[0]);
}

// Over the kept tokens ranked at or above c: (count, sum of p, count of those holding key c.x, 0).
fn measure(lid: u32, row: Row, c: vec2<u32>) -> vec4<f32> {
  var m = vec4<f32>(0.0);
  for (var i = lid; i < p.V; i += WG) {
    let v = Lg[row.base + i];
    let k = keyOf(v);
    if (!kept(row, k, i)) { continue; }
    if (within(k, i, c)) { m.x += 1.0; m.y += prob(row, v); }
    if (k == c.x) { m.z += 1.0; }
  }
  return reduce(lid, m);
}

fn passes(m: vec4<f32>, needCount: f32, needSum: f32) -> bool {
  return m.x >= needCount && m.y >= needSum;
}

// The shortest prefix of the kept ranking that passes (count >= needCount, sum >= needSum): its cut.
fn cut(lid: u32, row: Row, topKey: u32, needCount: f32, needSum: f32) -> vec2<u32> {
  var lo = 0u; // every kept token: passes
  var hi = topKey;
  loop {
    if (lo >= hi) { break; }
    let d = hi - lo;
    let mid = lo + d / 2u + (d & 1u);
    if (passes(measure(lid, row, vec2(mid, ALL)), needCount, needSum)) { lo = mid; } else { hi = mid - 1u; }
  }
  if (measure(lid, row, vec2(lo, ALL)).z <= 1.0) { return vec2(lo, ALL); }
  var a = 0u;
  var b = p.V - 1u; // passes: every token at key lo
  loop {
    if (a >= b) { break; }
    let mid = a + (b - a) / 2u;
    if (passes(measure(lid, row, vec2(lo, mid)), needCount, needSum)) { b = mid; } else { a = mid + 1u; }
  }
  return vec2(lo, a);
}

@compute @workgroup_size(${SAMPLE_WORKGROUP})
fn main(@builtin(workgroup_id) w: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let r = w.x + w.y * 65535u;
  if (r >= p.rows) { return; }
  let base = p.lOff + r * p.V;
  let pk = p.picksOff + r * 4u;
  let temperature = bitcast<f32>(U[pk]);
  let topK = U[pk + 1u];
  let topP = bitcast<f32>(U[pk + 2u]);
  let u = bitcast<f32>(U[pk + 3u]);

  // The best token: the largest key, ties to the lowest id (a thread without tokens offers key 0 at id ALL).
  var mine = vec2(0u, ALL);
  for (var i = lid; i < p.V; i += WG) {
    let k = keyOf(Lg[base + i]);
    if (mine.y == ALL || k > mine.x) { mine = vec2(k, i); }
  }
  best[lid] = mine;
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    workgroupBarrier();
    if (lid < s) {
      let o = best[lid + s];
      let m = best[lid];
      if (o.x > m.x || (o.x == m.x && o.y < m.y)) { best[lid] = o; }
    }
  }
  let top = workgroupUniformLoad(&best[0]);
  if (temperature <= 0.0) {
    if (lid == 0u) { O[p.oOff + r] = top.y; }
    return;
  }

  var row = Row(base, Lg[base + top.y], temperature, vec2(0u, ALL), vec2(0u, ALL));
  if (topK > 0u && topK < p.V) { row.kCut = cut(lid, row, top.x, f32(topK), 0.0); }
  if (topP < 1.0) { row.pCut = cut(lid, row, top.x, 1.0, topP * measure(lid, row, vec2(0u, ALL)).y); }

  let chunk = (p.V + WG - 1u) / WG;
  let first = min(lid * chunk, p.V);
  let end = min(first + chunk, p.V);
  var part = 0.0;
  for (var i = first; i < end; i++) {
    let v = Lg[base + i];
    if (kept(row, keyOf(v), i)) { part += prob(row, v); }
  }
  red[lid] = vec4(0.0, part, 0.0, 0.0);
  workgroupBarrier();
  if (lid != 0u) { return; }
  var total = 0.0;
  for (var t = 0u; t < WG; t++) { total += red[t].y; }
  let goal = u * total;
  // The chunk where the running sum passes the goal; else (rounding) the last chunk with weight, to its last token.
  var chosen = WG;
  var start = 0.0;
  var before = 0.0;
  var lastChunk = 0u;
  var lastBefore = 0.0;
  for (var t = 0u; t < WG; t++) {
    let s = red[t].y;
    if (s > 0.0) {
      lastChunk = t;
      lastBefore = before;
      if (before + s > goal) { chosen = t; start = before; break; }
    }
    before += s;
  }
  let fellShort = chosen == WG;
  if (fellShort) { chosen = lastChunk; start = lastBefore; }
  var acc = start;
  var pick = top.y;
  for (var i = chosen * chunk; i < min((chosen + 1u) * chunk, p.V); i++) {
    let v = Lg[base + i];
    if (!kept(row, keyOf(v), i)) { continue; }
    let q = prob(row, v);
    if (q <= 0.0) { continue; }
    pick = i;
    acc += q;
    if (!fellShort && acc > goal) { break; }
  }
  O[p.oOff + r] = pick;
}`;
