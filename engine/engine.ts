// The engine: a loaded model folder (config, weights, tokenizer) on a backend, and generation over it. Many
// sequences advance together: each `step` runs one forward pass over the pending tokens of all of them.
import type { GenerationDelta, GenerationRequest, GenerationResult } from './api';
import type { Backend } from './backend/backend';
import { createAutoBackend } from './backend/autoBackend';
import { CpuBackend } from './backend/cpu/cpuBackend';
import { WebGpuBackend } from './backend/webgpu/webGpuBackend';
import { ContiguousLatentCache, LatentCache } from './cache/latentCache';
import { bytesPerTokenLayer, LatentFormat } from './cache/latentFormat';
import { PAGE_TOKENS, PoolExhaustedError } from './cache/latentPool';
import { PagedLatentCache } from './cache/pagedLatentCache';
import { LatentRefresher } from './cache/latentRefresh';
import { DEFAULT_MAX_DISTANCE, PromptCache, PromptCacheStats, ReusePolicy } from './cache/promptCache';
import { Sequence } from './generate/sequence';
import { TokenHealer } from './generate/tokenHealing';
import type { DeepseekV2Config } from './model/config';
import { DeepseekV2Model, StepItem, StepOutput } from './model/deepseekV2';
import { ModelTokenizer } from './tokenizer/modelTokenizer';
import type { WeightQuantisation } from './weights/loadQuantisation';
import { LoadProgress, loadWeights, readConfig } from './weights/modelFolder';
import { isGgufFile, loadGgufWeights, readGgufConfig } from './weights/gguf/ggufModel';
import { GgufFile } from './weights/gguf/ggufReader';
import { hasGgufTokenizer, tokenizerFromMetadata } from './weights/gguf/ggufTokenizer';
import type { Tensor } from './weights/tensor';

/**
 * auto: the fastest present (a hardware WebGPU adapter, else cpu; backend/autoBackend.ts); cpu: WebAssembly SIMD
 * kernels on every core; cpu-reference: the double-precision oracle, one thread; webgpu: WGSL kernels through Dawn.
 */
export type BackendName = 'auto' | 'cpu' | 'cpu-reference' | 'webgpu';
export const BACKENDS: readonly BackendName[] = ['auto', 'cpu', 'cpu-reference', 'webgpu'];

export interface EngineOptions {
  backend?: BackendName;
  onProgress?: (p: LoadProgress) => void;
  /** Quantise the linear weights as they load (`--weights`); default: as stored. */
  weights?: WeightQuantisation;
  /** Lines for the log while loading (e.g. weights left unquantised). */
  onNote?: (line: string) => void;
  /** Storage of cached latents (default fp32). */
  cacheFormat?: LatentFormat;
  /** Bytes the latent pool may hold (default 1 GiB). */
  cacheBudgetBytes?: number;
  /** How cached latents are reused across requests (default: DEFAULT_REUSE_POLICY). */
  reusePolicy?: ReusePolicy;
  /**
   * Prompt tokens one sequence feeds per step at most (default 512): a long prompt is prefilled over several
   * steps, so the sequences decoding beside it still get a token per step.
   */
  prefillChunkTokens?: number;
}

/**
 * k = 2: on 480 edits of the trained default model, k = 0 to 16 gave the same answers but for one or two 32-token
 * continuations, all within 1% in KL (docs/PERFORMANCE.md, "How many tokens after an edit"); each recomputed token
 * reads more of the experts' weights. Two tokens are the margin kept.
 */
export const DEFAULT_REUSE_POLICY: ReusePolicy = { kind: 'reuse', k: 2, maxDistance: DEFAULT_MAX_DISTANCE };

async function createBackend(name: BackendName): Promise<Backend> {
  switch (name) {
    case 'auto':
      return createAutoBackend();
    case 'webgpu':
      return WebGpuBackend.create();
    case 'cpu':
      return CpuBackend.create();
    case 'cpu-reference':
      return new CpuBackend();
  }
}

export class Engine {
  readonly promptCache: PromptCache;
  /** Recomputes derived latents exactly while no request runs (`refreshIdle`); every new request pre-empts it. */
  readonly refresher: LatentRefresher;
  private readonly prefillChunkTokens: number;
  /** Token healing for text prompts (null without a tokenizer). */
  private readonly healer: TokenHealer | null;
  /** Set when the backend's device was lost and replaced: the cached latents are gone. */
  private cacheLost = false;

  private constructor(
    readonly dir: string,
    readonly model: DeepseekV2Model,
    /** null for folders without tokenizer.json (the test fixtures): token ids in, token ids out. */
    readonly tokenizer: ModelTokenizer | null,
    options: EngineOptions,
  ) {
    const c = model.config;
    const shape = { numLayers: c.numLayers, kvLoraRank: c.kvLoraRank, qkRopeHeadDim: c.qkRopeHeadDim };
    const format = options.cacheFormat ?? 'fp32';
    // The default budget (1 GiB) within what the backend's latent store can hold.
    const maxPages = model.backend.maxLatentPages?.(shape, format) ?? Infinity;
    const pageBytes = PAGE_TOKENS * c.numLayers * bytesPerTokenLayer(format, c.kvLoraRank, c.qkRopeHeadDim);
    this.promptCache = new PromptCache(shape, model.rope, {
      format,
      budgetBytes: options.cacheBudgetBytes ?? Math.min(2 ** 30, maxPages * pageBytes),
      policy: options.reusePolicy ?? DEFAULT_REUSE_POLICY,
      createStore: (shape, format, capacityPages) => model.backend.createLatentStore(shape, format, capacityPages),
    });
    this.prefillChunkTokens = options.prefillChunkTokens ?? 512;
    this.healer = tokenizer ? new TokenHealer(tokenizer) : null;
    if (!(this.prefillChunkTokens >= 1)) throw new RangeError(`prefillChunkTokens must be at least 1 (got ${options.prefillChunkTokens})`);
    this.refresher = new LatentRefresher(this.promptCache, async (cache, tokens) => {
      await this.model.forward([{ cache, tokens, logits: 'none' }]);
    });
    // A GPU backend that replaced a lost device lost every cached latent with it: the tree is emptied before the
    // next request matches against it.
    model.backend.onDeviceReset?.(() => {
      this.cacheLost = true;
    });
  }

  /**
   * The latent cache's counts. Pages a background refresh holds are not pinned: any request drops the refresh at
   * once (and a refresh only runs while no request does, so while it runs every other pinned page is a leak).
   */
  cacheStats(): PromptCacheStats & { refreshPages: number } {
    const stats = this.promptCache.stats();
    const refreshPages = this.refresher.pagesHeld;
    return { ...stats, pinnedPages: stats.pinnedPages - refreshPages, refreshPages };
  }

  /**
   * One chunk (at most `chunkTokens` tokens) of background refresh; call only while no sequence runs. Returns
   * false when no derived latents are left to refresh.
   */
  refreshIdle(chunkTokens: number): Promise<boolean> {
    this.dropLostCache();
    return this.refresher.step(chunkTokens);
  }

  /** After the backend replaced a lost device: the tree's pages held latents of the old one; they all go. */
  private dropLostCache(): void {
    if (!this.cacheLost) return;
    this.cacheLost = false;
    this.refresher.drop();
    this.promptCache.tree.evict(Number.MAX_SAFE_INTEGER);
  }

  /** Loads a model folder (config.json, safetensors, tokenizer) or a GGUF file (llama.cpp's deepseek2). */
  static async load(dir: string, options: EngineOptions = {}): Promise<Engine> {
    if (isGgufFile(dir)) return Engine.loadGguf(dir, options);
    const config = readConfig(dir);
    const tokenizer = ModelTokenizer.exists(dir) ? ModelTokenizer.load(dir) : null;
    return Engine.build(dir, config, tokenizer, options, (allocate) =>
      loadWeights(dir, config, options.onProgress, allocate, { weights: options.weights, onNote: options.onNote }));
  }

  private static async loadGguf(file: string, options: EngineOptions): Promise<Engine> {
    if (options.weights) throw new Error(`${file}: --weights ${options.weights} quantises a safetensors folder as it loads; a GGUF file's weights are used as stored`);
    const f = GgufFile.open(file);
    try {
      const { config, kvB } = readGgufConfig(f);
      const tokenizer = hasGgufTokenizer(f.metadata)
        ? (() => {
            const { tokenizerJson, tokenizerConfig } = tokenizerFromMetadata(file, f.metadata);
            return ModelTokenizer.fromJson(tokenizerJson, tokenizerConfig, `${file} (tokenizer.ggml metadata)`);
          })()
        : null;
      return await Engine.build(file, config, tokenizer, options, (allocate) => loadGgufWeights(f, config, kvB, options.onProgress, allocate));
    } finally {
      f.close();
    }
  }

  private static async build(
    source: string,
    config: DeepseekV2Config,
    tokenizer: ModelTokenizer | null,
    options: EngineOptions,
    loadInto: (allocate: Backend['allocateWeight']) => Map<string, Tensor>,
  ): Promise<Engine> {
    if (tokenizer && tokenizer.vocabSize > config.vocabSize) {
      throw new Error(`${source}: the tokenizer has ${tokenizer.vocabSize} tokens but the model's vocab_size is ${config.vocabSize}`);
    }
    const name = options.backend ?? 'auto';
    const backend = await createBackend(name);
    try {
      const weights = loadInto((n, dtype, shape) => backend.allocateWeight(n, dtype, shape));
      const model = new DeepseekV2Model(config, weights, backend);
      // A GPU backend reports what failed while placing the weights (out of memory) here, with the numbers.
      await backend.settle?.();
      return new Engine(source, model, tokenizer, options);
    } catch (e) {
      backend.dispose();
      // auto falls back to the CPU when the model does not fit the GPU (or the GPU refuses it).
      if (name === 'auto' && backend.name === 'webgpu') return Engine.build(source, config, tokenizer, { ...options, backend: 'cpu' }, loadInto);
      throw e;
    }
  }

  get config(): DeepseekV2Config {
    return this.model.config;
  }

  /** The end-of-sequence token: the tokenizer's, else config.json's. */
  get eos(): number | null {
    return this.tokenizer?.special.eos ?? this.config.eosTokenId;
  }

  /** A private cache outside the pool, for one-off forwards (e.g. `latent logits`). */
  newCache(): LatentCache {
    const c = this.config;
    return new ContiguousLatentCache(c.numLayers, c.kvLoraRank, c.qkRopeHeadDim);
  }

  /**
   * Starts a generation; advance it with `step`. The prompt's cached prefix (and, under a reuse policy, its moved
   * runs) come from the latent cache; the gaps between reused runs are computed here, the rest in `step`.
   */
  async startSequence(asked: GenerationRequest, onDelta?: (d: GenerationDelta) => void): Promise<Sequence> {
    this.checkRequest(asked);
    const healed = asked.tokenHealing && this.healer ? this.healer.heal(asked.prompt) : null;
    const request = healed ? { ...asked, prompt: healed.prompt } : asked;
    // A request never waits for background work: the refresh in progress is dropped with what it held.
    this.refresher.drop();
    this.dropLostCache();
    // The gaps between reused runs are left for the first step, so that one forward computes them with the prompt's
    // last tokens (an edit 100 tokens back costs one pass over the weights, not two).
    const prepared = await this.promptCache.prepare(request.prompt, null);
    // The whole prompt's pages are taken now: a request that starts never fails its prefill for want of a page,
    // and a full pool is told at once (PoolExhaustedError: the caller may retry when others end).
    try {
      prepared.cache.reserve(prepared.pending.length);
    } catch (e) {
      this.promptCache.abandon(prepared);
      throw e;
    }
    // A sequence that ended in an error may hold half-written latents, and one that ended before its first step
    // the unwritten slots of its gaps: they are dropped, not cached.
    const onFinish = (s: Sequence) => s.finishReason === 'error' || s.gaps.length > 0
      ? this.promptCache.abandon(prepared) : this.promptCache.finish(prepared, s.fedTokens);
    return new Sequence(request, prepared.cache, prepared.cachedTokens, prepared.pending, this.tokenizer, this.eos, onDelta, onFinish,
      healed?.healing ?? null, prepared.gaps);
  }

  /** Throws (RangeError) on a request the engine cannot take, before anything is held. */
  checkRequest(request: GenerationRequest): void {
    if (request.prompt.length === 0) throw new RangeError('the prompt is empty');
    for (const t of request.prompt) {
      if (!Number.isInteger(t) || t < 0 || t >= this.config.vocabSize) throw new RangeError(`prompt token ${t} is outside the vocabulary (0..${this.config.vocabSize - 1})`);
    }
    if (!Number.isInteger(request.maxTokens) || request.maxTokens < 1) throw new RangeError(`maxTokens must be a positive integer (got ${request.maxTokens})`);
    // A request the whole pool could not hold is refused outright: waiting for other requests would not help.
    const { capacityPages, pageBytes } = this.promptCache.stats();
    const pagesNeeded = Math.ceil((request.prompt.length + request.maxTokens) / PAGE_TOKENS);
    if (pagesNeeded > capacityPages) {
      throw new RangeError(`the prompt (${request.prompt.length} tokens) with max_tokens ${request.maxTokens} needs ` +
        `${pagesNeeded} pages of the latent pool, which holds ${capacityPages} (${capacityPages * pageBytes} B; ` +
        'see --cache-budget-mib)');
    }
  }

  /** One forward pass over the pending tokens of every unfinished sequence; each then picks its next token. */
  async step(sequences: Sequence[]): Promise<void> {
    const active = sequences.filter((s) => !s.done);
    for (const s of active) {
      if (s.request.signal?.aborted) s.finish('cancelled');
      else if (s.cache instanceof PagedLatentCache) {
        // Reserve pages first, so that a full pool fails this one sequence, not the batch.
        try {
          s.cache.reserve(s.pending.length);
        } catch (e) {
          if (!(e instanceof PoolExhaustedError)) throw e;
          s.finish('error', e.message);
        }
      }
    }
    const running = active.filter((s) => !s.done);
    if (running.length === 0) return;
    // Chunked prefill: a sequence with more pending prompt than a chunk feeds one chunk and picks no token yet.
    const fed = running.map((s) => s.pending.slice(0, this.prefillChunkTokens));
    let outputs: StepOutput[];
    try {
      // A sequence that picks a token offers its pick: a backend that samples returns the token, not the logits.
      // A sequence's gaps (its first step only) ride along as items of their own, ahead of its pending tokens.
      const items: StepItem[] = running.flatMap((s, i) => [
        ...s.gaps.map((g) => ({ cache: s.cache, tokens: g.tokens, at: g.at, logits: 'none' as const })),
        fed[i].length < s.pending.length
          ? { cache: s.cache, tokens: fed[i], logits: 'none' as const }
          : { cache: s.cache, tokens: fed[i], logits: 'last' as const, pick: s.devicePick() ?? undefined },
      ]);
      const all = await this.model.step(items);
      let next = 0;
      outputs = running.map((s) => all[(next += s.gaps.length + 1) - 1]);
      for (const s of running) s.gaps = [];
    } catch (e) {
      // Every cache of the batch is in doubt: each sequence ends with the error and releases what it held.
      for (const s of running) s.finish('error', `the forward pass failed: ${(e as Error).message}`);
      throw e;
    }
    running.forEach((s, i) => {
      if (fed[i].length < s.pending.length) s.pending = s.pending.slice(fed[i].length);
      else s.accept(outputs[i]);
    });
  }

  /** Runs one generation to the end, yielding to the event loop between steps so that aborts are seen. */
  async generate(request: GenerationRequest, onDelta?: (d: GenerationDelta) => void): Promise<GenerationResult> {
    const seq = await this.startSequence(request, onDelta);
    while (!seq.done) {
      await this.step([seq]);
      await new Promise((resolve) => setImmediate(resolve));
    }
    return seq.result();
  }

  dispose(): void {
    this.model.backend.dispose();
  }
}
