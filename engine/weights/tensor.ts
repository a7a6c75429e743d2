// A weight tensor as the engine holds it: in its file dtype (F32, or F16/BF16 as raw 16-bit words), in shared
// memory so that worker threads read the same bytes.
import { DType, DTYPE_BYTES } from './safetensors';

export interface Tensor {
  name: string;
  dtype: DType;
  shape: number[];
  /** F32: Float32Array; F16 and BF16: the raw 16-bit words. */
  data: Float32Array | Uint16Array;
}

export function allocateTensor(name: string, dtype: DType, shape: number[]): { tensor: Tensor; bytes: Uint8Array } {
  const count = shape.reduce((a, b) => a * b, 1);
  const buffer = new SharedArrayBuffer(count * DTYPE_BYTES[dtype]);
  const data = dtype === 'F32' ? new Float32Array(buffer) : new Uint16Array(buffer);
  return { tensor: { name, dtype, shape, data }, bytes: new Uint8Array(buffer) };
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

/** Decodes elements [start, start+count) of a tensor into `out` as float32. */
export function readRow(t: Tensor, start: number, count: number, out: Float32Array): void {
  const d = t.data;
  if (t.dtype === 'F32') {
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
  const out = new Float32Array(t.data.length);
  readRow(t, 0, t.data.length, out);
  return out;
}
