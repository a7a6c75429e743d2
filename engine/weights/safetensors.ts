// The safetensors format: an 8-byte little-endian header length, a JSON header naming each tensor's dtype,
// shape and byte range, then raw little-endian data. Tensors are read one at a time straight into their own
// (shared) buffers, so loading never holds the file twice in memory.
import * as fs from 'node:fs';
import { OrderedTensorFile, TensorSlot } from './orderedTensorFile';
import type { FloatDType } from './ggmlTypes';

/** The engine's tensor types (floats and GGML's block-quantised types); safetensors itself holds only the floats. */
export type { DType } from './ggmlTypes';
/** Bytes per element of the dtypes a safetensors file may hold. */
export const DTYPE_BYTES: Record<FloatDType, number> = { F32: 4, F16: 2, BF16: 2 };
const MAX_HEADER_BYTES = 100 * 1024 * 1024;

export interface TensorInfo {
  name: string;
  dtype: FloatDType;
  shape: number[];
  /** Absolute byte offset of the data in the file. */
  offset: number;
  byteLength: number;
}

export class SafetensorsError extends Error {
  constructor(file: string, message: string) {
    super(`${file}: ${message}`);
    this.name = 'SafetensorsError';
  }
}

/** One open safetensors file: its validated header, and reads of single tensors. */
export class SafetensorsFile {
  private constructor(
    readonly path: string,
    private readonly fd: number,
    readonly tensors: Map<string, TensorInfo>,
    readonly metadata: Record<string, string>,
  ) {}

  static open(path: string): SafetensorsFile {
    let fd: number;
    try {
      fd = fs.openSync(path, 'r');
    } catch (e) {
      throw new SafetensorsError(path, `cannot open (${(e as NodeJS.ErrnoException).code ?? e})`);
    }
    try {
      if (!fs.fstatSync(fd).isFile()) throw new SafetensorsError(path, 'not a regular file');
      const { tensors, metadata } = readHeader(path, fd);
      return new SafetensorsFile(path, fd, tensors, metadata);
    } catch (e) {
      fs.closeSync(fd);
      throw e;
    }
  }

  info(name: string): TensorInfo {
    const t = this.tensors.get(name);
    if (!t) throw new SafetensorsError(this.path, `no tensor named "${name}"`);
    return t;
  }

  /** Reads a tensor's raw bytes into `into` (which must be exactly its size). */
  readInto(name: string, into: Uint8Array): void {
    const t = this.info(name);
    if (into.byteLength !== t.byteLength) throw new SafetensorsError(this.path, `"${name}": buffer of ${into.byteLength} B for ${t.byteLength} B of data`);
    this.readRange(name, 0, into);
  }

  /** Reads `into.byteLength` bytes of a tensor's data from byte `start` of it (a part, e.g. some rows). */
  readRange(name: string, start: number, into: Uint8Array): void {
    const t = this.info(name);
    if (start < 0 || start + into.byteLength > t.byteLength) throw new SafetensorsError(this.path, `"${name}": bytes ${start}..${start + into.byteLength} are outside its ${t.byteLength} B of data`);
    const chunk = 64 * 1024 * 1024;
    for (let done = 0; done < into.byteLength; ) {
      const want = Math.min(chunk, into.byteLength - done);
      const got = fs.readSync(this.fd, into, done, want, t.offset + start + done);
      if (got <= 0) throw new SafetensorsError(this.path, `"${name}": file ends inside the tensor's data`);
      done += got;
    }
  }

  close(): void {
    fs.closeSync(this.fd);
  }
}

function readHeader(path: string, fd: number): { tensors: Map<string, TensorInfo>; metadata: Record<string, string> } {
  const fail = (msg: string): never => {
    throw new SafetensorsError(path, msg);
  };
  const fileSize = fs.fstatSync(fd).size;
  if (fileSize < 8) fail(`too short to be safetensors (${fileSize} B)`);
  const lenBuf = Buffer.alloc(8);
  fs.readSync(fd, lenBuf, 0, 8, 0);
  const headerLen = Number(lenBuf.readBigUInt64LE(0));
  if (headerLen > MAX_HEADER_BYTES || headerLen > fileSize - 8) fail(`header length ${headerLen} B does not fit the file (${fileSize} B)`);
  const headerBuf = Buffer.alloc(headerLen);
  fs.readSync(fd, headerBuf, 0, headerLen, 8);
  let header: unknown;
  try {
    header = JSON.parse(headerBuf.toString('utf8'));
  } catch (e) {
    return fail(`header is not valid JSON (${(e as Error).message})`);
  }
  if (header === null || typeof header !== 'object' || Array.isArray(header)) fail('header is not a JSON object');
  const dataStart = 8 + headerLen;
  const dataSize = fileSize - dataStart;
  const tensors = new Map<string, TensorInfo>();
  let metadata: Record<string, string> = {};
  const ranges: [number, number, string][] = [];
  for (const [name, v] of Object.entries(header as Record<string, unknown>)) {
    if (name === '__metadata__') {
      metadata = (v ?? {}) as Record<string, string>;
      continue;
    }
    if (v === null || typeof v !== 'object') fail(`tensor "${name}": entry is not an object`);
    const e = v as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    if (typeof e.dtype !== 'string' || !(e.dtype in DTYPE_BYTES)) fail(`tensor "${name}": dtype ${JSON.stringify(e.dtype)} is not supported (F32, F16, BF16)`);
    const dtype = e.dtype as FloatDType;
    if (!Array.isArray(e.shape) || !e.shape.every((d) => Number.isInteger(d) && d >= 0)) fail(`tensor "${name}": bad shape ${JSON.stringify(e.shape)}`);
    const shape = e.shape as number[];
    const offs = e.data_offsets;
    if (!Array.isArray(offs) || offs.length !== 2 || !offs.every((d) => Number.isInteger(d) && d >= 0) || offs[1] < offs[0]) {
      fail(`tensor "${name}": bad data_offsets ${JSON.stringify(offs)}`);
    }
    const [begin, end] = offs as [number, number];
    const expected = shape.reduce((a, b) => a * b, 1) * DTYPE_BYTES[dtype];
    if (end - begin !== expected) fail(`tensor "${name}": data_offsets span ${end - begin} B but ${dtype} ${JSON.stringify(shape)} needs ${expected} B`);
    if (end > dataSize) fail(`tensor "${name}": data ends at ${end} B, past the end of the file's data (${dataSize} B); the file is truncated`);
    ranges.push([begin, end, name]);
    tensors.set(name, { name, dtype, shape, offset: dataStart + begin, byteLength: end - begin });
  }
  ranges.sort((a, b) => a[0] - b[0]);
  for (let i = 1; i < ranges.length; i++) {
    if (ranges[i][0] < ranges[i - 1][1]) fail(`tensors "${ranges[i - 1][2]}" and "${ranges[i][2]}" overlap`);
  }
  return { tensors, metadata };
}

/**
 * Writes a safetensors file tensor by tensor, so that models larger than memory can be written.
 * The header (all names, dtypes, shapes) is fixed up front; then each tensor's bytes are given in the order of
 * `names`, whole (`write`) or in consecutive parts (`append`), so not even one tensor need be in memory at once.
 */
export class SafetensorsWriter {
  private readonly file: OrderedTensorFile;

  /** The order in which tensors' data lie in the file (and are written): by name, as Hugging Face writes them. */
  static dataOrder<T extends { name: string }>(specs: T[]): T[] {
    return [...specs].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  constructor(readonly path: string, specs: { name: string; dtype: FloatDType; shape: number[] }[]) {
    const sorted = SafetensorsWriter.dataOrder(specs);
    const header: Record<string, unknown> = { __metadata__: { format: 'pt' } };
    let offset = 0;
    const slots: TensorSlot[] = [];
    for (const s of sorted) {
      const bytes = s.shape.reduce((a, b) => a * b, 1) * DTYPE_BYTES[s.dtype];
      header[s.name] = { dtype: s.dtype, shape: s.shape, data_offsets: [offset, offset + bytes] };
      slots.push({ name: s.name, offset, byteLength: bytes });
      offset += bytes;
    }
    const json = Buffer.from(JSON.stringify(header), 'utf8');
    // Pad to a multiple of 8 bytes (not characters) so the data that follows stays aligned.
    const headerBytes = Buffer.concat([json, Buffer.from(' '.repeat((8 - (json.length % 8)) % 8))]);
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(BigInt(headerBytes.length));
    this.file = new OrderedTensorFile(path, 'SafetensorsWriter', Buffer.concat([len, headerBytes]), 8 + headerBytes.length, slots);
  }

  /** Names in the order `write` expects them. */
  get names(): string[] {
    return this.file.names;
  }

  /** The whole of tensor `name`'s data. */
  write(name: string, data: Uint8Array): void {
    const whole = this.file.expectsWhole(name);
    if (whole !== null && data.byteLength !== whole) throw new Error(`SafetensorsWriter: "${name}" needs ${whole} B, got ${data.byteLength} B`);
    this.file.append(name, data);
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
