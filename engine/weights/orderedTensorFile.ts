// The writing half every tensor file format here shares (safetensors, GGUF): a header fixed up front, then each
// tensor's bytes in a fixed order, whole or in consecutive parts, each at its offset in the data section (gaps,
// e.g. GGUF's alignment, are written as zeros), so a model larger than memory is written a piece at a time.
import * as fs from 'node:fs';

export interface TensorSlot {
  name: string;
  /** Offset of the tensor's first byte within the data section. */
  offset: number;
  byteLength: number;
}

export class OrderedTensorFile {
  private readonly fd: number;
  private next = 0;
  /** Bytes of tensor `slots[next]` written so far. */
  private partial = 0;
  /** Bytes written so far, header included. */
  private written = 0;
  private closed = false;

  /** `writer` names the format in errors; the data section starts at `dataOffset` (the header is padded to it). */
  constructor(readonly path: string, private readonly writer: string, header: Uint8Array, private readonly dataOffset: number,
    private readonly slots: readonly TensorSlot[]) {
    if (header.byteLength > dataOffset) throw new RangeError(`${writer}: a header of ${header.byteLength} B does not fit before ${dataOffset}`);
    this.fd = fs.openSync(path, 'w');
    this.writeAll(header);
    this.skipEmpty();
  }

  /** Tensor names in the order their data must be given. */
  get names(): string[] {
    return this.slots.map((t) => t.name);
  }

  /** The size of the next tensor, when `name` is next and none of it is written yet (for whole-tensor writes). */
  expectsWhole(name: string): number | null {
    const t = this.slots[this.next];
    return t?.name === name && this.partial === 0 ? t.byteLength : null;
  }

  /** The next part of tensor `name`'s data; the tensor is complete when all its bytes have been appended. */
  append(name: string, part: Uint8Array): void {
    const t = this.slots[this.next];
    if (!t || t.name !== name) throw new Error(`${this.writer}: expected "${t?.name}" next, got "${name}"`);
    if (this.partial + part.byteLength > t.byteLength) throw new Error(`${this.writer}: "${name}" needs ${t.byteLength} B, got ${this.partial + part.byteLength} B`);
    if (this.partial === 0) this.writeAll(new Uint8Array(this.dataOffset + t.offset - this.written));
    this.writeAll(part);
    this.partial += part.byteLength;
    if (this.partial === t.byteLength) {
      this.next++;
      this.partial = 0;
      this.skipEmpty();
    }
  }

  /** Closes the file; throws if any tensor was left incomplete. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    fs.closeSync(this.fd);
    if (this.next !== this.slots.length) throw new Error(`${this.writer}: ${this.slots.length - this.next} tensors were not written to ${this.path}`);
  }

  /** Closes the file without checking it is complete (after a failure; the caller removes it). */
  abort(): void {
    if (this.closed) return;
    this.closed = true;
    fs.closeSync(this.fd);
  }

  private writeAll(data: Uint8Array): void {
    for (let done = 0; done < data.byteLength; ) done += fs.writeSync(this.fd, data, done, data.byteLength - done);
    this.written += data.byteLength;
  }

  /** Tensors with no elements have no data to wait for. */
  private skipEmpty(): void {
    while (this.next < this.slots.length && this.slots[this.next].byteLength === 0) this.next++;
  }
}
