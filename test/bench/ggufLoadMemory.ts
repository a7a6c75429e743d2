// npm run bench:gguf-memory [-- --layers N] [-- --type q4_k|q8_0] [-- --work DIR] [-- --keep]
//
// What it takes to load a big GGUF file: a DeepSeek-V2-Lite-shaped model (27 layers by default, the real vocabulary)
// in Q4_K (llama.cpp's Q4_K_M layout: Q6_K output, F32 norms and router) with random blocks is written to disk, then
// a fresh process loads it on the CPU backend and decodes two tokens; its peak resident memory is compared with the
// file's size. The target (issue 12): at most the file's size plus 1.5 GB, i.e. the weights are never held twice.
// Random blocks, not quantised random floats: the values do not matter for memory, and quantising 15.7 B floats would
// take most of an hour on two cores. The last line of stdout is the JSON report.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { metadataFromConfig } from '../../engine/weights/gguf/deepseek2Metadata';
import { ExportType, planTensors } from '../../engine/weights/gguf/exportGguf';
import { GgufWriter } from '../../engine/weights/gguf/ggufWriter';
import { DType, GGML_TYPES } from '../../engine/weights/ggmlTypes';
import { v2LiteConfig } from './benchModel';

const args = process.argv.slice(2);
const flag = (name: string): string | undefined => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : undefined;
};
const layers = Number(flag('layers') ?? 27);
const type = (flag('type') ?? 'q4_k') as ExportType;
const workDir = flag('work') ?? path.join(os.tmpdir(), 'latent-gguf-memory');
const LIMIT_BYTES = 1.5e9;

function log(msg: string): void {
  process.stderr.write(`${msg}\n`);
}

/** A 32-bit xorshift stream filling bytes fast (the values are irrelevant, only finite scales matter). */
function randomFill(out: Uint8Array, seed: number): number {
  const words = new Uint32Array(out.buffer, out.byteOffset, out.byteLength >> 2);
  let x = seed | 1;
  for (let i = 0; i < words.length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    words[i] = x;
  }
  return x;
}

/** f16 bits of a small positive scale: finite, so every decoded weight is. */
const SMALL_F16 = 0x1400; // 2^-10 · 1.0 ≈ 9.8e-4

/** Patches each block's f16 scales to a small finite value (random bytes could be inf or nan). */
function fixScales(bytes: Uint8Array, dtype: DType): void {
  const { blockBytes } = GGML_TYPES[dtype];
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let b = 0; b + blockBytes <= bytes.byteLength; b += blockBytes) {
    switch (dtype) {
      case 'Q4_K': case 'Q5_K': view.setUint16(b, SMALL_F16, true); view.setUint16(b + 2, SMALL_F16, true); break;
      case 'Q6_K': view.setUint16(b + blockBytes - 2, SMALL_F16, true); break;
      case 'Q8_0': case 'Q4_0': case 'Q5_0': view.setUint16(b, SMALL_F16, true); break;
      case 'Q5_1': view.setUint16(b, SMALL_F16, true); view.setUint16(b + 2, SMALL_F16, true); break;
      case 'F16': view.setUint16(b, SMALL_F16 | (view.getUint16(b, true) & 0x83ff), true); break;
      case 'F32': view.setFloat32(b, 1, true); break;
      default: break;
    }
  }
}

function writeModel(file: string): void {
  const config = v2LiteConfig(layers);
  const planned = planTensors(config, 'split', type, () => {
    throw new Error('random blocks are written directly');
  });
  const tmp = `${file}.partial`;
  const writer = new GgufWriter(tmp, metadataFromConfig(config, 'split', `v2lite-L${layers}-${type}-random`, type === 'q4_k' ? 15 : 7), planned);
  const chunk = new Uint8Array(64 << 20);
  let seed = 7;
  let written = 0;
  try {
    for (const t of planned) {
      const { blockElements, blockBytes } = GGML_TYPES[t.dtype];
      let left = (t.ne.reduce((a, b) => a * b, 1) / blockElements) * blockBytes;
      const step = Math.floor(chunk.byteLength / blockBytes) * blockBytes;
      while (left > 0) {
        const part = chunk.subarray(0, Math.min(step, left));
        seed = randomFill(part, seed);
        fixScales(part, t.dtype);
        writer.append(t.name, part);
        left -= part.byteLength;
        written += part.byteLength;
      }
    }
    writer.close();
  } catch (e) {
    writer.abort();
    throw e;
  }
  fs.renameSync(tmp, file);
  log(`  wrote ${file}: ${planned.length} tensors, ${(written / 1e9).toFixed(2)} GB of weights`);
}

/** Loads the file in a fresh process and decodes two tokens; its peak RSS (bytes) and load time. */
function loadInChild(file: string): { maxRssBytes: number; loadSeconds: number; tokens: number[] } {
  const engineModule = path.resolve(__dirname, '..', '..', 'engine', 'engine.js');
  const script = `
    const { Engine } = require(${JSON.stringify(engineModule)});
    (async () => {
      const t0 = performance.now();
      const engine = await Engine.load(${JSON.stringify(file)}, { backend: 'cpu' });
      const loadSeconds = (performance.now() - t0) / 1000;
      const r = await engine.generate({ prompt: [100000, 1, 2, 3], maxTokens: 2, sampling: { temperature: 0, topP: 1, topK: 0 } });
      engine.dispose();
      console.log(JSON.stringify({ maxRssBytes: process.resourceUsage().maxRSS * 1024, loadSeconds, tokens: r.tokens }));
    })().catch((e) => { console.error(e); process.exit(1); });`;
  const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', maxBuffer: 1 << 20 });
  if (r.status !== 0) throw new Error(`loading ${file} failed (exit ${r.status}): ${r.stderr.trim().split('\n').slice(-3).join(' | ')}`);
  return JSON.parse(r.stdout.trim().split('\n').pop()!);
}

function main(): void {
  fs.mkdirSync(workDir, { recursive: true });
  const file = path.join(workDir, `v2lite-L${layers}-${type}.gguf`);
  log(`gguf-memory: DeepSeek-V2-Lite shape, ${layers} layers, ${type}, random blocks`);
  if (!fs.existsSync(file)) writeModel(file);
  const fileBytes = fs.statSync(file).size;
  const child = loadInChild(file);
  const overhead = child.maxRssBytes - fileBytes;
  log(`  file ${(fileBytes / 1e9).toFixed(2)} GB, peak RSS ${(child.maxRssBytes / 1e9).toFixed(2)} GB: ` +
    `${(overhead / 1e9).toFixed(2)} GB over the file (target at most ${LIMIT_BYTES / 1e9} GB), loaded in ${child.loadSeconds.toFixed(1)} s`);
  if (!args.includes('--keep')) fs.rmSync(file);
  process.stdout.write(JSON.stringify({
    bench: 'gguf-memory', layers, type, file_bytes: fileBytes, peak_rss_bytes: child.maxRssBytes, overhead_bytes: overhead,
    within_target: overhead <= LIMIT_BYTES, load_seconds: child.loadSeconds, decoded_tokens: child.tokens, machine_memory_bytes: os.totalmem(),
  }) + '\n');
}

main();
