// The kernel threads: the main thread plus (threads - 1) persistent workers over shared memory. `run` is
// synchronous: it publishes a job, does the main thread's share, and blocks until the workers are done, so the
// model's code stays an ordinary sequence of calls.
import * as path from 'node:path';
import { MessageChannel, Worker } from 'node:worker_threads';
import * as C from './controlBlock';
import { Kernels, KernelSet, kernelsOn } from './kernelSet';
import type { WeightArena } from './weightArena';

/** A kernel call, split by the pool into per-thread row ranges (`split`: `rows` for x·Wᵀ, W's column count for x·W). */
export interface MatmulJob extends C.ChunkJob {
  /** OP_MATMUL_*: out = x·Wᵀ, threads split W's rows; OP_MATMUL_NN_F32: out = x·W, threads split W's columns. */
  op: C.KernelOp;
  bank: number;
  /**
   * Per-head matmuls (MLA's W_UK / W_UV): `count` of them, head h's x, W and out at h times these byte strides past
   * the job's; the threads split the heads, each running its whole matmul over rows [0, split).
   */
  heads?: { count: number; x: number; w: number; out: number };
}

/** Bytes of W per row block: the block is reused by every token block, so it should stay in L2. */
const ROW_BLOCK_BYTES = 256 << 10;

/** A job's `rowBlock` for rows of `rowBytes` bytes: whole register tiles of 4 rows, about ROW_BLOCK_BYTES of W. */
export function rowBlockFor(rowBytes: number): number {
  return Math.max(4, Math.floor(ROW_BLOCK_BYTES / rowBytes / 4) * 4);
}

/** Below this many multiply-adds a job runs on the calling thread alone: waking workers would cost more. */
export const MIN_PARALLEL_MACS = 1 << 17;

/** A stuck worker (it crashed, or was killed) must not hang the process forever. */
const WORKER_TIMEOUT_MS = 300_000;

export class KernelThreads {
  private readonly control = new Int32Array(new SharedArrayBuffer(C.CONTROL_INTS * 4));
  private readonly workers: Worker[] = [];
  private readonly bankPorts: import('node:worker_threads').MessagePort[] = [];
  private readonly mainKernels: Kernels[] = [];
  private disposed = false;

  private constructor(readonly threads: number, private readonly kernels: KernelSet, private readonly arena: WeightArena, private readonly minParallelMacs: number) {}

  static async start(threads: number, kernels: KernelSet, arena: WeightArena, minParallelMacs = MIN_PARALLEL_MACS): Promise<KernelThreads> {
    if (!Number.isInteger(threads) || threads < 1 || threads > 256) throw new RangeError(`threads must be an integer in 1..256, not ${threads}`);
    const pool = new KernelThreads(threads, kernels, arena, minParallelMacs);
    arena.anyBank();
    for (const bank of arena.banks) pool.mainKernels.push(kernelsOn(kernels, bank.memory));
    const ready: Promise<void>[] = [];
    for (let t = 1; t < threads; t++) {
      const { port1, port2 } = new MessageChannel();
      const worker = new Worker(path.join(__dirname, 'kernelWorker.js'), {
        workerData: { kernels, control: pool.control.buffer, banks: port2, memories: arena.banks.map((b) => b.memory), thread: t },
        transferList: [port2],
      });
      pool.workers.push(worker);
      pool.bankPorts.push(port1);
      ready.push(new Promise((resolve, reject) => {
        // Unreferenced once running: idle kernel threads must not keep the process alive.
        worker.once('online', () => {
          worker.unref();
          resolve();
        });
        worker.once('error', reject);
      }));
    }
    Atomics.store(pool.control, C.BANKS, arena.banks.length);
    arena.bankListeners.add(pool.bankListener);
    await Promise.all(ready);
    return pool;
  }

  private readonly bankListener = (bank: number) => this.addBank(bank);

  /** Runs a kernel export on the calling thread alone (short whole-tensor passes such as f16_finite). */
  kernelsOf(bank: number): Kernels {
    return this.mainKernels[bank];
  }

  private addBank(bank: number): void {
    const memory = this.arena.banks[bank].memory;
    this.mainKernels.push(kernelsOn(this.kernels, memory));
    for (const port of this.bankPorts) port.postMessage({ memory });
    Atomics.store(this.control, C.BANKS, this.arena.banks.length);
  }

  /** Runs one kernel call over [0, job.split), its chunks shared by the threads; returns when all are done. */
  runMatmul(job: MatmulJob): void {
    if (this.disposed) throw new Error('cpu backend: used after dispose()');
    const kernel = this.mainKernels[job.bank][C.kernelExport(job.op)];
    if (!kernel) throw new Error(`cpu backend: these kernels have no ${C.kernelExport(job.op)}`);
    const heads = job.heads ?? { count: 1, x: 0, w: 0, out: 0 };
    if (this.threads === 1 || heads.count * job.n * job.rows * job.cols < this.minParallelMacs) {
      for (let h = 0; h < heads.count; h++) kernel(job.x + h * heads.x, job.w + h * heads.w, job.out + h * heads.out, job.n, job.rows, job.cols, 0, job.split, job.rowBlock);
      return;
    }
    const c = this.control;
    // Chunks of whole register tiles (4 rows of W; 8 columns for NN), about 4 per thread; latent attention's
    // chunks of 8 query rows (two of its row groups share each latent read), one per thread for 16 heads on 2;
    // per-head jobs one head a chunk.
    const tile = job.op === C.OP_MATMUL_NN_F32 || job.op === C.OP_ATTEND_LATENT ? 8 : 4;
    const chunkRows = job.heads ? job.split : Math.max(tile, Math.ceil(job.split / (this.threads * 4) / tile) * tile);
    const chunks = job.heads ? heads.count : Math.ceil(job.split / chunkRows);
    const first = Atomics.load(c, C.NEXT);
    const end = first + chunks;
    Atomics.add(c, C.SEQ, 1); // odd: writing
    c[C.OP] = job.op;
    c[C.BANK] = job.bank;
    c[C.X] = job.x;
    c[C.W] = job.w;
    c[C.OUT] = job.out;
    c[C.N] = job.n;
    c[C.ROWS] = job.rows;
    c[C.COLS] = job.cols;
    c[C.ROW_BLOCK] = job.rowBlock;
    c[C.FIRST] = first;
    c[C.CHUNKS] = chunks;
    c[C.CHUNK_ROWS] = chunkRows;
    c[C.SPLIT] = job.split;
    c[C.HEADS] = job.heads ? heads.count : 0;
    c[C.HEAD_STRIDE_X] = heads.x;
    c[C.HEAD_STRIDE_W] = heads.w;
    c[C.HEAD_STRIDE_OUT] = heads.out;
    Atomics.store(c, C.DONE, 0);
    Atomics.add(c, C.SEQ, 1); // even: published
    Atomics.notify(c, C.SEQ);
    for (let chunk = C.claimChunk(c, end); chunk >= 0; chunk = C.claimChunk(c, end)) {
      C.runChunk(kernel, c, chunk - first, job);
      Atomics.add(c, C.DONE, 1);
    }
    this.awaitChunks(chunks);
  }

  /** Waits until every chunk of the job is finished (the last ones may still be running in workers). */
  private awaitChunks(chunks: number): void {
    const c = this.control;
    let done = Atomics.load(c, C.DONE);
    for (let i = 0; i < C.SPIN_ITERATIONS && done < chunks; i++) done = Atomics.load(c, C.DONE);
    while (done < chunks) {
      if (Atomics.wait(c, C.DONE, done, WORKER_TIMEOUT_MS) === 'timed-out') {
        throw new Error(`cpu backend: a kernel worker did not finish within ${WORKER_TIMEOUT_MS / 1000} s`);
      }
      done = Atomics.load(c, C.DONE);
    }
    if (Atomics.exchange(c, C.FAILED, 0) !== 0) throw new Error('cpu backend: a kernel failed in a worker thread (see stderr)');
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    Atomics.add(this.control, C.SEQ, 1);
    this.control[C.OP] = C.OP_STOP;
    Atomics.add(this.control, C.SEQ, 1);
    Atomics.notify(this.control, C.SEQ);
    for (const port of this.bankPorts) port.close();
    for (const worker of this.workers) void worker.terminate();
    this.arena.bankListeners.delete(this.bankListener);
  }
}
