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
export const CONTROL_INTS = 32;

export const OP_MATMUL_F32 = 0;
export const OP_MATMUL_F16 = 1;
export const OP_MATMUL_BF16 = 2;
export const OP_MATMUL_NN_F32 = 3;
export const OP_MATMUL_F16_FINITE = 4;
export const OP_STOP = 100;

export const MATMUL_EXPORTS = ['matmul_f32', 'matmul_f16', 'matmul_bf16', 'matmul_nn_f32', 'matmul_f16_finite'] as const;

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
