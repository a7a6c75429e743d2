// node out/test/bench/longContextAttention.js [--context 32768] [--rows 16]
//
// MLA's absorbed attention on the CPU at a long context, one decode step of one layer (16 heads = 16 query rows over
// the context's 512 + 64 latent rows, V2-Lite's shape): the fast backend (2 threads; past 64 MiB of latents it
// attends segment by segment and combines them, flash-decoding style) against the double-precision reference
// loops, which is what such a context took before the segments. Medians of 5, interleaved; the last line is JSON.
import { CpuBackend } from '../../engine/backend/cpu/cpuBackend';
import type { LatentAttention } from '../../engine/backend/cpu/attentionJobs';
import { attendLatentReference } from '../../engine/backend/cpu/latentAttention';
import type { LatentChunk } from '../../engine/cache/latentCache';
import { signedUniform } from '../../engine/generate/seededRandom';
import { median } from './benchModel';

const args = process.argv.slice(2);
const flag = (name: string, def: number) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : def;
};

async function main(): Promise<void> {
  const [r, dr, L, rows] = [512, 64, flag('context', 32768), flag('rows', 16)];
  const rand = signedUniform(3);
  const latents: LatentChunk[] = [];
  for (let s = 0; s < L; s += 16) latents.push({ start: s, count: 16, cKv: Float32Array.from({ length: 16 * r }, rand), kPe: Float32Array.from({ length: 16 * dr }, rand) });
  const a: LatentAttention = {
    out: new Float32Array(rows * r), qLat: Float32Array.from({ length: rows * r }, rand), qPe: Float32Array.from({ length: rows * dr }, rand),
    rows, visible: new Int32Array(rows).fill(L), latents, kvLoraRank: r, ropeDim: dr, scale: 0.07,
  };
  const backend = await CpuBackend.create({ threads: 2 });
  const fast: number[] = [], reference: number[] = [];
  backend.attendLatentRows(a); // warm-up
  for (let i = 0; i < 5; i++) {
    let t0 = performance.now();
    backend.attendLatentRows(a);
    fast.push(performance.now() - t0);
    t0 = performance.now();
    attendLatentReference(a);
    reference.push(performance.now() - t0);
  }
  backend.dispose();
  const [f, ref] = [median(fast), median(reference)];
  console.log(`context ${L}, ${rows} query rows: fast ${f.toFixed(1)} ms, reference ${ref.toFixed(1)} ms, x${(ref / f).toFixed(1)}`);
  console.log(JSON.stringify({ bench: 'long-context-attention', context: L, rows, fast_ms: f, reference_ms: ref, speedup: ref / f }));
}

void main();
