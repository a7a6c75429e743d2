// Benchmark: prefill and decode tokens/s of the WebGPU backend on random weights of the DeepSeek-V2-Lite shape,
// made on the GPU by a seeded-random kernel (bf16; 31 GB of weights need not cross the bus), at 0, 4K and 32K
// tokens of context; bytes moved per decoded token (the weights a token reads: attention, the dense or shared MLP,
// its 6 routed experts, lm_head; and the latents of its context) and the share of the device's copy bandwidth
// (measured here) that implies; and the CPU backend on the same shape in the same run.
//
//   npm run bench:gpu-forward [-- --quick] [-- --layers N] [-- --peak-gbps G] [-- --contexts 0,4096,32768]
//
// Without --layers: all 27 layers (V2-Lite), fewer when the memory check says they do not fit; --quick (for
// lavapipe, which is for correctness, ~2.4 GFLOP/s): 2 layers, a 4,096-token vocabulary, 32-token prefill, and
// the CPU alike. Contexts are filled with random latents written through the backend (no prefill of 32K tokens).
// The last line is one JSON object.
import { availableParallelism, loadavg } from 'node:os';
import type { Backend } from '../../engine/backend/backend';
import { CpuBackend } from '../../engine/backend/cpu/cpuBackend';
import { describeAdapter, USAGE } from '../../engine/backend/webgpu/gpuDevice';
import { WebGpuBackend } from '../../engine/backend/webgpu/webGpuBackend';
import { ContiguousLatentCache, LatentCache } from '../../engine/cache/latentCache';
import { checkpointLayout } from '../../engine/model/checkpointLayout';
import type { DeepseekV2Config } from '../../engine/model/config';
import { DeepseekV2Model } from '../../engine/model/deepseekV2';
import { signedUniform } from '../../engine/generate/seededRandom';
import { encodeBf16, f32BitsToBf16 } from '../../engine/weights/halfPrecision';
import { readConfig } from '../../engine/weights/modelFolder';
import type { Tensor } from '../../engine/weights/tensor';
import { median, v2LiteConfig } from './benchModel';

const args = process.argv.slice(2);
const option = (name: string): string | undefined => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : undefined;
};
const quick = args.includes('--quick');
const VOCAB = quick ? 4096 : 102400;
const PREFILL_TOKENS = quick ? 32 : 512;
const CONTEXTS = option('contexts')?.split(',').map(Number) ?? [0, 4096, 32768];
const DECODE_STEPS = quick ? 2 : 16;
const PEAK_GBPS = option('peak-gbps') ? Number(option('peak-gbps')) : null;

/** --config DIR: another model folder's shape (e.g. a fixture, to check the script in seconds), else V2-Lite's. */
const CONFIG_DIR = option('config');

function configFor(layers: number): DeepseekV2Config {
  if (CONFIG_DIR) return { ...readConfig(CONFIG_DIR), numLayers: layers };
  return { ...v2LiteConfig(layers), vocabSize: VOCAB };
}

/** bf16 weights made on the GPU; norms (1) and kv_b_proj (split into W_UK/W_UV on the host at load) from the host. */
function gpuWeights(c: DeepseekV2Config, backend: WebGpuBackend): Map<string, Tensor> {
  const weights = new Map<string, Tensor>();
  const rand = signedUniform(7);
  for (const spec of checkpointLayout(c)) {
    if (spec.kind === 'norm' || spec.name.endsWith('kv_b_proj.weight')) {
      const { tensor } = backend.allocateWeight(spec.name, 'BF16', spec.shape);
      if (spec.kind === 'norm') tensor.data.fill(f32BitsToBf16(0x3f800000));
      else {
        const scale = 1 / Math.sqrt(spec.shape[1]);
        encodeBf16(Float32Array.from({ length: tensor.data.length }, () => rand() * scale), tensor.data as Uint16Array);
      }
      weights.set(spec.name, tensor);
    } else {
      weights.set(spec.name, backend.randomWeight(spec.name, 'BF16', spec.shape, spec.kind === 'linear' ? 1 / Math.sqrt(3 * spec.shape[1]) : 0.5));
    }
  }
  return weights;
}

/** bf16 weights for the CPU, tiled from a pool of random numbers (as cpuForward.ts: filling 10^9 one by one is slower than the bench). */
function cpuWeights(c: DeepseekV2Config, backend: CpuBackend): Map<string, Tensor> {
  const rand = signedUniform(11);
  const POOL = 1 << 20, RUN = 1 << 16;
  const pool = new Uint16Array(POOL + RUN);
  encodeBf16(Float32Array.from({ length: pool.length }, () => rand() * 0.03), pool);
  const weights = new Map<string, Tensor>();
  for (const spec of checkpointLayout(c)) {
    const { tensor } = backend.allocateWeight(spec.name, 'BF16', spec.shape);
    const d = tensor.data as Uint16Array;
    if (spec.kind === 'norm') d.fill(f32BitsToBf16(0x3f800000));
    else {
      for (let i = 0; i < d.length; i += RUN) {
        const start = Math.floor(((rand() + 1) / 2) * POOL);
        d.set(pool.subarray(start, start + Math.min(RUN, d.length - i)), i);
      }
    }
    weights.set(spec.name, tensor);
  }
  return weights;
}

/** Bytes one decoded token reads at `context` tokens: the weights it uses (bf16) and its context's latents (fp32). */
function bytesPerToken(c: DeepseekV2Config, context: number): number {
  let params = 0;
  for (const spec of checkpointLayout(c)) {
    const n = spec.shape.reduce((a, b) => a * b, 1);
    if (spec.name.includes('embed_tokens')) params += c.hiddenSize; // one row
    else if (spec.name.includes('mlp.experts.')) params += n * c.numExpertsPerTok / c.nRoutedExperts!;
    else params += n;
  }
  return params * 2 + (context + 1) * c.numLayers * (c.kvLoraRank + c.qkRopeHeadDim) * 4;
}

/** Fills `cache` with `count` tokens of random latents in every layer, through the backend's own ops. */
async function fillContext(backend: Backend, model: DeepseekV2Model, cache: LatentCache, count: number): Promise<void> {
  const c = model.config;
  const width = c.kvLoraRank + c.qkRopeHeadDim;
  const CHUNK = 4096;
  for (let first = 0; first < count; first += CHUNK) {
    const n = Math.min(CHUNK, count - first);
    const rand = signedUniform(first + 1);
    const table = backend.allocateWeight(`latents ${first}`, 'F32', [n, width]).tensor;
    for (let i = 0; i < table.data.length; i++) table.data[i] = rand() * 0.1;
    const rows = backend.embed(backend.adoptWeight(table), Int32Array.from({ length: n }, (_, i) => i));
    cache.grow(n);
    const items = [{ cache, row: 0, count: n, pos0: first }];
    const cKv = backend.sliceCols(rows, 0, c.kvLoraRank), kPe = backend.sliceCols(rows, c.kvLoraRank, c.qkRopeHeadDim);
    for (let l = 0; l < c.numLayers; l++) backend.writeLatents(l, items, cKv, kPe);
    await backend.read(backend.sliceRows(rows, 0, 1));
    backend.endStep();
  }
}

interface Figures {
  prefillTokS: number;
  decode: { context: number; tokS: number; bytesPerToken: number; gbps: number }[];
}

async function measure(name: string, model: DeepseekV2Model, backend: Backend): Promise<Figures> {
  const c = model.config;
  const rand = signedUniform(3);
  const prompt = Array.from({ length: PREFILL_TOKENS }, () => Math.floor((rand() + 1) / 2 * model.config.vocabSize));
  const newCache = () => new ContiguousLatentCache(c.numLayers, c.kvLoraRank, c.qkRopeHeadDim);
  await model.forward([{ cache: newCache(), tokens: prompt.slice(0, 4), logits: 'last' }]); // warm-up (pipelines, stacks)
  const prefill: number[] = [];
  for (let run = 0; run < 2; run++) {
    const t0 = performance.now();
    await model.forward([{ cache: newCache(), tokens: prompt, logits: 'last' }]);
    prefill.push(performance.now() - t0);
  }
  const prefillTokS = PREFILL_TOKENS / (median(prefill) / 1000);
  console.log(`${name}: prefill ${PREFILL_TOKENS} tokens: ${prefillTokS.toFixed(1)} tok/s`);
  const decode: Figures['decode'] = [];
  for (const context of CONTEXTS) {
    const cache = newCache();
    await fillContext(backend, model, cache, context);
    const times: number[] = [];
    for (let s = 0; s < DECODE_STEPS + 1; s++) {
      const t0 = performance.now();
      await model.forward([{ cache, tokens: [prompt[s % prompt.length]], logits: 'last' }], { attentionPath: 'absorbed' });
      if (s > 0) times.push(performance.now() - t0); // the first step at a new length compiles nothing new, but warms caches
    }
    const tokS = 1000 / median(times);
    const bytes = bytesPerToken(c, context);
    decode.push({ context, tokS, bytesPerToken: bytes, gbps: bytes * tokS / 1e9 });
    console.log(`${name}: decode at context ${context}: ${tokS.toFixed(2)} tok/s, ${(bytes / 1e6).toFixed(1)} MB/token -> ${(bytes * tokS / 1e9).toFixed(2)} GB/s`);
  }
  return { prefillTokS, decode };
}

/** The device's copy bandwidth (read + write of a 256 MiB buffer), GB/s: the roofline decode is measured against. */
async function gpuCopyGBps(backend: WebGpuBackend): Promise<number> {
  const device = backend.runtime.device;
  const bytes = 256 << 20;
  const a = device.createBuffer({ size: bytes, usage: USAGE.COPY_SRC | USAGE.COPY_DST });
  const b = device.createBuffer({ size: bytes, usage: USAGE.COPY_SRC | USAGE.COPY_DST });
  const times: number[] = [];
  for (let i = 0; i < 4; i++) {
    const enc = device.createCommandEncoder();
    enc.copyBufferToBuffer(a, 0, b, 0, bytes);
    const t0 = performance.now();
    device.queue.submit([enc.finish()]);
    await device.queue.onSubmittedWorkDone();
    if (i > 0) times.push(performance.now() - t0);
  }
  a.destroy();
  b.destroy();
  return (2 * bytes) / (median(times) / 1000) / 1e9;
}

/** GFLOP/s of the tiled GEMM at the prefill shape DESIGN.md quotes for lavapipe (512 x 2048 -> 1408, bf16 weights). */
async function gemmGflops(backend: WebGpuBackend): Promise<number> {
  const M = 512, K = 2048, N = 1408;
  const w = backend.randomWeight('gemm probe', 'BF16', [N, K], 0.02);
  const table = backend.randomWeight('gemm probe x', 'F32', [M, K], 1);
  const ids = Int32Array.from({ length: M }, (_, i) => i);
  const times: number[] = [];
  for (let run = 0; run < 3; run++) {
    const x = backend.embed(table, ids);
    await backend.read(backend.sliceRows(x, 0, 1));
    const t0 = performance.now();
    const y = backend.linear(x, w);
    await backend.read(backend.sliceRows(y, 0, 1));
    if (run > 0) times.push(performance.now() - t0);
    backend.endStep();
  }
  return (2 * M * K * N) / (median(times) / 1000) / 1e9;
}

async function main(): Promise<void> {
  // All 27 layers where the device takes them (found by placing them), else half as many, and so on; 2 with --quick.
  let layers = option('layers') ? Number(option('layers')) : quick ? 2 : 27;
  for (;;) {
    const gpu = await WebGpuBackend.create();
    let model: DeepseekV2Model;
    try {
      model = new DeepseekV2Model(configFor(layers), gpuWeights(configFor(layers), gpu), gpu);
      await gpu.settle();
    } catch (e) {
      gpu.dispose();
      // Only memory is a reason to try fewer layers (out-of-memory and over-budget errors are RangeErrors).
      if (layers <= 1 || !(e instanceof RangeError)) throw e;
      console.log(`${layers} layers do not fit (${(e as Error).message.split('\n')[0]}); trying ${Math.floor(layers / 2)}`);
      layers = Math.floor(layers / 2);
      continue;
    }
    return run(gpu, model, layers, describeAdapter(gpu.runtime.summary));
  }
}

async function run(gpu: WebGpuBackend, model: DeepseekV2Model, layers: number, adapter: string): Promise<void> {
  console.log(`gpu-forward: ${CONFIG_DIR ? `${CONFIG_DIR}'s shape` : 'DeepSeek-V2-Lite shape'}, ${layers} of ${CONFIG_DIR ? readConfig(CONFIG_DIR).numLayers : 27} layers, vocabulary ${model.config.vocabSize}, bf16 weights made on the GPU (${(gpu.weights.bytesResident / 2 ** 30).toFixed(2)} GiB placed)`);
  console.log(`adapter: ${adapter}; host: ${availableParallelism()} cores, load ${loadavg()[0].toFixed(2)}`);
  const copy = await gpuCopyGBps(gpu);
  console.log(`device copy bandwidth: ${copy.toFixed(1)} GB/s${PEAK_GBPS ? `, nominal peak ${PEAK_GBPS} GB/s` : ''}`);
  const gemm = await gemmGflops(gpu);
  console.log(`tiled GEMM 512x2048 -> 1408 (bf16 weights): ${gemm.toFixed(1)} GFLOP/s`);
  const g = await measure('webgpu', model, gpu);
  gpu.dispose();

  const cpu = await CpuBackend.create();
  const cpuModel = new DeepseekV2Model(configFor(layers), cpuWeights(configFor(layers), cpu), cpu);
  const k = await measure(`cpu (${cpu.name})`, cpuModel, cpu);
  cpu.dispose();

  const roof = PEAK_GBPS ?? copy;
  const share = g.decode[0].gbps / roof;
  console.log(`webgpu vs cpu: prefill x${(g.prefillTokS / k.prefillTokS).toFixed(2)}, decode at 0 context x${(g.decode[0].tokS / k.decode[0].tokS).toFixed(2)}; ` +
    `decode uses ${(share * 100).toFixed(1)}% of the ${PEAK_GBPS ? 'nominal' : 'measured copy'} bandwidth`);
  console.log(JSON.stringify({
    decode_tok_s: g.decode[0].tokS,
    prefill_tok_s: g.prefillTokS,
    bandwidth_share: share,
    adapter,
    layers,
    vocab: model.config.vocabSize,
    decode_by_context: Object.fromEntries(g.decode.map((d) => [d.context, d.tokS])),
    bytes_per_token: Object.fromEntries(g.decode.map((d) => [d.context, d.bytesPerToken])),
    device_copy_gbps: copy,
    gemm_gflops: gemm,
    cpu: { backend: 'cpu', prefill_tok_s: k.prefillTokS, decode_by_context: Object.fromEntries(k.decode.map((d) => [d.context, d.tokS])) },
  }));
}

main().then(() => process.exit(0), (e) => {
  console.error(e);
  process.exit(1);
});
