// Weights live on the GPU as raw words (`array<u32>`): f32 as its bits, f16/bf16 as two 16-bit values per word
// (element i in word i/2, low half first), decoded here to f32; every kernel accumulates in f32.
import type { DType } from '../../../weights/safetensors';

/** WGSL `fn <name>(i: u32) -> f32` reading element i of the u32 binding `buffer` holding `dtype` values. */
export function weightDecode(dtype: DType, name: string, buffer: string): string {
  switch (dtype) {
    case 'F32':
      return `fn ${name}(i: u32) -> f32 { return bitcast<f32>(${buffer}[i]); }`;
    case 'F16':
      return `fn ${name}(i: u32) -> f32 { let v = unpack2x16float(${buffer}[i >> 1u]); return select(v.x, v.y, (i & 1u) == 1u); }`;
    case 'BF16':
      return `fn ${name}(i: u32) -> f32 { let w = ${buffer}[i >> 1u]; return bitcast<f32>(select(w << 16u, w & 0xffff0000u, (i & 1u) == 1u)); }`;
    default:
      throw new Error(`webgpu: ${dtype} weights are not implemented on webgpu (F32, F16 and BF16 are)`);
  }
}

/** WGSL `fn <name>(i: u32) -> vec2<f32>`: elements i and i + 1 (i even) from one load. */
export function weightPairDecode(dtype: DType, name: string, buffer: string): string {
  switch (dtype) {
    case 'F32':
      return `fn ${name}(i: u32) -> vec2<f32> { return vec2<f32>(bitcast<f32>(${buffer}[i]), bitcast<f32>(${buffer}[i + 1u])); }`;
    case 'F16':
      return `fn ${name}(i: u32) -> vec2<f32> { return unpack2x16float(${buffer}[i >> 1u]); }`;
    case 'BF16':
      return `fn ${name}(i: u32) -> vec2<f32> { let w = ${buffer}[i >> 1u]; return vec2<f32>(bitcast<f32>(w << 16u), bitcast<f32>(w & 0xffff0000u)); }`;
    default:
      throw new Error(`webgpu: ${dtype} weights are not implemented on webgpu (F32, F16 and BF16 are)`);
  }
}

/** Words a matrix of `elements` values of `dtype` takes (16-bit matrices padded to whole words). */
export function wordsOf(dtype: DType, elements: number): number {
  return dtype === 'F32' ? elements : Math.ceil(elements / 2);
}

/** Element stride between consecutive matrices of a stack (16-bit ones start on a word). */
export function matrixStride(dtype: DType, elements: number): number {
  return dtype === 'F32' ? elements : 2 * Math.ceil(elements / 2);
}

/** The flat workgroup index of a 2-D dispatch (one dimension holds at most 65,535 workgroups). */
export const FLAT_WORKGROUP = `fn flatWorkgroup(wid: vec3<u32>, nwg: vec3<u32>) -> u32 { return wid.x + wid.y * nwg.x; }`;
