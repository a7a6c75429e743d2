// Assembles the WAT kernels (matmulWat.ts) into one WebAssembly module with wabt, once per process. The
// module is instantiated per thread and per weight bank (each bank is its own shared memory).
import wabt = require('wabt');
import { matmulWat } from './matmulWat';
import { wasm, WasmModule } from './wasmKernels';

let compiled: Promise<WasmModule> | undefined;

export function kernelModule(): Promise<WasmModule> {
  compiled ??= (async () => {
    const assembler = await wabt();
    const parsed = assembler.parseWat('matmul.wat', matmulWat(), { simd: true, threads: true });
    try {
      // V8 validates the binary as it compiles it.
      return new wasm.Module(parsed.toBinary({}).buffer);
    } finally {
      parsed.destroy();
    }
  })();
  return compiled;
}
