// Writes a GGUF v3 file: the header (metadata, tensor infos) is fixed up front, then each tensor's bytes follow in
// the order given, whole or in consecutive parts, each tensor starting on the alignment, so a model larger than
// memory can be written a piece at a time.
import { DType, GGML_TYPES, tensorBytes } from '../ggmlTypes';
import { DEFAULT_ALIGNMENT, GGUF_MAGIC, GGUF_VERSION, GgufItem, GgufValue, GgufValueType, SCALAR_BYTES } from './ggufFormat';
import type { MetadataEntry } from './deepseek2Metadata';
import { OrderedTensorFile, TensorSlot } from '../orderedTensorFile';

export interface GgufTensorSpec {
  name: string;
  /** ggml's ne: dims innermost first. */
  ne: number[];
  dtype: DType;
}

/** Appends little-endian values to a growing list of buffers. */
class ByteSink {
  readonly parts: Buffer[] = [];
  length = 0;
  push(b: Buffer): void {
    this.parts.push(b);
    this.length += b.length;
  }
  u32(v: number): void {
    const b = Buffer.alloc(4);
    b.writeUInt32LE(v);
    this.push(b);
  }
  u64(v: number | bigint): void {
    const b = Buffer.alloc(8);
    b.writeBigUInt64LE(BigInt(v));
    this.push(b);
  }
  string(s: string): void {
    const bytes = Buffer.from(s, 'utf8');
    this.u64(bytes.length);
    this.push(bytes);
  }
  scalar(type: GgufValueType, v: GgufItem, key: string): void {
    if (type === GgufValueType.STRING) {
      if (typeof v !== 'string') throw new Error(`GgufWriter: "${key}": expected a string, got ${typeof v}`);
      this.string(v);
      return;
    }
    const size = SCALAR_BYTES[type];
    if (size === undefined) throw new Error(`GgufWriter: "${key}": cannot write value type ${type} as a scalar`);
    const b = Buffer.alloc(size);
    switch (type) {
      case GgufValueType.UINT8: b.writeUInt8(Number(v)); break;
      case GgufValueType.INT8: b.writeInt8(Number(v)); break;
      case GgufValueType.UINT16: b.writeUInt16LE(Number(v)); break;
      case GgufValueType.INT16: b.writeInt16LE(Number(v)); break;
      case GgufValueType.UINT32: b.writeUInt32LE(Number(v)); break;
      case GgufValueType.INT32: b.writeInt32LE(Number(v)); break;
      case GgufValueType.FLOAT32: b.writeFloatLE(Number(v)); break;
      case GgufValueType.FLOAT64: b.writeDoubleLE(Number(v)); break;
      case GgufValueType.BOOL: b.writeUInt8(v ? 1 : 0); break;
      case GgufValueType.UINT64: b.writeBigUInt64LE(BigInt(v as number | bigint)); break;
      default: b.writeBigInt64LE(BigInt(v as number | bigint)); // INT64
    }
    this.push(b);
  }
  value(key: string, v: GgufValue): void {
    this.u32(v.type);
    if (v.type !== GgufValueType.ARRAY) {
      this.scalar(v.type, v.value, key);
      return;
    }
    if (v.itemType === GgufValueType.ARRAY) throw new Error(`GgufWriter: "${key}": nested arrays are not written`);
    this.u32(v.itemType);
    this.u64(v.value.length);
    for (const item of v.value) this.scalar(v.itemType, item, key);
  }
}

export class GgufWriter {
  private readonly file: OrderedTensorFile;

  constructor(readonly path: string, metadata: MetadataEntry[], tensors: GgufTensorSpec[], readonly alignment = DEFAULT_ALIGNMENT) {
    const keys = new Set<string>();
    for (const [k] of metadata) {
      if (keys.has(k)) throw new Error(`GgufWriter: metadata "${k}" given twice`);
      keys.add(k);
    }
    const entries: MetadataEntry[] = alignment === DEFAULT_ALIGNMENT || keys.has('general.alignment')
      ? metadata
      : [...metadata, ['general.alignment', { type: GgufValueType.UINT32, value: alignment }]];
    const h = new ByteSink();
    h.u32(GGUF_MAGIC);
    h.u32(GGUF_VERSION);
    h.u64(tensors.length);
    h.u64(entries.length);
    for (const [k, v] of entries) {
      h.string(k);
      h.value(k, v);
    }
    let offset = 0;
    const slots: TensorSlot[] = [];
    for (const t of tensors) {
      const byteLength = tensorBytes(t.dtype, [...t.ne].reverse());
      h.string(t.name);
      h.u32(t.ne.length);
      for (const d of t.ne) h.u64(d);
      h.u32(GGML_TYPES[t.dtype].id);
      h.u64(offset);
      slots.push({ name: t.name, offset, byteLength });
      offset = align(offset + byteLength, alignment);
    }
    const dataOffset = align(h.length, alignment);
    this.file = new OrderedTensorFile(path, 'GgufWriter', Buffer.concat(h.parts), dataOffset, slots);
  }

  /** Tensor names in the order their data must be given. */
  get names(): string[] {
    return this.file.names;
  }

  /** The next part of tensor `name`'s data; the tensor is complete when all its bytes have been appended. */
  append(name: string, part: Uint8Array): void {
    this.file.append(name, part);
  }

  /** Closes the file; throws if any tensor was left incomplete. */
  close(): void {
    this.file.close();
  }

  /** Closes the file without checking it is complete (after a failure; the caller removes it). */
  abort(): void {
    this.file.abort();
  }
}

function align(n: number, a: number): number {
  return Math.ceil(n / a) * a;
}
