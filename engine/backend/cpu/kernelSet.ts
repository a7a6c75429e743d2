// The kernels a thread runs on a bank: the WASM module's exports, with the native module's in place of the ops
// it has when the backend chose native kernels (kernelChoice.ts). Every thread (main and workers) builds its
// own set per bank from this description, which is plain data so that it can be sent to a worker.
import { bindNative, NativeFusedOps, NativeIsa } from './nativeKernels';
import { instantiateKernels, KernelExports, WasmMemory, WasmModule } from './wasmKernels';

export interface KernelSet {
  wasm: WasmModule;
  /** Native kernels on this instruction set, or none (WASM only). */
  native?: NativeIsa;
}

/** A thread's kernels on one bank: the WASM exports, the native ones over them, and latent attention where native. */
export type Kernels = KernelExports & Partial<NativeFusedOps>;

export function kernelsOn(set: KernelSet, memory: WasmMemory): Kernels {
  const wasm = instantiateKernels(set.wasm, memory);
  return set.native ? { ...wasm, ...bindNative(memory, set.native) } : wasm;
}
