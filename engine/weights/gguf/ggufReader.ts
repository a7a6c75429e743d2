// Reads a GGUF file's header (metadata and tensor infos, all validated against the file's size) and single
// tensors' bytes straight into buffers the caller provides, so a model is never held twice in memory.
import * as fs from 'node:fs';
import { DType, ggmlTypeById, tensorBytes } from '../ggmlTypes';
import { DEFAULT_ALIGNMENT, GGUF_MAGIC, GgufItem, GgufScalar, GgufValue, GgufValueType, SCALAR_BYTES } from './ggufFormat';

export class GgufError extends Error {
  constructor(file: string, message: string) {
    super(`${file}: ${message}`);
    this.name = 'GgufError';
  }
}

export interface GgufTensorInfo {
  name: string;
  /** ggml's ne: dims innermost (the row) first. */
  ne: number[];
  dtype: DType;
  /** Absolute byte offset of the data in the file. */
  offset: number;
  byteLength: number;
}

/** Sanity bounds, so that a corrupt count fails with a message rather than an allocation of petabytes. */
const MAX_STRING_BYTES = 256 << 20;
const MAX_COUNT = 1 << 28;
const MAX_DIMS = 4;
const SUPPORTED_VERSIONS = [2, 3];

export class GgufFile {
  private constructor(
    readonly path: string,
    private readonly fd: number,
    readonly version: number,
    readonly metadata: Map<string, GgufValue>,
    readonly tensors: Map<string, GgufTensorInfo>,
    readonly alignment: number,
    /** Absolute offset of the data section. */
    readonly dataOffset: number,
  ) {}

  static open(path: string): GgufFile {
    let fd: number;
    try {
      fd = fs.openSync(path, 'r');
    } catch (e) {
      throw new GgufError(path, `cannot open (${(e as NodeJS.ErrnoException).code ?? e})`);
    }
    try {
      if (!fs.fstatSync(fd).isFile()) throw new GgufError(path, 'not a regular file');
      const h = readHeader(path, fd);
      return new GgufFile(path, fd, h.version, h.metadata, h.tensors, h.alignment, h.dataOffset);
    } catch (e) {
      fs.closeSync(fd);
      throw e;
    }
  }

  tensor(name: string): GgufTensorInfo {
    const t = this.tensors.get(name);
    if (!t) throw new GgufError(this.path, `tensor "${name}" is missing`);
    return t;
  }

  /** Reads `into.byteLength` bytes of tensor `name`'s data, starting `byteOffset` bytes into it. */
  readInto(name: string, into: Uint8Array, byteOffset = 0): void {
    const t = this.tensor(name);
    if (byteOffset < 0 || byteOffset + into.byteLength > t.byteLength) {
      throw new GgufError(this.path, `"${name}": bytes [${byteOffset}, ${byteOffset + into.byteLength}) are outside its ${t.byteLength} B`);
    }
    const chunk = 64 << 20;
    for (let done = 0; done < into.byteLength; ) {
      const want = Math.min(chunk, into.byteLength - done);
      const got = fs.readSync(this.fd, into, done, want, t.offset + byteOffset + done);
      if (got <= 0) throw new GgufError(this.path, `"${name}": file ends inside the tensor's data`);
      done += got;
    }
  }

  close(): void {
    fs.closeSync(this.fd);
  }
}

/** Sequential reads of the header, buffered from the file and growing as far as the header goes. */
class HeaderCursor {
  private buf = Buffer.alloc(0);
  private start = 0;
  pos = 0;
  constructor(private readonly path: string, private readonly fd: number, readonly fileSize: number) {}

  private need(n: number, what: string): void {
    if (this.pos + n <= this.start + this.buf.length) return;
    if (this.pos + n > this.fileSize) throw new GgufError(this.path, `truncated: the file (${this.fileSize} B) ends inside ${what}`);
    const size = Math.min(this.fileSize - this.pos, Math.max(n, 1 << 20, this.buf.length * 2));
    this.buf = Buffer.alloc(size);
    fs.readSync(this.fd, this.buf, 0, size, this.pos);
    this.start = this.pos;
  }

  private at(n: number, what: string): number {
    this.need(n, what);
    const i = this.pos - this.start;
    this.pos += n;
    return i;
  }

  u32(what: string): number {
    const i = this.at(4, what); // before reading this.buf: `at` may replace it
    return this.buf.readUInt32LE(i);
  }

  /** A uint64 that must fit a safe JS number (counts, lengths, offsets). */
  u64(what: string): number {
    const i = this.at(8, what);
    const v = this.buf.readBigUInt64LE(i);
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new GgufError(this.path, `${what} is ${v}, too large`);
    return Number(v);
  }

  string(what: string): string {
    const len = this.u64(`the length of ${what}`);
    if (len > MAX_STRING_BYTES) throw new GgufError(this.path, `${what} claims ${len} B, more than a GGUF string may hold here`);
    const i = this.at(len, what);
    return this.buf.toString('utf8', i, i + len);
  }

  scalar(type: GgufValueType, what: string): GgufScalar {
    if (type === GgufValueType.STRING) return this.string(what);
    const size = SCALAR_BYTES[type];
    if (size === undefined) throw new GgufError(this.path, `${what} has unknown value type ${type}`);
    const i = this.at(size, what);
    const b = this.buf;
    switch (type) {
      case GgufValueType.UINT8: return b.readUInt8(i);
      case GgufValueType.INT8: return b.readInt8(i);
      case GgufValueType.UINT16: return b.readUInt16LE(i);
      case GgufValueType.INT16: return b.readInt16LE(i);
      case GgufValueType.UINT32: return b.readUInt32LE(i);
      case GgufValueType.INT32: return b.readInt32LE(i);
      case GgufValueType.FLOAT32: return b.readFloatLE(i);
      case GgufValueType.FLOAT64: return b.readDoubleLE(i);
      case GgufValueType.BOOL: {
        const v = b.readUInt8(i);
        if (v > 1) throw new GgufError(this.path, `${what}: bool value ${v} is neither 0 nor 1`);
        return v === 1;
      }
      case GgufValueType.UINT64: return exactNumber(b.readBigUInt64LE(i));
      default: return exactNumber(b.readBigInt64LE(i)); // INT64
    }
  }

  /** An array's items (nested arrays recursively). */
  array(what: string): { itemType: GgufValueType; value: GgufItem[] } {
    const itemType = this.u32(`the item type of ${what}`) as GgufValueType;
    const count = this.u64(`the length of ${what}`);
    if (count > MAX_COUNT) throw new GgufError(this.path, `${what} claims ${count} items`);
    const size = SCALAR_BYTES[itemType];
    // Fixed-size items: the whole array must fit in the file before any is read.
    if (size !== undefined && this.pos + count * size > this.fileSize) throw new GgufError(this.path, `truncated: the file (${this.fileSize} B) ends inside ${what}`);
    const value: GgufItem[] = new Array(count);
    for (let k = 0; k < count; k++) value[k] = itemType === GgufValueType.ARRAY ? this.array(`${what}[${k}]`).value : this.scalar(itemType, what);
    return { itemType, value };
  }
}

function exactNumber(v: bigint): number | bigint {
  return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
}

function readHeader(path: string, fd: number) {
  const fail = (msg: string): never => {
    throw new GgufError(path, msg);
  };
  const fileSize = fs.fstatSync(fd).size;
  const c = new HeaderCursor(path, fd, fileSize);
  if (fileSize < 4) fail(`too short to be GGUF (${fileSize} B)`);
  const magic = c.u32('the magic');
  if (magic !== GGUF_MAGIC) fail(`bad magic 0x${magic.toString(16).padStart(8, '0')} (not a GGUF file; expected "GGUF")`);
  const version = c.u32('the version');
  if (!SUPPORTED_VERSIONS.includes(version)) fail(`GGUF version ${version} is not supported (versions ${SUPPORTED_VERSIONS.join(' and ')})`);
  const tensorCount = c.u64('the tensor count');
  const kvCount = c.u64('the metadata count');
  if (tensorCount > MAX_COUNT || kvCount > MAX_COUNT) fail(`implausible counts (${tensorCount} tensors, ${kvCount} metadata keys)`);

  const metadata = new Map<string, GgufValue>();
  for (let k = 0; k < kvCount; k++) {
    const key = c.string(`metadata key ${k}`);
    const type = c.u32(`the type of "${key}"`) as GgufValueType;
    if (metadata.has(key)) fail(`metadata key "${key}" appears twice`);
    if (type === GgufValueType.ARRAY) {
      const { itemType, value } = c.array(`"${key}"`);
      metadata.set(key, { type, itemType, value });
    } else {
      if (SCALAR_BYTES[type] === undefined && type !== GgufValueType.STRING) fail(`metadata "${key}" has unknown value type ${type}`);
      metadata.set(key, { type, value: c.scalar(type, `"${key}"`) } as GgufValue);
    }
  }

  const alignValue = metadata.get('general.alignment');
  let alignment = DEFAULT_ALIGNMENT;
  if (alignValue !== undefined) {
    const a = alignValue.value;
    if (alignValue.type !== GgufValueType.UINT32 || typeof a !== 'number' || a === 0 || (a & (a - 1)) !== 0) {
      fail(`"general.alignment" must be a uint32 power of two (got ${JSON.stringify(String(a))})`);
    }
    alignment = a as number;
  }

  const infos: { name: string; ne: number[]; typeId: number; rel: number }[] = [];
  for (let t = 0; t < tensorCount; t++) {
    const name = c.string(`tensor name ${t}`);
    const nDims = c.u32(`the dims of "${name}"`);
    if (nDims < 1 || nDims > MAX_DIMS) fail(`tensor "${name}": ${nDims} dimensions (1 to ${MAX_DIMS} allowed)`);
    const ne: number[] = [];
    for (let d = 0; d < nDims; d++) ne.push(c.u64(`dim ${d} of "${name}"`));
    const typeId = c.u32(`the type of "${name}"`);
    const rel = c.u64(`the offset of "${name}"`);
    infos.push({ name, ne, typeId, rel });
  }
  const dataOffset = Math.ceil(c.pos / alignment) * alignment;

  const tensors = new Map<string, GgufTensorInfo>();
  const ranges: [number, number, string][] = [];
  for (const { name, ne, typeId, rel } of infos) {
    if (tensors.has(name)) fail(`tensor "${name}" appears twice`);
    const type = ggmlTypeById(typeId);
    if (!type) fail(`tensor "${name}": ggml type id ${typeId} is not supported`);
    const dtype = type!.name;
    if (ne.some((d) => d === 0)) fail(`tensor "${name}" has an empty dimension ${JSON.stringify(ne)}`);
    let byteLength = 0;
    try {
      byteLength = tensorBytes(dtype, [...ne].reverse());
    } catch (e) {
      fail(`tensor "${name}" ${JSON.stringify(ne)}: ${(e as Error).message}`);
    }
    if (rel % alignment !== 0) fail(`tensor "${name}": offset ${rel} is not a multiple of the alignment ${alignment}`);
    const offset = dataOffset + rel;
    if (offset + byteLength > fileSize) {
      fail(`tensor "${name}": data [${offset}, ${offset + byteLength}) lies beyond the end of the file (${fileSize} B); the file is truncated`);
    }
    ranges.push([rel, rel + byteLength, name]);
    tensors.set(name, { name, ne, dtype, offset, byteLength });
  }
  ranges.sort((a, b) => a[0] - b[0]);
  for (let i = 1; i < ranges.length; i++) {
    if (ranges[i][0] < ranges[i - 1][1]) fail(`tensors "${ranges[i - 1][2]}" and "${ranges[i][2]}" overlap`);
  }
  return { version, metadata, tensors, alignment, dataOffset };
}
