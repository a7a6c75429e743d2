// The shared control block between the main thread and the kernel workers: one job at a time, published by
// bumping SEQ (workers sleep on it with Atomics.wait), finished when DONE counts every worker. A job is one
// kernel call split by rows: each thread runs the same call on its own row range.

export const SEQ = 0;
export const DONE = 1;
export const OP = 2;
export const BANK = 3;
export const BANKS = 4;
export const FAILED = 5;
export const X = 6;
export const W = 7;
export const OUT = 8;
export const N = 9;
export const ROWS = 10;
export const COLS = 11;
export const ROW_BLOCK = 12;
/** Per thread t: its row range [RANGES + 2t, RANGES + 2t + 1). */
export const RANGES = 16;
export const MAX_THREADS = 64;
export const CONTROL_INTS = RANGES + 2 * MAX_THREADS;

export const OP_MATMUL_F32 = 0;
export const OP_MATMUL_F16 = 1;
export const OP_MATMUL_BF16 = 2;
export const OP_STOP = 100;

export const MATMUL_EXPORTS = ['matmul_f32', 'matmul_f16', 'matmul_bf16'] as const;

/** Polls before sleeping: a futex wake-up costs tens of microseconds, and jobs come back to back in a forward. */
export const SPIN_ITERATIONS = 20000;
