// Microbenchmark: one matmul over quantised weights on one thread, the integer-dot kernels (quantised
// activations) against the f32-activation kernels and against F16 weights, interleaved, medians per call.
//
//   node out/test/bench/quantMatmul.js [--types q8_0,q4_0,q5_0,q4_k,q5_k,q6_k] [--rounds 15] [--tokens 1,64]
//
// The kernels are the engine's choice (LATENT_CPU_KERNELS): with the native module the integer dots and F16 are
// native (AVX-512), the f32-activation quantised kernels WASM either way.
//
// Shapes rows x cols: 2048x2048 (attention-sized) and 1408x2048 (an expert's gate/up); n = 1 (decode) and 64
// (a prefill chunk). The last line is one JSON object.
import { CpuBackend } from '../../engine/backend/cpu/cpuBackend';
import { signedUniform } from '../../engine/generate/seededRandom';
import { encodeF16 } from '../../engine/weights/halfPrecision';
import type { QuantDType } from '../../engine/weights/ggmlTypes';
import { quantiseRow } from '../../engine/weights/quantise';
import type { Tensor } from '../../engine/weights/tensor';
import { median } from './benchModel';

function argValue(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}
const TYPES = (argValue('types') ?? 'q8_0,q4_0,q5_0,q4_k,q5_k,q6_k').split(',').map((t) => t.toUpperCase() as QuantDType);
const ROUNDS = Number(argValue('rounds') ?? 15);
const SHAPES: [number, number][] = [[2048, 2048], [1408, 2048]];
const TOKENS = (argValue('tokens') ?? '1,64').split(',').map(Number);

async function main(): Promise<void> {
  const f32Act = await CpuBackend.create({ threads: 1, integerDot: false });
  const intDot = await CpuBackend.create({ threads: 1, integerDot: true, shareWeightsWith: f32Act });
  const results: Record<string, number | string>[] = [];
  for (const [rows, cols] of SHAPES) {
    const values = Float32Array.from({ length: rows * cols }, signedUniform(rows + cols));
    const f16 = f32Act.allocateWeight('f16', 'F16', [rows, cols]);
    encodeF16(values, new Uint16Array(f16.bytes.buffer, f16.bytes.byteOffset, rows * cols));
    const weights = new Map<QuantDType, Tensor>();
    for (const t of TYPES) {
      const w = f32Act.allocateWeight(t, t, [rows, cols]);
      quantiseRow(t, values, w.bytes);
      weights.set(t, w.tensor);
    }
    for (const n of TOKENS) {
      const x = Float32Array.from({ length: n * cols }, signedUniform(n * 7 + cols));
      const out = new Float32Array(n * rows);
      // Enough calls per sample for ~5 ms.
      const reps = n === 1 ? 10 : 1;
      const variants: [string, () => void][] = [['F16', () => f32Act.matmul(out, x, n, f16.tensor)]];
      for (const t of TYPES) {
        variants.push([`${t} f32-act`, () => f32Act.matmul(out, x, n, weights.get(t)!)]);
        variants.push([`${t} int-dot`, () => intDot.matmul(out, x, n, weights.get(t)!)]);
      }
      const samples = variants.map(() => [] as number[]);
      for (const [, run] of variants) run(); // warm up
      for (let round = 0; round < ROUNDS; round++) {
        variants.forEach(([, run], v) => {
          const t0 = process.hrtime.bigint();
          for (let i = 0; i < reps; i++) run();
          samples[v].push(Number(process.hrtime.bigint() - t0) / 1e6 / reps);
        });
      }
      const medians = samples.map(median);
      const line = variants.map(([name], v) => `${name} ${medians[v].toFixed(3)}`).join(', ');
      console.log(`${rows}x${cols} n=${n} (ms per matmul, median of ${ROUNDS}): ${line}`);
      for (const t of TYPES) {
        const a = medians[variants.findIndex(([name]) => name === `${t} f32-act`)];
        const b = medians[variants.findIndex(([name]) => name === `${t} int-dot`)];
        results.push({ rows, cols, n, type: t, f16Ms: medians[0], f32ActMs: a, intDotMs: b, speedupVsF32Act: a / b, speedupVsF16: medians[0] / b });
        console.log(`  ${t}: int-dot ${(a / b).toFixed(2)}x the f32-activation kernel, ${(medians[0] / b).toFixed(2)}x F16`);
      }
    }
  }
  intDot.dispose();
  f32Act.dispose();
  console.log(JSON.stringify({ bench: 'quantMatmul', threads: 1, rounds: ROUNDS, results }));
}

void main();
