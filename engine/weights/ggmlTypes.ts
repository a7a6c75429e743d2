// The GGML tensor types the engine holds weights in: the float types of safetensors, and the block-quantised
// types of the common GGUF files (Q8_0; Q4_K_M = Q4_K + Q6_K; Q5_K_M = Q5_K + Q6_K; Q4_0), and Q5_0 / Q5_1, which
// llama.cpp writes instead of Q4_K / Q5_K for rows that are not a multiple of 256. A quantised row is a
// whole number of blocks, each block `blockElements` values in `blockBytes` bytes; a tensor is its rows, row-major.
// Type ids are ggml's `enum ggml_type` (they are what a GGUF file stores).

export type FloatDType = 'F32' | 'F16' | 'BF16';
export type QuantDType = 'Q8_0' | 'Q4_0' | 'Q5_0' | 'Q5_1' | 'Q4_K' | 'Q5_K' | 'Q6_K';
export type DType = FloatDType | QuantDType;

export interface GgmlType {
  name: DType;
  /** ggml's `enum ggml_type` value. */
  id: number;
  /** Elements per block (1 for the float types). */
  blockElements: number;
  /** Bytes per block. */
  blockBytes: number;
}

/** Values per super-block of the K-quants (ggml's QK_K). */
export const QK_K = 256;

export const GGML_TYPES: Readonly<Record<DType, GgmlType>> = {
  F32: { name: 'F32', id: 0, blockElements: 1, blockBytes: 4 },
  F16: { name: 'F16', id: 1, blockElements: 1, blockBytes: 2 },
  Q4_0: { name: 'Q4_0', id: 2, blockElements: 32, blockBytes: 2 + 16 }, // f16 d, 32 nibbles
  Q5_0: { name: 'Q5_0', id: 6, blockElements: 32, blockBytes: 2 + 4 + 16 }, // f16 d, 32 fifth bits, 32 nibbles
  Q5_1: { name: 'Q5_1', id: 7, blockElements: 32, blockBytes: 2 + 2 + 4 + 16 }, // f16 d, f16 m, fifth bits, nibbles
  Q8_0: { name: 'Q8_0', id: 8, blockElements: 32, blockBytes: 2 + 32 }, // f16 d, 32 int8
  Q4_K: { name: 'Q4_K', id: 12, blockElements: QK_K, blockBytes: 2 + 2 + 12 + 128 }, // f16 d, f16 dmin, 6-bit scales/mins, nibbles
  Q5_K: { name: 'Q5_K', id: 13, blockElements: QK_K, blockBytes: 2 + 2 + 12 + 32 + 128 }, // as Q4_K, plus 32 B of high bits
  Q6_K: { name: 'Q6_K', id: 14, blockElements: QK_K, blockBytes: 128 + 64 + 16 + 2 }, // ql, qh, int8 scales, f16 d
  BF16: { name: 'BF16', id: 30, blockElements: 1, blockBytes: 2 },
};

const BY_ID = new Map<number, GgmlType>(Object.values(GGML_TYPES).map((t) => [t.id, t]));

/** The type with ggml id `id`, or undefined for one the engine does not hold. */
export function ggmlTypeById(id: number): GgmlType | undefined {
  return BY_ID.get(id);
}

export function isDType(name: string): name is DType {
  return Object.prototype.hasOwnProperty.call(GGML_TYPES, name);
}

export function isQuantised(dtype: DType): dtype is QuantDType {
  return GGML_TYPES[dtype].blockElements > 1;
}

/** Bytes of one row of `rowLength` elements; throws if the row is not a whole number of blocks. */
export function rowBytes(dtype: DType, rowLength: number): number {
  const t = GGML_TYPES[dtype];
  if (!Number.isInteger(rowLength) || rowLength < 0 || rowLength % t.blockElements !== 0) {
    throw new Error(`${dtype}: a row of ${rowLength} elements is not a whole number of ${t.blockElements}-element blocks`);
  }
  return (rowLength / t.blockElements) * t.blockBytes;
}

/** Bytes of a tensor of `shape` (row-major; the last dimension is the row). A 0-d tensor is one element. */
export function tensorBytes(dtype: DType, shape: readonly number[]): number {
  const rowLength = shape.length === 0 ? 1 : shape[shape.length - 1];
  const rows = shape.slice(0, -1).reduce((a, b) => a * b, 1);
  return rows * rowBytes(dtype, rowLength);
}
