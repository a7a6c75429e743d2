// The GGUF container (ggml's docs/gguf.md), version 3: "GGUF", version, tensor and metadata counts, typed metadata
// key/values, tensor infos (name, dims innermost first, ggml type, offset into the data section), padding to
// `general.alignment`, then the tensors' data. Everything is little-endian.

export const GGUF_MAGIC = 0x46554747; // "GGUF" read as a little-endian uint32
export const GGUF_VERSION = 3;
export const DEFAULT_ALIGNMENT = 32;

/** gguf_metadata_value_type */
export enum GgufValueType {
  UINT8 = 0,
  INT8 = 1,
  UINT16 = 2,
  INT16 = 3,
  UINT32 = 4,
  INT32 = 5,
  FLOAT32 = 6,
  BOOL = 7,
  STRING = 8,
  ARRAY = 9,
  UINT64 = 10,
  INT64 = 11,
  FLOAT64 = 12,
}

/** Bytes of each fixed-size value type. */
export const SCALAR_BYTES: Partial<Record<GgufValueType, number>> = {
  [GgufValueType.UINT8]: 1,
  [GgufValueType.INT8]: 1,
  [GgufValueType.UINT16]: 2,
  [GgufValueType.INT16]: 2,
  [GgufValueType.UINT32]: 4,
  [GgufValueType.INT32]: 4,
  [GgufValueType.FLOAT32]: 4,
  [GgufValueType.BOOL]: 1,
  [GgufValueType.UINT64]: 8,
  [GgufValueType.INT64]: 8,
  [GgufValueType.FLOAT64]: 8,
};

export type GgufScalar = number | bigint | boolean | string;
/** Array items: scalars, or (nested arrays) arrays of them. */
export type GgufItem = GgufScalar | GgufItem[];

/** A metadata value with its type; 64-bit integers are numbers when exact, else bigints. */
export type GgufValue =
  | { type: Exclude<GgufValueType, GgufValueType.ARRAY>; value: GgufScalar }
  | { type: GgufValueType.ARRAY; itemType: GgufValueType; value: GgufItem[] };

export function typeName(t: GgufValueType): string {
  return GgufValueType[t]?.toLowerCase() ?? `type ${t}`;
}
