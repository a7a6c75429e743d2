// The CPU backend. Two forms:
// - `new CpuBackend()`: the reference, plain TypeScript kernels accumulating in double on one thread, the
//   oracle for every other backend;
// - `await CpuBackend.create({ threads })`: the fast one, WebAssembly SIMD kernels (f32 accumulation, f16/bf16
//   and GGML's block-quantised Q8_0/Q4_0/Q4_K/Q5_K/Q6_K decoded in-register) over weights kept in WASM shared
//   memory, rows split across persistent worker threads.
// Weights reach the fast kernels by being allocated in the backend's arena (`allocateWeight`, for loaders) or
// adopted into it (`adoptWeight`, a copy); any other tensor takes the reference kernel.
import { availableParallelism } from 'node:os';
import type { Backend, HeadAttention, LatentAttention } from '../backend';
import { DType, rowBytes } from '../../weights/ggmlTypes';
import { allocateTensor, Tensor } from '../../weights/tensor';
import * as C from './controlBlock';
import { kernelModule } from './kernelModule';
import { KernelThreads, MatmulJob } from './kernelThreads';
import { attendHeadsReference, attendHeadsWasm, headQueryBlock } from './headAttention';
import { attendLatentReference, attendLatentWasm, latentScratchBytes } from './latentAttention';
import { matmulRows } from './matmulKernel';
import { SCRATCH_BYTES, WeightArena, WeightLocation } from './weightArena';

export interface CpuBackendOptions {
  /** Threads doing kernel work, the calling thread included (default: the machine's logical cores). */
  threads?: number;
  /** Jobs smaller than this many multiply-adds run on the calling thread alone (default 131,072: one head's W_UK or W_UV stays there). */
  minParallelWork?: number;
  /** Compute over the weights of another fast CPU backend (e.g. to compare thread counts on one copy). */
  shareWeightsWith?: CpuBackend;
}

const OPS: Record<DType, MatmulJob['op']> = {
  F32: C.OP_MATMUL_F32,
  F16: C.OP_MATMUL_F16,
  BF16: C.OP_MATMUL_BF16,
  Q8_0: C.OP_MATMUL_Q8_0,
  Q4_0: C.OP_MATMUL_Q4_0,
  Q4_K: C.OP_MATMUL_Q4_K,
  Q5_K: C.OP_MATMUL_Q5_K,
  Q6_K: C.OP_MATMUL_Q6_K,
};
/** Bytes of W per row block: the block is reused by every token block, so it should stay in L2. */
const ROW_BLOCK_BYTES = 256 << 10;

export class CpuBackend implements Backend {
  readonly name: string;
  readonly threads: number;
  /** Per f16 weight: whether it holds no inf/nan (weights are filled once, before their first matmul). */
  private readonly f16Finite = new WeakMap<object, boolean>();

  constructor(private readonly fast?: { arena: WeightArena; pool: KernelThreads }) {
    this.threads = fast ? fast.pool.threads : 1;
    this.name = fast ? `cpu-wasm-${this.threads}t` : 'cpu-reference';
  }

  static async create(options: CpuBackendOptions = {}): Promise<CpuBackend> {
    const threads = options.threads ?? availableParallelism();
    const arena = options.shareWeightsWith?.fast?.arena ?? new WeightArena();
    const pool = await KernelThreads.start(threads, await kernelModule(), arena, options.minParallelWork);
    return new CpuBackend({ arena, pool });
  }

  /** A zeroed weight tensor in the kernels' memory (the arena for the fast form), for a loader to fill through `bytes`. */
  allocateWeight(name: string, dtype: DType, shape: number[]): { tensor: Tensor; bytes: Uint8Array } {
    // The reference kernels read ordinary shared memory.
    if (!this.fast) return allocateTensor(name, dtype, shape);
    return this.fast.arena.allocate(name, dtype, shape);
  }

  adoptWeight(w: Tensor): Tensor {
    if (!this.fast || this.fast.arena.locate(w) || w.shape.length !== 2) return w;
    const { tensor, bytes } = this.fast.arena.allocate(w.name, w.dtype, w.shape);
    bytes.set(new Uint8Array(w.data.buffer, w.data.byteOffset, w.data.byteLength));
    return tensor;
  }

  matmul(out: Float32Array, x: Float32Array, n: number, w: Tensor): void {
    const [rows, cols] = w.shape;
    const at = this.fast?.arena.locate(w);
    if (!this.fast || !at || cols % 8 !== 0) {
      matmulRows(out, x, n, w, 0, rows);
      return;
    }
    const memory = this.fast.arena.banks[at.bank].memory;
    const rowBlock = Math.max(4, Math.floor(ROW_BLOCK_BYTES / rowBytes(w.dtype, cols) / 4) * 4);
    // Activations go through the bank's scratch, a chunk of tokens at a time.
    const perToken = (cols + rows) * 4;
    if (perToken > SCRATCH_BYTES) {
      matmulRows(out, x, n, w, 0, rows);
      return;
    }
    const chunk = Math.floor(SCRATCH_BYTES / perToken);
    for (let t0 = 0; t0 < n; t0 += chunk) {
      const m = Math.min(chunk, n - t0);
      const scratch = new Float32Array(memory.buffer, 0, m * (cols + rows));
      scratch.set(x.subarray(t0 * cols, (t0 + m) * cols));
      const outAt = m * cols * 4;
      this.fast.pool.runMatmul({ op: this.opFor(w, at), bank: at.bank, x: 0, w: at.offset, out: outAt, n: m, rows, cols, rowBlock, split: rows });
      out.set(scratch.subarray(m * cols, m * (cols + rows)), t0 * rows);
    }
  }

  attendLatent(a: LatentAttention): void {
    const length = a.latents.reduce((n, ch) => n + ch.count, 0);
    const { kvLoraRank: r, ropeDim: dr } = a;
    // The latents take a fixed share of the scratch area; the query rows go through in groups that fit the rest.
    const rowBytes = latentScratchBytes({ ...a, rows: 1 }, length) - latentScratchBytes({ ...a, rows: 0 }, length);
    const rowsPerCall = Math.floor((SCRATCH_BYTES - latentScratchBytes({ ...a, rows: 0 }, length)) / rowBytes);
    if (!this.fast || r % 8 !== 0 || dr % 8 !== 0 || rowsPerCall < 1) {
      attendLatentReference(a);
      return;
    }
    const bank = this.fast.arena.anyBank();
    for (let first = 0; first < a.rows; first += rowsPerCall) {
      const rows = Math.min(rowsPerCall, a.rows - first);
      const group: LatentAttention = {
        ...a,
        rows,
        out: a.out.subarray(first * r, (first + rows) * r),
        qLat: a.qLat.subarray(first * r, (first + rows) * r),
        qPe: a.qPe.subarray(first * dr, (first + rows) * dr),
        visible: a.visible.subarray(first, first + rows),
      };
      attendLatentWasm(group, length, this.fast.pool, bank, this.fast.arena.banks[bank].memory);
    }
  }

  attendHeads(a: HeadAttention): void {
    const block = this.fast && a.qkDim % 8 === 0 && a.vDim % 8 === 0 ? headQueryBlock(a) : 0;
    if (!this.fast || block === 0) {
      attendHeadsReference(a);
      return;
    }
    const bank = this.fast.arena.anyBank();
    attendHeadsWasm(a, block, this.fast.pool, bank, this.fast.arena.banks[bank].memory);
  }

  /** The kernel for a weight; f16 takes the cheaper decode when the tensor holds no inf/nan (checked once). */
  private opFor(w: Tensor, at: WeightLocation): MatmulJob['op'] {
    if (w.dtype !== 'F16') return OPS[w.dtype];
    let finite = this.f16Finite.get(w.data);
    if (finite === undefined) {
      finite = this.fast!.pool.kernelsOf(at.bank).f16_finite(at.offset, w.data.length) === 1;
      this.f16Finite.set(w.data, finite);
    }
    return finite ? C.OP_MATMUL_F16_FINITE : C.OP_MATMUL_F16;
  }

  dispose(): void {
    this.fast?.pool.dispose();
  }
}
