// Where the CPU backend keeps weights: in WebAssembly shared memories ("banks"), so that the WASM kernels of
// every thread can read them in place. A wasm32 memory holds at most 4 GiB, so a large model spans several
// banks; each bank starts with a scratch area into which a matmul's activations are copied (a kernel can only
// address its own bank). Tensors handed out are ordinary Tensors whose data views a bank's SharedArrayBuffer.
import { DType, tensorBytes } from '../../weights/ggmlTypes';
import { Tensor, tensorData } from '../../weights/tensor';
import { wasm, WasmMemory } from './wasmKernels';

const PAGE = 65536;
const MAX_PAGES = 65536;
/** Activations of one kernel call: x [n, cols] and out [n, rows] in f32 (larger calls are split by tokens). */
export const SCRATCH_BYTES = 64 << 20;
const ALIGN = 64;

export interface Bank {
  memory: WasmMemory;
  /** Bytes in use (scratch included); the memory grows as tensors are added. */
  used: number;
}

export interface WeightLocation {
  bank: number;
  /** Byte offset of the tensor's first element in the bank. */
  offset: number;
}

export class WeightArena {
  readonly banks: Bank[] = [];
  private readonly where = new WeakMap<object, WeightLocation>();
  /** Called when a bank is added (each thread pool over this arena instantiates the kernels on it). */
  readonly bankListeners = new Set<(bank: number) => void>();

  /** A zeroed tensor in a bank; `bytes` views its storage, for a loader to fill. */
  allocate(name: string, dtype: DType, shape: number[]): { tensor: Tensor; bytes: Uint8Array } {
    const byteLength = tensorBytes(dtype, shape);
    if (SCRATCH_BYTES + byteLength > MAX_PAGES * PAGE) throw new RangeError(`weight "${name}" (${byteLength} B) is larger than a 4 GiB WebAssembly memory`);
    let bank = this.banks.findIndex((b) => align(b.used) + byteLength <= MAX_PAGES * PAGE);
    if (bank < 0) bank = this.addBank();
    const b = this.banks[bank];
    const offset = align(b.used);
    const needPages = Math.ceil((offset + byteLength) / PAGE);
    const havePages = b.memory.buffer.byteLength / PAGE;
    if (needPages > havePages) b.memory.grow(needPages - havePages);
    b.used = offset + byteLength;
    const buffer = b.memory.buffer;
    const data = tensorData(dtype, buffer, offset, byteLength);
    this.where.set(data, { bank, offset });
    return { tensor: { name, dtype, shape, data }, bytes: new Uint8Array(buffer, offset, byteLength) };
  }

  /** The bank and offset of a tensor allocated here, or undefined for any other tensor. */
  locate(t: Tensor): WeightLocation | undefined {
    return this.where.get(t.data);
  }

  private addBank(): number {
    const memory = new wasm.Memory({ initial: SCRATCH_BYTES / PAGE, maximum: MAX_PAGES, shared: true });
    this.banks.push({ memory, used: SCRATCH_BYTES });
    const index = this.banks.length - 1;
    for (const listener of this.bankListeners) listener(index);
    return index;
  }

  /** A bank for kernels whose operands all live in scratch (made on first use). */
  anyBank(): number {
    return this.banks.length > 0 ? 0 : this.addBank();
  }
}

function align(n: number): number {
  return Math.ceil(n / ALIGN) * ALIGN;
}
