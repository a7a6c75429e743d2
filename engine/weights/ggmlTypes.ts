// Stand-in until the quant branch's ggmlTypes.ts lands (same exports, float types only): the GGML tensor types
// the engine holds weights in. Type ids are ggml's `enum ggml_type` (what a GGUF file stores).
export type FloatDType = 'F32' | 'F16' | 'BF16';
export type DType = FloatDType;

export interface GgmlType {
  name: DType;
  /** ggml's `enum ggml_type` value. */
  id: number;
  /** Elements per block (1 for the float types). */
  blockElements: number;
  /** Bytes per block. */
  blockBytes: number;
}

export const GGML_TYPES: Readonly<Record<DType, GgmlType>> = {
  F32: { name: 'F32', id: 0, blockElements: 1, blockBytes: 4 },
  F16: { name: 'F16', id: 1, blockElements: 1, blockBytes: 2 },
  BF16: { name: 'BF16', id: 30, blockElements: 1, blockBytes: 2 },
};

const BY_ID = new Map<number, GgmlType>(Object.values(GGML_TYPES).map((t) => [t.id, t]));

/** The type with ggml id `id`, or undefined for one the engine does not hold. */
export function ggmlTypeById(id: number): GgmlType | undefined {
  return BY_ID.get(id);
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
