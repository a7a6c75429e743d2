// Microbenchmark: one matmul out = x·Wᵀ through the fast CPU backend, native kernels (AVX-512, AVX2) against the
// WASM kernels, interleaved, medians per call and GFLOP/s (2·n·rows·cols per call).
//
//   node out/test/bench/nativeMatmul.js [--shape 1408x2048] [--tokens 1,512] [--dtypes f16,bf16,f32] [--threads 1] [--rounds 7]
//
// The default shape is a DeepSeek-V2-Lite expert's gate/up (1408x2048); n = 512 is a pp512 batch, n = 1 decode.
// The last line is one JSON object.
import { CpuBackend } from '../../engine/backend/cpu/cpuBackend';
import { KernelsOption } from '../../engine/backend/cpu/kernelChoice';
import { loadNativeModule } from '../../engine/backend/cpu/nativeKernels';
import { signedUniform } from '../../engine/generate/seededRandom';
import type { DType } from '../../engine/weights/ggmlTypes';
import { encodeBf16, encodeF16 } from '../../engine/weights/halfPrecision';
import { median } from './benchModel';

function argValue(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}
const [ROWS, COLS] = (argValue('shape') ?? '1408x2048').split('x').map(Number);
const TOKENS = (argValue('tokens') ?? '1,512').split(',').map(Number);
const DTYPES = (argValue('dtypes') ?? 'f16,bf16,f32').split(',').map((d) => d.toUpperCase() as DType);
const THREADS = Number(argValue('threads') ?? 1);
const ROUNDS = Number(argValue('rounds') ?? 7);

async function main(): Promise<void> {
  const loaded = loadNativeModule();
  const kernels: KernelsOption[] = ['wasm', ...('error' in loaded ? [] : loaded.module.isas().map((i) => `native-${i}` as KernelsOption))];
  if ('error' in loaded) console.log(`(native kernels absent: ${loaded.error})`);
  const first = await CpuBackend.create({ threads: THREADS, kernels: kernels[0] });
  const backends = [first, ...(await Promise.all(kernels.slice(1).map((k) => CpuBackend.create({ threads: THREADS, kernels: k, shareWeightsWith: first }))))];
  const values = Float32Array.from({ length: ROWS * COLS }, signedUniform(ROWS + COLS));
  const results: Record<string, number | string>[] = [];
  for (const dtype of DTYPES) {
    const w = first.allocateWeight(dtype, dtype, [ROWS, COLS]);
    if (dtype === 'F32') new Float32Array(w.bytes.buffer, w.bytes.byteOffset, ROWS * COLS).set(values);
    else (dtype === 'F16' ? encodeF16 : encodeBf16)(values, new Uint16Array(w.bytes.buffer, w.bytes.byteOffset, ROWS * COLS));
    for (const n of TOKENS) {
      const x = Float32Array.from({ length: n * COLS }, signedUniform(n + 3));
      const out = new Float32Array(n * ROWS);
      const reps = Math.max(1, Math.round(2e8 / (n * ROWS * COLS)));
      const run = (b: CpuBackend) => {
        for (let i = 0; i < reps; i++) b.matmul(out, x, n, w.tensor);
      };
      backends.forEach(run); // warm up
      const samples = backends.map(() => [] as number[]);
      for (let round = 0; round < ROUNDS; round++) {
        backends.forEach((b, i) => {
          const t0 = process.hrtime.bigint();
          run(b);
          samples[i].push(Number(process.hrtime.bigint() - t0) / 1e6 / reps);
        });
      }
      const ms = samples.map(median);
      const gflops = ms.map((m) => (2 * n * ROWS * COLS) / (m * 1e6));
      console.log(`${dtype} ${ROWS}x${COLS} n=${n}, ${THREADS} thread(s): ` + kernels.map((k, i) => `${k} ${ms[i].toFixed(3)} ms (${gflops[i].toFixed(1)} GFLOP/s)`).join(', '));
      const row: Record<string, number | string> = { dtype, rows: ROWS, cols: COLS, n, threads: THREADS };
      kernels.forEach((k, i) => (row[`${k}_gflops`] = Number(gflops[i].toFixed(2))));
      results.push(row);
    }
  }
  backends.forEach((b) => b.dispose());
  console.log(JSON.stringify({ bench: 'nativeMatmul', results }));
}

void main();
