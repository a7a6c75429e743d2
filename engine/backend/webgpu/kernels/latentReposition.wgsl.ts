// Re-positioning of cached tokens in one layer (LatentPageStore.copyToken, batched): for each copy c, row dst gets
// row src's c_kv as stored and its k_pe moved from position `from` to `to`: un-rotated with the cos/sin the forward
// used at `from` (divided by c² + s², the multiplier's square), rotated with those of `to` (Rope.reposition).
// Upload at copiesOff: per copy [src, dst, cos_from (half), sin_from (half), cos_to (half), sin_to (half)].
// Threads: x over max(c_kv words, half/2 k_pe pair-groups), y over copies; each k_pe thread moves elements
// (2m, 2m+1) and (half+2m, half+2m+1), whole words in both formats (half is even).
import { F16_BITS, GpuLatentFormat, latentRead, latentWord, perWord } from './latentRow.wgsl';

export function latentRepositionWgsl(format: GpuLatentFormat): string {
  const k = perWord(format);
  return `struct Params { copies: u32, r: u32, half: u32, rowWords: u32, copiesOff: u32, pad0: u32, pad1: u32, pad2: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> U: array<u32>;
@group(0) @binding(2) var<storage, read_write> L: array<u32>;
${F16_BITS}
${latentRead(format)}
${latentWord(format)}
fn table(c: u32, which: u32, i: u32) -> f32 { return bitcast<f32>(U[p.copiesOff + c * (2u + 4u * p.half) + 2u + which * p.half + i]); }
fn moved(src: u32, c: u32, i: u32) -> vec2<f32> {
  let a = latentAt(src, p.r + i);
  let b = latentAt(src, p.r + p.half + i);
  let c0 = table(c, 0u, i);
  let s0 = table(c, 1u, i);
  let norm = c0 * c0 + s0 * s0;
  let x = (a * c0 + b * s0) / norm;
  let y = (b * c0 - a * s0) / norm;
  let c1 = table(c, 2u, i);
  let s1 = table(c, 3u, i);
  return vec2<f32>(x * c1 - y * s1, y * c1 + x * s1);
}
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) g: vec3<u32>) {
  let w = g.x;
  let c = g.y + g.z * 65535u;
  if (c >= p.copies) { return; }
  let base = p.copiesOff + c * (2u + 4u * p.half);
  let src = U[base];
  let dst = U[base + 1u];
  let cWords = p.r / ${k}u;
  if (w < cWords) { L[dst * p.rowWords + w] = L[src * p.rowWords + w]; }
  if (w < p.half / 2u) {
    let e0 = moved(src, c, 2u * w);
    let e1 = moved(src, c, 2u * w + 1u);
    // Element j of k_pe sits in word cWords + j / ${k} of the row.
    if (${k}u == 2u) {
      L[dst * p.rowWords + cWords + w] = latentWord(e0.x, e1.x);
      L[dst * p.rowWords + cWords + p.half / 2u + w] = latentWord(e0.y, e1.y);
    } else {
      L[dst * p.rowWords + cWords + 2u * w] = latentWord(e0.x, 0.0);
      L[dst * p.rowWords + cWords + 2u * w + 1u] = latentWord(e1.x, 0.0);
      L[dst * p.rowWords + cWords + p.half + 2u * w] = latentWord(e0.y, 0.0);
      L[dst * p.rowWords + cWords + p.half + 2u * w + 1u] = latentWord(e1.y, 0.0);
    }
  }
}`;
}
