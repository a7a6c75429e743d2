// A weight tensor as the engine holds it: in its file dtype (F32, F16/BF16 as raw 16-bit words, or a GGML
// block-quantised type as its raw blocks), in shared memory so that worker threads read the same bytes.
import { dequantiseBlocks } from './dequantise';
import { DType, GGML_TYPES, isQuantised, tensorBytes } from './ggmlTypes';
import { encodeBf16, encodeF16 } from './halfPrecision';

export interface Tensor {
  name: string;
  dtype: DType;
  shape: number[];
  /** F32: Float32Array; F16 and BF16: the raw 16-bit words; quantised types: the blocks' bytes, row-major, each row whole blocks. */
  data: Float32Array | Uint16Array | Uint8Array;
}

/** The typed view a tensor of `dtype` and `byteLength` bytes keeps over `buffer` from `offset`. */
export function tensorData(dtype: DType, buffer: ArrayBufferLike, offset: number, byteLength: number): Tensor['data'] {
  if (dtype === 'F32') return new Float32Array(buffer, offset, byteLength / 4);
  if (isQuantised(dtype)) return new Uint8Array(buffer, offset, byteLength);
  return new Uint16Array(buffer, offset, byteLength / 2);
}

export function allocateTensor(name: string, dtype: DType, shape: number[]): { tensor: Tensor; bytes: Uint8Array } {
  const byteLength = tensorBytes(dtype, shape);
  const buffer = new SharedArrayBuffer(byteLength);
  return { tensor: { name, dtype, shape, data: tensorData(dtype, buffer, 0, byteLength) }, bytes: new Uint8Array(buffer) };
}

/** Sets a whole F32, F16 or BF16 tensor from f32 values, rounded to its dtype (to nearest, ties to even). */
export function writeF32(t: Tensor, values: Float32Array): void {
  if (t.dtype === 'F32') (t.data as Float32Array).set(values);
  else if (t.dtype === 'F16') encodeF16(values, t.data as Uint16Array);
  else if (t.dtype === 'BF16') encodeBf16(values, t.data as Uint16Array);
  else throw new Error(`tensor "${t.name}" is ${t.dtype}: quantised blocks are written by quantiseRow`);
}

/** Elements of a tensor (its shape's product; for quantised types not the length of its data). */
export function elementCount(t: Tensor): number {
  return t.shape.reduce((a, b) => a * b, 1);
}

let f16Table: Float32Array | undefined;

/** float16 bit patterns to float32 values, all 65,536 of them (built once). */
export function f16ToF32Table(): Float32Array {
  if (f16Table) return f16Table;
  const table = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) {
    const sign = h & 0x8000 ? -1 : 1;
    const exp = (h >> 10) & 0x1f;
    const frac = h & 0x3ff;
    if (exp === 0) table[h] = sign * frac * 2 ** -24;
    else if (exp === 31) table[h] = frac ? NaN : sign * Infinity;
    else table[h] = sign * (1 + frac / 1024) * 2 ** (exp - 15);
  }
  return (f16Table = table);
}

/** Decodes elements [start, start+count) of a tensor into `out` as float32 (whole blocks, for a quantised tensor). */
export function readRow(t: Tensor, start: number, count: number, out: Float32Array): void {
  const d = t.data;
  if (isQuantised(t.dtype)) {
    const block = GGML_TYPES[t.dtype].blockElements;
    if (start % block !== 0) throw new Error(`tensor "${t.name}" (${t.dtype}): elements from ${start} do not start a ${block}-value block`);
    dequantiseBlocks(t.dtype, d as Uint8Array, start / block, count, out);
  } else if (t.dtype === 'F32') {
    out.set((d as Float32Array).subarray(start, start + count));
  } else if (t.dtype === 'BF16') {
    const u32 = new Uint32Array(out.buffer, out.byteOffset, count);
    for (let i = 0; i < count; i++) u32[i] = d[start + i] << 16;
  } else {
    const table = f16ToF32Table();
    for (let i = 0; i < count; i++) out[i] = table[d[start + i]];
  }
}

/** The whole tensor as float32 (copies unless it already is). */
export function toF32(t: Tensor): Float32Array {
  if (t.dtype === 'F32') return t.data as Float32Array;
  const count = elementCount(t);
  const out = new Float32Array(count);
  readRow(t, 0, count, out);
  return out;
}
