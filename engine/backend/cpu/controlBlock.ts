// The shared control block between the main thread and the kernel workers. One job at a time: a kernel call
// whose rows are cut into chunks that threads claim as they come (so a thread the OS has descheduled delays a
// job by one chunk at most, not by its whole share).
// - SEQ is a seqlock: odd while the main thread writes a job's fields, even once the job is published; workers
//   sleep on it with Atomics.wait and re-read it to be sure the fields they read belong to one job.
// - NEXT counts chunk claims across all jobs (never reset): a job owns claims [FIRST, FIRST + CHUNKS), claimed
//   by compare-and-swap below the job's end, so a worker that wakes late for a finished job claims nothing.
// - DONE counts the job's finished chunks; the main thread returns when it reaches CHUNKS.

export const SEQ = 0;
export const NEXT = 1;
export const DONE = 2;
export const FAILED = 3;
export const OP = 4;
export const BANK = 5;
export const BANKS = 6;
export const X = 7;
export const W = 8;
export const OUT = 9;
export const N = 10;
export const ROWS = 11;
export const COLS = 12;
export const ROW_BLOCK = 13;
export const FIRST = 14;
export const CHUNKS = 15;
export const CHUNK_ROWS = 16;
/** The extent the chunks cut: W's rows (x·Wᵀ) or W's columns (x·W). */
export const SPLIT = 17;
/** A job of HEADS same-shaped matmuls (one chunk each), head h's x, W and out HEAD_STRIDE_* bytes after h - 1's; 0: one matmul. */
export const HEADS = 18;
export const HEAD_STRIDE_X = 19;
export const HEAD_STRIDE_W = 20;
export const HEAD_STRIDE_OUT = 21;
export const CONTROL_INTS = 32;

export const OP_MATMUL_F32 = 0;
export const OP_MATMUL_F16 = 1;
export const OP_MATMUL_BF16 = 2;
export const OP_MATMUL_NN_F32 = 3;
export const OP_MATMUL_F16_FINITE = 4;
export const OP_MATMUL_Q8_0 = 5;
export const OP_MATMUL_Q4_0 = 6;
export const OP_MATMUL_Q4_K = 7;
export const OP_MATMUL_Q5_K = 8;
export const OP_MATMUL_Q6_K = 9;
export const OP_MATMUL_Q5_0 = 10;
export const OP_MATMUL_Q5_1 = 11;
export const OP_STOP = 100;

/** The kernel export of each op, indexed by op code. */
export const MATMUL_EXPORTS = [
  'matmul_f32', 'matmul_f16', 'matmul_bf16', 'matmul_nn_f32', 'matmul_f16_finite',
  'matmul_q8_0', 'matmul_q4_0', 'matmul_q4_k', 'matmul_q5_k', 'matmul_q6_k', 'matmul_q5_0', 'matmul_q5_1',
] as const;
export type MatmulOp = 0 | 1 | 2 | 3 | 4 | 5 | 6 | 7 | 8 | 9 | 10 | 11;

/** The integer-dot kernels over quantised activations (quantDotWat.ts), numbered apart from the ops above. */
export const DOT_EXPORTS = ['dot_q8_0', 'dot_q4_0', 'dot_q4_k', 'dot_q5_k', 'dot_q6_k', 'dot_q5_0'] as const;
export const OP_DOT_BASE = 64;
export type DotOp = 64 | 65 | 66 | 67 | 68 | 69;
/** MLA's absorbed attention, which only the native kernels have (nativeLatentAttention.ts). */
export const OP_ATTEND_LATENT = 80;
export type KernelOp = MatmulOp | DotOp | typeof OP_ATTEND_LATENT;

/** The kernel export of an op. */
export function kernelExport(op: number): (typeof MATMUL_EXPORTS)[number] | (typeof DOT_EXPORTS)[number] | 'attend_latent' {
  if (op === OP_ATTEND_LATENT) return 'attend_latent';
  return op >= OP_DOT_BASE ? DOT_EXPORTS[op - OP_DOT_BASE] : MATMUL_EXPORTS[op];
}

/** The fields of a job as runChunk reads them (the main thread passes its job, a worker the control block's copy). */
export interface ChunkJob {
  x: number;
  w: number;
  out: number;
  n: number;
  rows: number;
  cols: number;
  rowBlock: number;
  split: number;
}

/** Runs chunk `index` of a job: rows [index·CHUNK_ROWS, ...) of one matmul, or head `index` of a per-head job. */
export function runChunk(kernel: (...a: number[]) => void, control: Int32Array, index: number, job: ChunkJob): void {
  if (control[HEADS] > 0) {
    kernel(job.x + index * control[HEAD_STRIDE_X], job.w + index * control[HEAD_STRIDE_W], job.out + index * control[HEAD_STRIDE_OUT],
      job.n, job.rows, job.cols, 0, job.split, job.rowBlock);
    return;
  }
  const r0 = index * control[CHUNK_ROWS];
  kernel(job.x, job.w, job.out, job.n, job.rows, job.cols, r0, Math.min(job.split, r0 + control[CHUNK_ROWS]), job.rowBlock);
}

/** Polls before sleeping: a futex wake-up costs tens of microseconds, and jobs come back to back in a forward. */
export const SPIN_ITERATIONS = 20000;

/** Claims the next chunk of the job whose claims end at `end`, or returns -1 when none is left. */
export function claimChunk(control: Int32Array, end: number): number {
  for (;;) {
    const next = Atomics.load(control, NEXT);
    if (next - end >= 0) return -1;
    if (Atomics.compareExchange(control, NEXT, next, next + 1) === next) return next;
  }
}
