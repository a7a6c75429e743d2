// The native kernel module (native/: C over AVX-512 or AVX2 with FMA), loaded when it is there: beside the bundle
// in a platform .vsix (dist/latent_kernels.node) or in the build folder (out/native/). It binds the same kernel
// signature as the WASM exports to a weight bank's memory, for the ops it has; the WASM kernels do the rest.
// Loading only: which kernels a backend runs is decided (and checked) in kernelChoice.ts.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { KernelExports, WasmMemory } from './wasmKernels';

/** The ops the native module has on every instruction set (every other op stays on the WASM kernels). */
export const NATIVE_MATMUL_OPS = ['matmul_f32', 'matmul_f16', 'matmul_bf16', 'matmul_f16_finite', 'matmul_nn_f32'] as const;
/** The integer-dot ops it has where the CPU runs them (AVX-512 BW + VNNI, or AVX2): bit-identical to the WASM exports. */
export const NATIVE_DOT_OPS = ['dot_q8_0', 'dot_q4_0', 'dot_q5_0', 'dot_q4_k', 'dot_q5_k', 'dot_q6_k'] as const;
/** With them, the activations' quantisation (quantiseActivations.ts), byte for byte. */
export const NATIVE_QUANTISE_OPS = ['quantise_q8_0', 'quantise_q8_k'] as const;
export type NativeOps = Pick<KernelExports, (typeof NATIVE_MATMUL_OPS)[number]> &
  Partial<Pick<KernelExports, (typeof NATIVE_DOT_OPS)[number] | (typeof NATIVE_QUANTISE_OPS)[number]>>;

/** The fused kernels (native/ops_addon.c), which have no WASM exports: the backend calls them where they are bound. */
export interface NativeFusedOps {
  /** Writes at byte offset `table` of the bank the table of a sequence's chunks (c_kv [count, r], k_pe [count, dr]). */
  latent_table(table: number, cKvs: Float32Array[], kPes: Float32Array[], r: number, dr: number): void;
  /** attend_latent(params, 0, 0, 1, rows, work, r0, r1, 0): query rows [r0, r1) of the problem at `params`. */
  attend_latent: KernelExports['matmul_f32'];
  /** Per row i of s [rows, stride]: its first visible[i] entries times `scale`, then softmax; the rest 0 (headAttention.ts). */
  softmax_rows(s: Float32Array, rows: number, stride: number, visible: Int32Array, scale: number): void;
  /** gate = silu(gate)·up, in place (cpuBackend.siluMul). */
  silu_mul(gate: Float32Array, up: Float32Array): void;
}

export type NativeIsa = 'avx512' | 'avx2';

interface NativeModule {
  isas(): NativeIsa[];
  bind(memory: WasmMemory, isa: NativeIsa): NativeOps & NativeFusedOps;
}

/** Where the module may be, first found wins: beside this file once bundled (dist/), or the build folder. */
export function nativeModulePaths(): string[] {
  return [path.join(__dirname, 'latent_kernels.node'), path.resolve(__dirname, '..', '..', '..', 'native', 'latent_kernels.node')];
}

let loaded: { module: NativeModule; file: string } | { error: string } | undefined;

/** The module of this process (loaded once per thread), or why there is none. */
export function loadNativeModule(): { module: NativeModule; file: string } | { error: string } {
  if (loaded) return loaded;
  const file = nativeModulePaths().find((f) => fs.existsSync(f));
  if (!file) {
    loaded = { error: `no native kernel module for ${process.platform}-${process.arch} (not built, or not shipped for this platform)` };
    return loaded;
  }
  try {
    const holder = { exports: {} as NativeModule };
    process.dlopen(holder, file);
    loaded = { module: holder.exports, file };
  } catch (e) {
    loaded = { error: `${file} did not load: ${(e as Error).message}` };
  }
  return loaded;
}

/** The native kernels over one bank's memory; throws when the module is absent or the CPU lacks `isa`. */
export function bindNative(memory: WasmMemory, isa: NativeIsa): NativeOps & NativeFusedOps {
  const m = loadNativeModule();
  if ('error' in m) throw new Error(m.error);
  return m.module.bind(memory, isa);
}
