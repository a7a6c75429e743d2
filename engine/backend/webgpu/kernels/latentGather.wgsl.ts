// Reads cached latents out of a layer of the GPU latent store, through a page table: token s lives in row
// pages[s / PAGE_TOKENS]·PAGE_TOKENS + s % PAGE_TOKENS. Out: cKv [end, r] (from cOff) and kPe [end, dr] (from kOff),
// f32. x over the r + dr elements, y over tokens (MLA's naive path expands these through kv_b_proj).
import { PAGE_TOKENS } from '../../../cache/latentStore';
import { GpuLatentFormat, latentRead } from './latentRow.wgsl';

export function latentGatherWgsl(format: GpuLatentFormat): string {
  return `struct Params { end: u32, r: u32, dr: u32, rowWords: u32, cOff: u32, kOff: u32, pagesOff: u32, pad0: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> L: array<u32>;
@group(0) @binding(2) var<storage, read> U: array<u32>;
@group(0) @binding(3) var<storage, read_write> C: array<f32>;
@group(0) @binding(4) var<storage, read_write> K: array<f32>;
${latentRead(format)}
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) g: vec3<u32>) {
  let i = g.x;
  let s = g.y + g.z * 65535u;
  if (i >= p.r + p.dr || s >= p.end) { return; }
  let row = U[p.pagesOff + s / ${PAGE_TOKENS}u] * ${PAGE_TOKENS}u + s % ${PAGE_TOKENS}u;
  let v = latentAt(row, i);
  if (i < p.r) { C[p.cOff + s * p.r + i] = v; } else { K[p.kOff + s * p.dr + i - p.r] = v; }
}`;
}
