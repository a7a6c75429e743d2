// The engine: a loaded model folder (config, weights, tokenizer) on a backend, and generation over it. Many
// sequences advance together: each `step` runs one forward pass over the pending tokens of all of them.
import type { GenerationDelta, GenerationRequest, GenerationResult } from './api';
import type { Backend } from './backend/backend';
import { CpuBackend } from './backend/cpu/cpuBackend';
import { ContiguousLatentCache, LatentCache } from './cache/latentCache';
import { Sequence } from './generate/sequence';
import type { DeepseekV2Config } from './model/config';
import { DeepseekV2Model } from './model/deepseekV2';
import { ModelTokenizer } from './tokenizer/modelTokenizer';
import { LoadProgress, loadWeights, readConfig } from './weights/modelFolder';

export type BackendName = 'cpu';
export const BACKENDS: readonly BackendName[] = ['cpu'];

export interface EngineOptions {
  backend?: BackendName;
  onProgress?: (p: LoadProgress) => void;
}

function createBackend(name: BackendName): Backend {
  switch (name) {
    case 'cpu':
      return new CpuBackend();
  }
}

export class Engine {
  private constructor(
    readonly dir: string,
    readonly model: DeepseekV2Model,
    /** null for folders without tokenizer.json (the test fixtures): token ids in, token ids out. */
    readonly tokenizer: ModelTokenizer | null,
  ) {}

  static load(dir: string, options: EngineOptions = {}): Engine {
    const config = readConfig(dir);
    const tokenizer = ModelTokenizer.exists(dir) ? ModelTokenizer.load(dir) : null;
    if (tokenizer && tokenizer.vocabSize > config.vocabSize) {
      throw new Error(`${dir}: the tokenizer has ${tokenizer.vocabSize} tokens but config.json's vocab_size is ${config.vocabSize}`);
    }
    const weights = loadWeights(dir, config, options.onProgress);
    return new Engine(dir, new DeepseekV2Model(config, weights, createBackend(options.backend ?? 'cpu')), tokenizer);
  }

  get config(): DeepseekV2Config {
    return this.model.config;
  }

  /** The end-of-sequence token: the tokenizer's, else config.json's. */
  get eos(): number | null {
    return this.tokenizer?.special.eos ?? this.config.eosTokenId;
  }

  newCache(): LatentCache {
    const c = this.config;
    return new ContiguousLatentCache(c.numLayers, c.kvLoraRank, c.qkRopeHeadDim);
  }

  /** Starts a generation; advance it with `step`. */
  startSequence(request: GenerationRequest, onDelta?: (d: GenerationDelta) => void): Sequence {
    for (const t of request.prompt) {
      if (!Number.isInteger(t) || t < 0 || t >= this.config.vocabSize) throw new RangeError(`prompt token ${t} is outside the vocabulary (0..${this.config.vocabSize - 1})`);
    }
    return new Sequence(request, this.newCache(), 0, this.tokenizer, this.eos, onDelta);
  }

  /** One forward pass over the pending tokens of every unfinished sequence; each then picks its next token. */
  step(sequences: Sequence[]): void {
    const active = sequences.filter((s) => !s.done);
    for (const s of active) if (s.request.signal?.aborted) s.finish('cancelled');
    const running = active.filter((s) => !s.done);
    if (running.length === 0) return;
    const logits = this.model.forward(running.map((s) => ({ cache: s.cache, tokens: s.pending, logits: 'last' as const })));
    running.forEach((s, i) => s.accept(logits[i]));
  }

  /** Runs one generation to the end, yielding to the event loop between steps so that aborts are seen. */
  async generate(request: GenerationRequest, onDelta?: (d: GenerationDelta) => void): Promise<GenerationResult> {
    const seq = this.startSequence(request, onDelta);
    while (!seq.done) {
      this.step([seq]);
      await new Promise((resolve) => setImmediate(resolve));
    }
    return seq.result();
  }

  dispose(): void {
    this.model.backend.dispose();
  }
}
