// DeepSeekMoE's router (MoEGate) per token, as engine/model/router.ts: softmax over the E routed experts' logits
// in f32, then top-k (greedy; or group-limited: groups scored by their best expert, only the best topkGroup groups
// eligible), ties to the lower index; the weights normalised (normTopkProb, k > 1) or scaled. One thread per token.
// Shapes: logits [n, E] from lOff (E ≤ 256, groups ≤ 64); out [n, 2·topK] from oOff: the expert ids (as u32 bits)
// then their weights.
import { PRECISE_EXP } from './preciseExp.wgsl';
export const ROUTER_MAX_EXPERTS = 256;

export const ROUTER_WGSL = `struct Params {
  n: u32, E: u32, topK: u32, groupLimited: u32,
  nGroup: u32, topkGroup: u32, normTopkProb: u32, scaling: f32,
  lOff: u32, oOff: u32, pad0: u32, pad1: u32,
}
@group(0) @binding(0) var<uniform> p: Params;
${PRECISE_EXP}
@group(0) @binding(1) var<storage, read> Lg: array<f32>;
@group(0) @binding(2) var<storage, read_write> O: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) g: vec3<u32>) {
  let t = g.x + g.y * 65535u * 64u;
  if (t >= p.n) { return; }
  let lo = p.lOff + t * p.E;
  var scores: array<f32, ${ROUTER_MAX_EXPERTS}>;
  var eligible: array<f32, ${ROUTER_MAX_EXPERTS}>;
  var taken = array<bool, ${ROUTER_MAX_EXPERTS}>();
  var mx = Lg[lo];
  for (var e = 1u; e < p.E; e++) { mx = max(mx, Lg[lo + e]); }
  var sum = 0.0;
  for (var e = 0u; e < p.E; e++) { let v = preciseExp(Lg[lo + e] - mx); scores[e] = v; sum += v; }
  for (var e = 0u; e < p.E; e++) { scores[e] = scores[e] / sum; eligible[e] = scores[e]; }
  if (p.groupLimited == 1u) {
    let size = p.E / p.nGroup;
    var groupScore: array<f32, 64>;
    var kept = array<bool, 64>();
    for (var gi = 0u; gi < p.nGroup; gi++) {
      var m = scores[gi * size];
      for (var e = gi * size + 1u; e < (gi + 1u) * size; e++) { m = max(m, scores[e]); }
      groupScore[gi] = m;
    }
    for (var k = 0u; k < p.topkGroup; k++) {
      var best = 0u;
      var found = false;
      for (var gi = 0u; gi < p.nGroup; gi++) {
        if (!kept[gi] && (!found || groupScore[gi] > groupScore[best])) { best = gi; found = true; }
      }
      kept[best] = true;
    }
    for (var e = 0u; e < p.E; e++) { if (!kept[e / size]) { eligible[e] = 0.0; } }
  }
  let oo = p.oOff + t * 2u * p.topK;
  var picked = 0.0;
  for (var k = 0u; k < p.topK; k++) {
    var best = 0u;
    var found = false;
    for (var e = 0u; e < p.E; e++) {
      if (!taken[e] && (!found || eligible[e] > eligible[best])) { best = e; found = true; }
    }
    taken[best] = true;
    O[oo + k] = bitcast<f32>(best);
    O[oo + p.topK + k] = scores[best];
    picked += scores[best];
  }
  for (var k = 0u; k < p.topK; k++) {
    let w = O[oo + p.topK + k];
    O[oo + p.topK + k] = select(w * p.scaling, w / (picked + 1e-20), p.topK > 1u && p.normTopkProb == 1u);
  }
}`;
