// The WebAssembly JS API as the CPU backend uses it, and the kernel exports' signatures. (Kept apart from the
// assembler, so that worker threads load only this.)

// The project's TypeScript lib has no DOM/WebAssembly typings; these are the few parts we use.
export interface WasmMemory {
  readonly buffer: SharedArrayBuffer;
  grow(pages: number): number;
}
export type WasmModule = object;
interface WasmApi {
  Module: new (bytes: Uint8Array) => WasmModule;
  Instance: new (module: WasmModule, imports: object) => { exports: object };
  Memory: new (descriptor: { initial: number; maximum: number; shared: true }) => WasmMemory;
}
export const wasm = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;

/** matmul(x, w, out, n, rows, cols, r0, r1, rowBlock): see matmulWat.ts. Pointers are byte offsets. */
type MatmulExport = (x: number, w: number, out: number, n: number, rows: number, cols: number, r0: number, r1: number, rowBlock: number) => void;

type QuantiseExport = (x: number, dst: number, n: number, cols: number) => void;

export interface KernelExports {
  matmul_f32: MatmulExport;
  matmul_f16: MatmulExport;
  matmul_bf16: MatmulExport;
  /** matmul_nn_f32(p, w, out, n, k, m, c0, c1, unused): out = p · W for W stored [k, m] (see matmulWat.ts). */
  matmul_nn_f32: MatmulExport;
  /** matmul_f16 for weights that hold no inf/nan (a cheaper decode). */
  matmul_f16_finite: MatmulExport;
  /** matmul over GGML block-quantised W, decoded in registers (see quantMatmulWat.ts). */
  matmul_q8_0: MatmulExport;
  matmul_q4_0: MatmulExport;
  matmul_q4_k: MatmulExport;
  matmul_q5_k: MatmulExport;
  matmul_q6_k: MatmulExport;
  matmul_q5_0: MatmulExport;
  matmul_q5_1: MatmulExport;
  /** Integer-dot matmuls over quantised activations (see quantDotWat.ts). */
  dot_q8_0: MatmulExport;
  dot_q4_0: MatmulExport;
  dot_q4_k: MatmulExport;
  dot_q5_k: MatmulExport;
  dot_q6_k: MatmulExport;
  dot_q5_0: MatmulExport;
  /** Native only (AVX-512 or AVX2, beside the integer dots): quantiseActivations' Q8_0 / Q8_K of x f32 [n, cols] at `x` into `dst`, byte for byte. */
  quantise_q8_0?: QuantiseExport;
  quantise_q8_k?: QuantiseExport;
  /** 1 when none of `count` f16 values (a multiple of 8) at `ptr` is inf or nan. */
  f16_finite: (ptr: number, count: number) => number;
}

export function instantiateKernels(module: WasmModule, memory: WasmMemory): KernelExports {
  return new wasm.Instance(module, { env: { memory } }).exports as unknown as KernelExports;
}
