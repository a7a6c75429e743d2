// Weights live on the GPU as raw words: f32 as its bits, f16/bf16 as two 16-bit values per word (element i in
// word i/2, low half first). A kernel reads them through the functions here, chosen by a `WeightRead`:
// - u32 words (`array<u32>`), 16-bit values decoded with unpack2x16float / shifts: every adapter;
// - native f16 (`array<vec4<f16>>`, `enable f16;`) where the device has `shader-f16`: a scalar read converts the one
//   f16 it needs (the word path unpacks both halves and selects one), a vector read loads four at once.
// - GGML block-quantised types (Q8_0, Q4_0, Q5_0, Q5_1, Q4_K, Q5_K, Q6_K) as their raw blocks in u32 words, each value
//   decoded from its block where it is read (quantDecode.wgsl.ts); one by one, no vector read.
// Either way the values reach the kernels as f32 and every kernel multiplies and accumulates in f32: the f16 -> f32
// conversion is exact, so both paths compute the same products. f16 products (activations rounded to f16, f32
// accumulation) were measured and not taken: decode logits 2.4e-2 from the CPU's on the same f16 weights against
// 7.4e-6 in f32, on the fixtures (README).
import { isQuantised } from '../../../weights/ggmlTypes';
import type { DType } from '../../../weights/safetensors';
import { quantBytes, quantDecode, wordAlignedElements } from './quantDecode.wgsl';

/** How a kernel reads a weight binding: its stored dtype, and for F16 whether as native `f16` (shader-f16). */
export interface WeightRead {
  readonly dtype: DType;
  readonly nativeF16: boolean;
}

/** The read for `dtype` weights on a device with (or without) `shader-f16`. */
export function weightRead(dtype: DType, shaderF16: boolean): WeightRead {
  return { dtype, nativeF16: dtype === 'F16' && shaderF16 };
}

/** The read's part of a pipeline key. */
export function readKey(r: WeightRead): string {
  return r.nativeF16 ? 'F16native' : r.dtype;
}

/** The directive a module needs for the read (`enable f16;` opens the module, before any declaration). */
export function weightEnable(r: WeightRead): string {
  return r.nativeF16 ? 'enable f16;' : '';
}

/** The WGSL type of a weight binding. */
export function weightArray(r: WeightRead): string {
  return r.nativeF16 ? 'array<vec4<f16>>' : 'array<u32>';
}

/** Elements one vector read yields: 4 (a vec4<f16>), 2 (a word of two 16-bit values), 1 (f32 and quantised: read one by one). */
export function vectorWidth(r: WeightRead): number {
  if (r.nativeF16) return 4;
  return r.dtype === 'F32' || isQuantised(r.dtype) ? 1 : 2;
}

/** WGSL `fn <name>(i: u32) -> f32` reading element i of the weight binding `buffer`. */
export function weightDecode(r: WeightRead, name: string, buffer: string): string {
  if (r.nativeF16) return `fn ${name}(i: u32) -> f32 { return f32(${buffer}[i >> 2u][i & 3u]); }`;
  switch (r.dtype) {
    case 'F32':
      return `fn ${name}(i: u32) -> f32 { return bitcast<f32>(${buffer}[i]); }`;
    case 'F16':
      return `fn ${name}(i: u32) -> f32 { let v = unpack2x16float(${buffer}[i >> 1u]); return select(v.x, v.y, (i & 1u) == 1u); }`;
    case 'BF16':
      return `fn ${name}(i: u32) -> f32 { let w = ${buffer}[i >> 1u]; return bitcast<f32>(select(w << 16u, w & 0xffff0000u, (i & 1u) == 1u)); }`;
    default:
      return quantDecode(r.dtype, name, buffer);
  }
}

/**
 * WGSL `fn <name>(i: u32) -> vecN<f32>`, N = vectorWidth(r) > 1: elements [i, i + N) from one load (i a multiple of
 * N). Empty for f32 and quantised weights (no vector read).
 */
export function weightVectorDecode(r: WeightRead, name: string, buffer: string): string {
  if (r.nativeF16) return `fn ${name}(i: u32) -> vec4<f32> { return vec4<f32>(${buffer}[i >> 2u]); }`;
  switch (r.dtype) {
    case 'F16':
      return `fn ${name}(i: u32) -> vec2<f32> { return unpack2x16float(${buffer}[i >> 1u]); }`;
    case 'BF16':
      return `fn ${name}(i: u32) -> vec2<f32> { let w = ${buffer}[i >> 1u]; return vec2<f32>(bitcast<f32>(w << 16u), bitcast<f32>(w & 0xffff0000u)); }`;
    default:
      return '';
  }
}

/** WGSL for `vecN<f32>(A[i], A[i + 1], ...)`: N consecutive f32 activations, to dot with a vector of weights. */
export function f32Vector(array: string, index: string, n: number): string {
  return `vec${n}<f32>(${Array.from({ length: n }, (_, j) => `${array}[${index}${j ? ` + ${j}u` : ''}]`).join(', ')})`;
}

/** Words a matrix of `elements` values of `dtype` takes (16-bit and quantised matrices padded to whole words). */
export function wordsOf(dtype: DType, elements: number): number {
  if (isQuantised(dtype)) return Math.ceil(quantBytes(dtype, elements) / 4);
  return dtype === 'F32' ? elements : Math.ceil(elements / 2);
}

/** Element stride between consecutive matrices of a stack (16-bit and quantised ones start on a word). */
export function matrixStride(dtype: DType, elements: number): number {
  if (isQuantised(dtype)) return wordAlignedElements(dtype, elements);
  return dtype === 'F32' ? elements : 2 * Math.ceil(elements / 2);
}

/** The flat workgroup index of a 2-D dispatch (one dimension holds at most 65,535 workgroups). */
export const FLAT_WORKGROUP = `fn flatWorkgroup(wid: vec3<u32>, nwg: vec3<u32>) -> u32 { return wid.x + wid.y * nwg.x; }`;
