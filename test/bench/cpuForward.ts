// Benchmark: prefill and decode tokens/s of the CPU backend on random weights of the DeepSeek-V2-Lite layer
// shape, as ratios measured in one run: 2 threads vs 1, f16 vs f32 weights, the WASM kernels vs the reference
// TypeScript kernels, and decode's weight bandwidth vs this machine's memcpy bandwidth (the roofline: decode
// must read every weight it uses once per token).
//
//   npm run bench:cpu-forward [-- --quick]
//   npm run bench:cpu-forward -- --weights f16,q8_0,q4_k [--layers 4] [--prefill-tokens 64] [--vocab 4096] [--integer-dot on|off]
//
// With --weights, only the listed weight types are compared (2 threads, interleaved runs): prefill and decode
// tokens/s per type, decode's weight bandwidth, and the prefill matmuls' GFLOP/s. q8_0 and q4_k quantise the
// linear weights as `--weights` does at load (loadQuantisation.ts: embeddings, norms, the router and weights
// whose rows are not whole blocks stay f16; for DeepSeek-V2-Lite under q4_k that is the experts' down_proj,
// 1408 columns).
//
// The vocabulary is reduced (a real lm_head of 102,400 rows would dominate a model of a few layers); layer 0 is
// dense (intermediate 10944) and the rest are MoE (64 routed experts of 1408, top-6, plus 2 shared), as in
// DeepSeek-V2-Lite. Prints medians; the last line is one JSON object.
//
// The fast backend's kernels are the engine's choice (native where the module loads, else WASM; `kernels` in the
// JSON says which): LATENT_CPU_KERNELS=wasm|native compares the two (contenders keep their `wasm-` names).
import { availableParallelism, loadavg } from 'node:os';
import type { Activation, Backend } from '../../engine/backend/backend';
import { CpuBackend } from '../../engine/backend/cpu/cpuBackend';
import { ContiguousLatentCache } from '../../engine/cache/latentCache';
import { checkpointLayout } from '../../engine/model/checkpointLayout';
import type { DeepseekV2Config } from '../../engine/model/config';
import { DeepseekV2Model } from '../../engine/model/deepseekV2';
import { signedUniform } from '../../engine/generate/seededRandom';
import { encodeBf16, encodeF16, f32BitsToBf16, f32ToF16 } from '../../engine/weights/halfPrecision';
import { GGML_TYPES, rowBytes } from '../../engine/weights/ggmlTypes';
import { planQuantisation, WEIGHT_QUANTISATIONS, WeightQuantisation } from '../../engine/weights/loadQuantisation';
import { quantiseRow } from '../../engine/weights/quantise';
import type { DType } from '../../engine/weights/safetensors';
import { elementCount, Tensor } from '../../engine/weights/tensor';
import { median, v2LiteConfig } from './benchModel';

const quick = process.argv.includes('--quick');
function argValue(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}
function intArg(name: string, fallback: number): number {
  const raw = argValue(name);
  if (raw === undefined) return fallback;
  const v = Number(raw);
  if (!Number.isInteger(v) || v < 1) throw new Error(`--${name} must be a positive integer (got "${raw}")`);
  return v;
}
/** --weights f16,q8_0,q4_k: the weight types to compare (the weights mode); absent: the default comparison. */
type BenchWeights = 'f16' | WeightQuantisation;
const WEIGHT_TYPES = argValue('weights')?.split(',') as BenchWeights[] | undefined;
for (const t of WEIGHT_TYPES ?? []) if (t !== 'f16' && !(WEIGHT_QUANTISATIONS as readonly string[]).includes(t)) throw new Error(`--weights: "${t}" is not one of f16, ${WEIGHT_QUANTISATIONS.join(', ')}`);
/** --integer-dot on|off: force the integer-dot kernels for quantised weights on or off (default: the backend's). */
const INTEGER_DOT = argValue('integer-dot') === undefined ? undefined : argValue('integer-dot') === 'on';
const LAYERS = intArg('layers', WEIGHT_TYPES ? 4 : quick ? 2 : 3);
const VOCAB = intArg('vocab', 4096);
const PREFILL_TOKENS = intArg('prefill-tokens', quick ? 32 : 64);
const PREFILL_RUNS = 2;
const DECODE_STEPS = quick ? 5 : 8;
const REFERENCE_DECODE_STEPS = 2;
/** Decode is also timed over a long context of random latents (as after a long prompt; no prefill needed). */
const LONG_CONTEXT = quick ? 1024 : 4096;
const LONG_DECODE_STEPS = quick ? 2 : 3;
/** f32 weights double the memory and the set-up time; only the full run compares them. */
const WITH_F32 = !quick;

const prng = signedUniform;

/**
 * Random weights straight into the backend's arena: linear layers ~ U(-1,1)/sqrt(in), embeddings ~ U(-1,1),
 * norms 1. Filling ~10^9 numbers one PRNG call at a time would take longer than the benchmark, so each tensor
 * is tiled from a pool of 2^20 random numbers (per scale), starting at a random offset per 64K-run.
 */
function randomWeights(c: DeepseekV2Config, backend: CpuBackend, dtype: DType, seed: number, wanted: (name: string) => boolean = () => true): Map<string, Tensor> {
  const rand = prng(seed);
  const POOL = 1 << 20;
  const RUN = 1 << 16;
  const pools = new Map<number, Float32Array | Uint16Array>();
  const poolFor = (scale: number) => {
    let pool = pools.get(scale);
    if (!pool) {
      const values = Float32Array.from({ length: POOL + RUN }, () => rand() * scale);
      pool = dtype === 'F32' ? values : new Uint16Array(values.length);
      if (dtype === 'F16') encodeF16(values, pool as Uint16Array);
      if (dtype === 'BF16') encodeBf16(values, pool as Uint16Array);
      pools.set(scale, pool);
    }
    return pool;
  };
  const weights = new Map<string, Tensor>();
  for (const spec of checkpointLayout(c)) {
    if (!wanted(spec.name)) continue;
    const { tensor } = backend.allocateWeight(spec.name, dtype, spec.shape);
    const d = tensor.data;
    if (spec.kind === 'norm') {
      d.fill(dtype === 'F32' ? 1 : dtype === 'F16' ? f32ToF16(1) : f32BitsToBf16(0x3f800000));
    } else {
      const pool = poolFor(spec.kind === 'linear' ? 1 / Math.sqrt(spec.shape[1]) : 1);
      for (let i = 0; i < d.length; i += RUN) {
        const start = Math.floor(((rand() + 1) / 2) * POOL);
        d.set(pool.subarray(start, start + Math.min(RUN, d.length - i)) as never, i);
      }
    }
    weights.set(spec.name, tensor);
  }
  return weights;
}

/**
 * Random weights as `--weights q8_0|q4_k` would load them: f16 everywhere (as randomWeights), then each
 * quantisable linear weight replaced by blocks tiled from a pool of quantised random rows (whole blocks at random
 * block offsets; speed does not depend on the values).
 */
function randomQuantisedWeights(c: DeepseekV2Config, backend: CpuBackend, choice: WeightQuantisation, seed: number): Map<string, Tensor> {
  const layout = checkpointLayout(c);
  const plan = planQuantisation(choice, layout);
  const rand = prng(seed);
  const POOL_VALUES = 1 << 18;
  const pools = new Map<string, Uint8Array>();
  const weights = new Map<string, Tensor>();
  const floats = randomWeights({ ...c }, backend, 'F16', seed, (name) => !plan.typeOf.has(name));
  for (const spec of layout) {
    const dtype = plan.typeOf.get(spec.name);
    if (!dtype) {
      weights.set(spec.name, floats.get(spec.name)!);
      continue;
    }
    const key = `${dtype}/${spec.shape[1]}`;
    let pool = pools.get(key);
    if (!pool) {
      const values = Float32Array.from({ length: POOL_VALUES }, () => rand() / Math.sqrt(spec.shape[1]));
      pool = new Uint8Array(rowBytes(dtype, POOL_VALUES));
      quantiseRow(dtype, values, pool);
      pools.set(key, pool);
    }
    const { tensor, bytes } = backend.allocateWeight(spec.name, dtype, spec.shape);
    const { blockBytes } = GGML_TYPES[dtype];
    const poolBlocks = pool.length / blockBytes;
    const RUN_BLOCKS = 256;
    for (let at = 0; at < bytes.length; at += RUN_BLOCKS * blockBytes) {
      const first = Math.floor(((rand() + 1) / 2) * (poolBlocks - RUN_BLOCKS));
      const run = Math.min(RUN_BLOCKS * blockBytes, bytes.length - at);
      bytes.set(pool.subarray(first * blockBytes, first * blockBytes + run), at);
    }
    weights.set(spec.name, tensor);
  }
  return weights;
}

/** Counts what a forward asks of the backend: weight bytes read by matmuls, and time inside them. */
/**
 * A backend that times its inner backend's ops (the CPU's run at once, so wall time per op is theirs): matmul
 * time (linear, per-head linear, the routed experts) with the weight bytes they read, and attention time.
 */
class MeteredBackend {
  weightBytes = 0;
  /** Multiply-adds ×2 of the matmuls. */
  matmulFlops = 0;
  matmulMs = 0;
  attentionMs = 0;
  readonly backend: Backend;

  constructor(inner: Backend) {
    const timed = <A extends unknown[], R>(f: (...a: A) => R, add: (ms: number, a: A) => void) => (...a: A): R => {
      const t0 = performance.now();
      const r = f.apply(inner, a);
      add(performance.now() - t0, a);
      return r;
    };
    const matmul = (bytes: (a: unknown[]) => number, flops: (a: unknown[]) => number) => (ms: number, a: unknown[]) => {
      this.matmulMs += ms;
      this.weightBytes += bytes(a);
      this.matmulFlops += flops(a);
    };
    const rowsOf = (a: unknown[]) => (a[0] as Activation).rows;
    const attention = (ms: number) => (this.attentionMs += ms);
    const overrides: Partial<Backend> = {
      linear: timed(inner.linear, matmul((a) => (a[1] as Tensor).data.byteLength, (a) => 2 * rowsOf(a) * elementCount(a[1] as Tensor))),
      linearPerHead: timed(inner.linearPerHead, matmul((a) => (a[1] as Tensor[]).reduce((n, w) => n + w.data.byteLength, 0),
        (a) => 2 * rowsOf(a) * (a[1] as Tensor[]).reduce((n, w) => n + elementCount(w), 0))),
      // The experts a step reads: those its tokens were routed to (the CPU's routing is host arrays).
      routedExperts: timed(inner.routedExperts, matmul((a) => {
        const chosen = new Set((a[1] as unknown as { experts: Int32Array }).experts);
        const experts = a[2] as { gate: Tensor; up: Tensor; down: Tensor }[];
        return [...chosen].reduce((n, e) => n + experts[e].gate.data.byteLength + experts[e].up.data.byteLength + experts[e].down.data.byteLength, 0);
      }, (a) => {
        // Every (token, expert) pair runs one expert's three matrices.
        const pairs = (a[1] as unknown as { experts: Int32Array }).experts.length;
        const e = (a[2] as { gate: Tensor; up: Tensor; down: Tensor }[])[0];
        return 2 * pairs * (elementCount(e.gate) + elementCount(e.up) + elementCount(e.down));
      })),
      attendLatent: timed(inner.attendLatent, attention),
      attendHeads: timed(inner.attendHeads, attention),
    };
    this.backend = new Proxy(inner, {
      get: (target, prop, receiver) => (prop in overrides ? overrides[prop as keyof Backend] : Reflect.get(target, prop, receiver)),
    });
  }
}


function tokens(count: number, seed: number): number[] {
  const rand = prng(seed);
  return Array.from({ length: count }, () => Math.floor(((rand() + 1) / 2) * VOCAB));
}

interface Measurement {
  prefillTokPerS: number | null;
  decodeTokPerS: number;
  decodeMsPerToken: number;
  /** Weight bytes read per decoded token (every matmul's weight, the absorbed W_UK/W_UV included), over the step's time. */
  decodeWeightGBps: number;
  /** Share of the time spent inside backend.matmul. */
  decodeMatmulShare: number;
  prefillMatmulShare: number | null;
  /** GFLOP/s inside the prefill's matmuls (2 per multiply-add, over the time spent in them). */
  prefillMatmulGflops: number | null;
  /** Decode at LONG_CONTEXT tokens of context, and the share of its time in attendLatent. */
  longDecodeTokPerS: number;
  longDecodeAttentionShare: number;
  /** Cores actually used while timed (process CPU time / wall time): below the thread count on a busy machine. */
  coresUsed: number;
}

/** One configuration under test: a model over some weights on some backend, with its own decode cache. */
class Contender {
  readonly metered: MeteredBackend;
  readonly model: DeepseekV2Model;
  readonly cache: ContiguousLatentCache;
  readonly prefillMs: number[] = [];
  readonly prefillShares: number[] = [];
  readonly prefillGflops: number[] = [];
  readonly decodeMs: number[] = [];
  readonly decodeShares: number[] = [];
  readonly longDecodeMs: number[] = [];
  readonly longAttentionShares: number[] = [];
  decodeWeightBytes = 0;
  private longCache: ContiguousLatentCache | undefined;
  private next = 1;

  constructor(readonly name: string, private readonly c: DeepseekV2Config, weights: Map<string, Tensor>, backend: Backend, readonly prefills: boolean, readonly decodeSteps: number) {
    this.metered = new MeteredBackend(backend);
    this.model = new DeepseekV2Model(c, weights, this.metered.backend);
    this.cache = this.newCache();
  }

  newCache(): ContiguousLatentCache {
    return new ContiguousLatentCache(this.c.numLayers, this.c.kvLoraRank, this.c.qkRopeHeadDim);
  }

  /** CPU time of the process (all threads) over wall time, summed over timed forwards. */
  cpuMs = 0;
  wallMs = 0;

  /** Times one forward; returns [ms, logits]. */
  async timed(run: () => Promise<Float32Array[]>): Promise<[number, Float32Array]> {
    this.metered.matmulMs = 0;
    this.metered.weightBytes = 0;
    this.metered.matmulFlops = 0;
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    const [logits] = await run();
    const ms = performance.now() - t0;
    const cpu = process.cpuUsage(cpu0);
    this.cpuMs += (cpu.user + cpu.system) / 1000;
    this.wallMs += ms;
    return [ms, logits];
  }

  async prefill(prompt: number[]): Promise<void> {
    const [ms] = await this.timed(() => this.model.forward([{ cache: this.newCache(), tokens: prompt, logits: 'last' }]));
    this.prefillMs.push(ms);
    this.prefillShares.push(this.metered.matmulMs / ms);
    this.prefillGflops.push(this.metered.matmulFlops / (this.metered.matmulMs / 1000) / 1e9);
  }

  /** The decode cache starts from the prompt (so attention over a context is part of every step). */
  async startDecode(prompt: number[]): Promise<void> {
    // Room for every step up front: growing the cache mid-run would time an allocation and its page faults.
    this.cache.grow(prompt.length + DECODE_STEPS + 2);
    this.cache.truncate(0);
    await this.model.forward([{ cache: this.cache, tokens: prompt, logits: 'none' }]);
  }

  startDecodeFrom(source: ContiguousLatentCache): void {
    this.cache.grow(source.length + DECODE_STEPS + 2);
    this.cache.truncate(source.length);
    for (let l = 0; l < this.c.numLayers; l++) {
      for (const ch of source.chunks(l, source.length)) {
        for (let t = 0; t < ch.count; t++) {
          const cKv = ch.cKv.subarray(t * this.c.kvLoraRank, (t + 1) * this.c.kvLoraRank);
          this.cache.write(l, ch.start + t, cKv, ch.kPe.subarray(t * this.c.qkRopeHeadDim, (t + 1) * this.c.qkRopeHeadDim));
        }
      }
    }
  }

  /** One decode step; the first of each phase warms up (kernel tier-up, first touch of scratch) untimed. */
  async decodeStep(record = true): Promise<void> {
    const [ms, logits] = await this.timed(() => this.model.forward([{ cache: this.cache, tokens: [this.next], logits: 'last' }]));
    if (!record) return;
    this.decodeMs.push(ms);
    this.decodeShares.push(this.metered.matmulMs / ms);
    this.decodeWeightBytes = this.metered.weightBytes;
    this.next = logits.indexOf(Math.max(...logits));
  }

  /** A cache holding LONG_CONTEXT tokens of random latents in every layer. */
  startLongDecode(): void {
    const c = this.c;
    const cache = (this.longCache = this.newCache());
    cache.grow(LONG_CONTEXT + LONG_DECODE_STEPS + 2);
    cache.truncate(LONG_CONTEXT);
    const rand = prng(11);
    const cKv = Float32Array.from({ length: c.kvLoraRank }, rand);
    const kPe = Float32Array.from({ length: c.qkRopeHeadDim }, rand);
    for (let l = 0; l < c.numLayers; l++) {
      for (let t = 0; t < LONG_CONTEXT; t++) {
        cKv[t % c.kvLoraRank] = rand();
        cache.write(l, t, cKv, kPe);
      }
    }
  }

  async longDecodeStep(record = true): Promise<void> {
    this.metered.attentionMs = 0;
    const [ms] = await this.timed(() => this.model.forward([{ cache: this.longCache!, tokens: [this.next], logits: 'last' }]));
    if (!record) return;
    this.longDecodeMs.push(ms);
    this.longAttentionShares.push(this.metered.attentionMs / ms);
  }

  result(): Measurement {
    const ms = median(this.decodeMs);
    return {
      prefillTokPerS: this.prefillMs.length ? PREFILL_TOKENS / (median(this.prefillMs) / 1000) : null,
      decodeTokPerS: 1000 / ms,
      decodeMsPerToken: ms,
      decodeWeightGBps: this.decodeWeightBytes / (ms / 1000) / 1e9,
      decodeMatmulShare: median(this.decodeShares),
      prefillMatmulShare: this.prefillShares.length ? median(this.prefillShares) : null,
      prefillMatmulGflops: this.prefillGflops.length ? median(this.prefillGflops) : null,
      longDecodeTokPerS: this.longDecodeMs.length ? 1000 / median(this.longDecodeMs) : NaN,
      longDecodeAttentionShare: this.longAttentionShares.length ? median(this.longAttentionShares) : NaN,
      coresUsed: this.cpuMs / this.wallMs,
    };
  }
}

/** Prefill attention is measured alone: a prompt long enough to make it matter would take minutes to prefill. */
const PREFILL_ATTENTION_TOKENS = 512;

/** ms of one layer's naive-path attention (attendHeads) over a 512-token prompt, per backend (median of 3; 1 for the reference). */
function measurePrefillAttention(c: DeepseekV2Config, backends: Record<string, CpuBackend>): Record<string, number> {
  const n = PREFILL_ATTENTION_TOKENS;
  const H = c.numHeads;
  const [nopeDim, ropeDim, vDim] = [c.qkNopeHeadDim, c.qkRopeHeadDim, c.vHeadDim];
  const rand = prng(13);
  const q = Float32Array.from({ length: n * H * (nopeDim + ropeDim) }, rand);
  const kv = Float32Array.from({ length: n * H * (nopeDim + vDim) }, rand);
  const kPe = Float32Array.from({ length: n * ropeDim }, rand);
  const visible = Int32Array.from({ length: n }, (_, j) => j + 1);
  const out = new Float32Array(n * H * vDim);
  const result: Record<string, number> = {};
  for (const [name, backend] of Object.entries(backends)) {
    const runs = name === 'reference' ? 1 : 3;
    const times: number[] = [];
    for (let r = 0; r < runs + (runs > 1 ? 1 : 0); r++) {
      const t0 = performance.now();
      backend.attendHeadRows({ out, q, kv, kPe, n, heads: H, length: n, nopeDim, ropeDim, vDim, visible, scale: 0.07 });
      if (runs === 1 || r > 0) times.push(performance.now() - t0); // the first fast run warms up
    }
    result[name] = median(times);
  }
  return result;
}

/** Bytes copied per second by one thread's memcpy (TypedArray.set) of 256 MiB. */
function memcpyGBps(): number {
  const a = new Uint8Array(256 << 20).fill(1);
  const b = new Uint8Array(256 << 20);
  const times: number[] = [];
  for (let r = 0; r < 5; r++) {
    const t0 = performance.now();
    b.set(a);
    times.push(performance.now() - t0);
  }
  return a.byteLength / (median(times) / 1000) / 1e9;
}

const round = (x: number, digits = 2) => Math.round(x * 10 ** digits) / 10 ** digits;

/** The weights mode: the listed weight types side by side on 2 threads, prefill and decode. */
async function compareWeightTypes(types: BenchWeights[]): Promise<void> {
  const c: DeepseekV2Config = { ...v2LiteConfig(LAYERS), vocabSize: VOCAB };
  const started = performance.now();
  const log = (line: string) => console.log(`[${((performance.now() - started) / 1000).toFixed(1)}s] ${line}`);
  log(`DeepSeek-V2-Lite shape, ${LAYERS} layers (1 dense + ${LAYERS - 1} MoE), vocab ${VOCAB}, prefill ${PREFILL_TOKENS} tokens, ${DECODE_STEPS} decode steps, weights ${types.join(', ')}`);
  const loadBefore = loadavg()[0];
  const copy = memcpyGBps();
  log(`memcpy: ${copy.toFixed(1)} GB/s (one thread)`);
  const two = await CpuBackend.create({ threads: 2, integerDot: INTEGER_DOT });
  log(`fast backend: ${two.info().device}`);
  const contenders: Contender[] = [];
  const weightBytes: Record<string, number> = {};
  for (const t of types) {
    const weights = t === 'f16' ? randomWeights(c, two, 'F16', 1) : randomQuantisedWeights(c, two, t, 1);
    weightBytes[t] = [...weights.values()].reduce((a, w) => a + w.data.byteLength, 0);
    log(`${t} weights generated: ${(weightBytes[t] / 2 ** 30).toFixed(2)} GiB`);
    contenders.push(new Contender(`wasm-${t}-2t`, c, weights, two, true, DECODE_STEPS));
  }
  const prompt = tokens(PREFILL_TOKENS, 7);
  for (let r = 0; r < PREFILL_RUNS; r++) for (const k of contenders) await k.prefill(prompt);
  log('prefill measured');
  for (const k of contenders) await k.startDecode(prompt);
  for (const k of contenders) await k.decodeStep(false);
  for (let s = 0; s < DECODE_STEPS; s++) for (const k of contenders) await k.decodeStep();
  log('decode measured');
  two.dispose();
  const results: Record<string, Measurement> = {};
  for (const [i, k] of contenders.entries()) {
    const m = (results[types[i]] = k.result());
    log(`${k.name}: prefill ${m.prefillTokPerS!.toFixed(1)} tok/s (matmul ${(100 * m.prefillMatmulShare!).toFixed(0)}%, ${m.prefillMatmulGflops!.toFixed(1)} GFLOP/s in matmuls); decode ${m.decodeTokPerS.toFixed(2)} tok/s = ${m.decodeMsPerToken.toFixed(1)} ms/token, ${m.decodeWeightGBps.toFixed(1)} GB/s of weights (matmul ${(100 * m.decodeMatmulShare).toFixed(0)}%); ${m.coresUsed.toFixed(2)} cores used`);
  }
  const ratios: Record<string, number | null> = {};
  if (results.f16) {
    for (const t of types) {
      if (t === 'f16') continue;
      ratios[`decode_${t}_vs_f16`] = round(results[t].decodeTokPerS / results.f16.decodeTokPerS);
      ratios[`prefill_${t}_vs_f16`] = round(results[t].prefillTokPerS! / results.f16.prefillTokPerS!);
    }
  }
  for (const [k, v] of Object.entries(ratios)) log(`${k}: ${v}`);
  console.log(JSON.stringify({
    bench: 'cpu-forward',
    mode: 'weights',
    kernels: two.kernels?.description,
    shape: 'DeepSeek-V2-Lite',
    layers: LAYERS,
    vocab: VOCAB,
    prefillTokens: PREFILL_TOKENS,
    decodeSteps: DECODE_STEPS,
    memcpyGBps: round(copy),
    loadAverage1m: { before: round(loadBefore), after: round(loadavg()[0]) },
    cores: availableParallelism(),
    weightGiB: Object.fromEntries(Object.entries(weightBytes).map(([k, b]) => [k, round(b / 2 ** 30, 3)])),
    results: Object.fromEntries(Object.entries(results).map(([k, m]) => [k, {
      prefillTokPerS: round(m.prefillTokPerS!, 2), prefillMatmulGflops: round(m.prefillMatmulGflops!, 1), prefillMatmulShare: round(m.prefillMatmulShare!, 3),
      decodeTokPerS: round(m.decodeTokPerS, 2), decodeWeightGBps: round(m.decodeWeightGBps, 2), decodeMatmulShare: round(m.decodeMatmulShare, 3), coresUsed: round(m.coresUsed, 2),
    }])),
    ratios,
    seconds: round((performance.now() - started) / 1000, 1),
  }));
}

async function main(): Promise<void> {
  if (WEIGHT_TYPES) return compareWeightTypes(WEIGHT_TYPES);
  const c: DeepseekV2Config = { ...v2LiteConfig(LAYERS), vocabSize: VOCAB };
  const started = performance.now();
  const log = (line: string) => console.log(`[${((performance.now() - started) / 1000).toFixed(1)}s] ${line}`);
  log(`DeepSeek-V2-Lite layer shape, ${LAYERS} layers (1 dense + ${LAYERS - 1} MoE), vocab ${VOCAB} (reduced from 102400), prefill ${PREFILL_TOKENS} tokens, ${DECODE_STEPS} decode steps${quick ? ' (--quick)' : ''}`);
  const loadBefore = loadavg()[0];
  const copy = memcpyGBps();
  log(`memcpy: ${copy.toFixed(1)} GB/s (one thread)`);

  const two = await CpuBackend.create({ threads: 2, integerDot: INTEGER_DOT });
  const one = await CpuBackend.create({ threads: 1, shareWeightsWith: two, integerDot: INTEGER_DOT });
  log(`fast backend: ${two.info().device}`);
  const f16 = randomWeights(c, two, 'F16', 1);
  log('f16 weights generated');
  const bf16 = randomWeights(c, two, 'BF16', 1);
  log('bf16 weights generated');
  const f32 = WITH_F32 ? randomWeights(c, two, 'F32', 1) : undefined;
  if (f32) log('f32 weights generated');
  const contenders = [
    new Contender('wasm-f16-2t', c, f16, two, true, DECODE_STEPS),
    new Contender('wasm-f16-1t', c, f16, one, true, DECODE_STEPS),
    new Contender('wasm-bf16-2t', c, bf16, two, true, DECODE_STEPS),
    ...(f32 ? [new Contender('wasm-f32-2t', c, f32, two, true, DECODE_STEPS)] : []),
  ];
  const reference = new Contender('reference-f16-1t', c, f16, new CpuBackend(), false, REFERENCE_DECODE_STEPS);
  // Round-robin, so that the load of a shared machine weighs on every configuration alike.
  const prompt = tokens(PREFILL_TOKENS, 7);
  for (let r = 0; r < PREFILL_RUNS; r++) for (const k of contenders) if (k.prefills) await k.prefill(prompt);
  log('prefill measured');
  for (const k of contenders) await k.startDecode(prompt);
  // The reference is too slow to prefill; it decodes from a copy of the same weights' WASM-computed cache.
  reference.startDecodeFrom(contenders[1].cache);
  contenders.push(reference);
  for (const k of contenders) await k.decodeStep(false);
  for (let s = 0; s < DECODE_STEPS; s++) for (const k of contenders) if (s < k.decodeSteps) await k.decodeStep();
  log('decode measured');
  for (const k of contenders) k.startLongDecode();
  for (const k of contenders) await k.longDecodeStep(false);
  for (let s = 0; s < LONG_DECODE_STEPS; s++) for (const k of contenders) if (s < k.decodeSteps) await k.longDecodeStep();
  const prefillAttention = measurePrefillAttention(c, { 'wasm-2t': two, 'wasm-1t': one, reference: new CpuBackend() });
  log(`prefill attention of one layer over ${PREFILL_ATTENTION_TOKENS} tokens (naive path): ${Object.entries(prefillAttention).map(([k, ms]) => `${k} ${ms.toFixed(0)} ms`).join(', ')}`);
  one.dispose();
  two.dispose();
  const results: Record<string, Measurement> = {};
  for (const k of contenders) {
    const m = (results[k.name] = k.result());
    const pre = m.prefillTokPerS === null ? '' : `prefill ${m.prefillTokPerS.toFixed(1)} tok/s (matmul ${(100 * m.prefillMatmulShare!).toFixed(0)}%), `;
    log(`${k.name}: ${pre}decode ${m.decodeTokPerS.toFixed(2)} tok/s = ${m.decodeMsPerToken.toFixed(1)} ms/token, ${m.decodeWeightGBps.toFixed(1)} GB/s of weights (matmul ${(100 * m.decodeMatmulShare).toFixed(0)}%); at ${LONG_CONTEXT} tokens of context ${m.longDecodeTokPerS.toFixed(2)} tok/s (attention ${(100 * m.longDecodeAttentionShare).toFixed(0)}%); ${m.coresUsed.toFixed(2)} cores used`);
  }

  const r = (a: number | null | undefined, b: number | null | undefined) => (a && b ? round(a / b) : null);
  const ratios = {
    prefill2tVs1t: r(results['wasm-f16-2t'].prefillTokPerS, results['wasm-f16-1t'].prefillTokPerS),
    decode2tVs1t: r(results['wasm-f16-2t'].decodeTokPerS, results['wasm-f16-1t'].decodeTokPerS),
    prefillF16VsBf16: r(results['wasm-f16-2t'].prefillTokPerS, results['wasm-bf16-2t'].prefillTokPerS),
    decodeF16VsBf16: r(results['wasm-f16-2t'].decodeTokPerS, results['wasm-bf16-2t'].decodeTokPerS),
    prefillF16VsF32: r(results['wasm-f16-2t'].prefillTokPerS, results['wasm-f32-2t']?.prefillTokPerS),
    decodeF16VsF32: r(results['wasm-f16-2t'].decodeTokPerS, results['wasm-f32-2t']?.decodeTokPerS),
    prefillBf16VsF32: r(results['wasm-bf16-2t'].prefillTokPerS, results['wasm-f32-2t']?.prefillTokPerS),
    decodeBf16VsF32: r(results['wasm-bf16-2t'].decodeTokPerS, results['wasm-f32-2t']?.decodeTokPerS),
    decodeWasmVsReference1t: r(results['wasm-f16-1t'].decodeTokPerS, results['reference-f16-1t'].decodeTokPerS),
    longDecodeWasmVsReference: r(results['wasm-f16-1t'].longDecodeTokPerS, results['reference-f16-1t'].longDecodeTokPerS),
    longDecode2tVs1t: r(results['wasm-f16-2t'].longDecodeTokPerS, results['wasm-f16-1t'].longDecodeTokPerS),
    prefillAttentionWasmVsReference1t: r(prefillAttention.reference, prefillAttention['wasm-1t']),
    prefillAttention2tVs1t: r(prefillAttention['wasm-1t'], prefillAttention['wasm-2t']),
    decodeF16BandwidthVsMemcpy: r(results['wasm-f16-2t'].decodeWeightGBps, copy),
    decodeBf16BandwidthVsMemcpy: r(results['wasm-bf16-2t'].decodeWeightGBps, copy),
    decodeF32BandwidthVsMemcpy: r(results['wasm-f32-2t']?.decodeWeightGBps, copy),
  };
  for (const [k, v] of Object.entries(ratios)) log(`${k}: ${v}`);
  const summary = {
    bench: 'cpu-forward',
    quick,
    kernels: two.kernels?.description,
    shape: 'DeepSeek-V2-Lite',
    layers: LAYERS,
    vocab: VOCAB,
    prefillTokens: PREFILL_TOKENS,
    decodeContext: PREFILL_TOKENS,
    longDecodeContext: LONG_CONTEXT,
    memcpyGBps: round(copy),
    // Other processes competing for the cores skew every figure (ratios less so: the runs are interleaved).
    loadAverage1m: { before: round(loadBefore), after: round(loadavg()[0]) },
    cores: availableParallelism(),
    results: Object.fromEntries(Object.entries(results).map(([k, m]) => [k, Object.fromEntries(Object.entries(m).map(([f, v]) => [f, v === null ? null : round(v, 3)]))])),
    prefillAttentionMs: Object.fromEntries(Object.entries(prefillAttention).map(([k, ms]) => [k, round(ms, 1)])),
    prefillAttentionTokens: PREFILL_ATTENTION_TOKENS,
    ratios,
    seconds: round((performance.now() - started) / 1000, 1),
  };
  console.log(JSON.stringify(summary));
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
