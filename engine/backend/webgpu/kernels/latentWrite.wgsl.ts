// Stores new latents in a layer of the GPU latent store: for each pair (src, dst) in the upload at pairsOff,
// row dst of the layer's buffer = [c_kv[src] (r) | k_pe[src] (dr)], encoded in the pool's format.
// Shapes: cKv [n, r] from cOff, kPe [n, dr] from kOff; L [rows, rowWords] words. x over the row's words, y over pairs.
import { F16_BITS, GpuLatentFormat, latentWord, perWord } from './latentRow.wgsl';

export function latentWriteWgsl(format: GpuLatentFormat): string {
  const k = perWord(format);
  return `struct Params { pairs: u32, r: u32, dr: u32, rowWords: u32, cOff: u32, kOff: u32, pairsOff: u32, pad0: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> C: array<f32>;
@group(0) @binding(2) var<storage, read> K: array<f32>;
@group(0) @binding(3) var<storage, read> U: array<u32>;
@group(0) @binding(4) var<storage, read_write> L: array<u32>;
${F16_BITS}
${latentWord(format)}
fn element(src: u32, i: u32) -> f32 {
  if (i < p.r) { return C[p.cOff + src * p.r + i]; }
  if (i < p.r + p.dr) { return K[p.kOff + src * p.dr + i - p.r]; }
  return 0.0;
}
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) g: vec3<u32>) {
  let w = g.x;
  let pair = g.y + g.z * 65535u;
  if (w >= p.rowWords || pair >= p.pairs) { return; }
  let src = U[p.pairsOff + 2u * pair];
  let dst = U[p.pairsOff + 2u * pair + 1u];
  L[dst * p.rowWords + w] = latentWord(element(src, ${k}u * w), element(src, ${k}u * w + 1u));
}`;
}
