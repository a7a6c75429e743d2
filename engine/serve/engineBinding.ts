// The bridge from the engine to the HTTP layer: loads the model folder and describes it as a ServedModel.
import * as path from 'node:path';
import { BACKENDS, Engine, type BackendName } from '../engine';
import { LATENT_FORMATS, type LatentFormat } from '../cache/latentFormat';
import { parseReusePolicy, type ReusePolicy } from '../cache/promptCache';
import type { WeightQuantisation } from '../weights/loadQuantisation';
import { BatchedRunner } from './batchedRunner';
import { ChatTemplate } from './chatTemplate';
import type { ServedModel } from './servedModel';
import type { ServeOptions } from './serveOptions';
import { UsageError } from './serveOptions';
import { TokenizerPool } from './tokenizerPool';

export async function bindEngine(options: ServeOptions): Promise<ServedModel> {
  if (!(BACKENDS as readonly string[]).includes(options.backend)) {
    throw new UsageError(`--backend must be one of ${BACKENDS.join(', ')}, got '${options.backend}'`);
  }
  if (!(LATENT_FORMATS as readonly string[]).includes(options.cacheFormat)) {
    throw new UsageError(`--cache-format must be one of ${LATENT_FORMATS.join(', ')}, got '${options.cacheFormat}'`);
  }
  // Checked with the other options (serveOptions.ts).
  const reusePolicy: ReusePolicy | undefined = options.reusePolicy === undefined ? undefined : parseReusePolicy(options.reusePolicy);
  const engine = await Engine.load(options.modelDir, {
    backend: options.backend as BackendName,
    // Checked with the other options (serveOptions.ts).
    weights: options.weights as WeightQuantisation | undefined,
    onNote: (line) => console.error(`latent serve: ${line}`),
    cacheFormat: options.cacheFormat as LatentFormat,
    cacheBudgetBytes: options.cacheBudgetMiB === undefined ? undefined : options.cacheBudgetMiB * 2 ** 20,
    reusePolicy,
  });
  const tokenizer = engine.tokenizer;
  if (!tokenizer) {
    throw new Error(`${options.modelDir} has no tokenizer.json; latent serve needs one to read and write text`);
  }
  const chatTemplate = tokenizer.chatTemplate === null ? undefined
    : await ChatTemplate.parse(tokenizer.chatTemplate, {
      bosToken: tokenizer.bosText ?? undefined, eosToken: tokenizer.eosText ?? undefined,
    });
  const runner = new BatchedRunner(engine);
  const tokenizerPool = new TokenizerPool(options.modelDir, tokenizer.maxTokenBytes);
  return {
    id: path.basename(path.resolve(options.modelDir)),
    modelDir: options.modelDir,
    created: Math.floor(Date.now() / 1000),
    contextLength: engine.config.maxPositionEmbeddings,
    backend: `${engine.model.backend.info().name} on ${engine.model.backend.info().device}`,
    vocabSize: engine.config.vocabSize,
    encode: (text, limit) => tokenizerPool.encode(text, limit),
    decode: (ids, decodeOptions) => tokenizerPool.decode(ids, decodeOptions),
    close: () => tokenizerPool.close(),
    bosId: tokenizer.addBos ? tokenizer.special.bos ?? undefined : undefined,
    fim: tokenizer.special.fim ?? undefined,
    infillPrompt: tokenizer.infillPrompt,
    chatTemplate,
    runner,
    poolPagesInUse: () => engine.cacheStats().pagesInUse,
    // Pages no eviction could free: held by running requests (or leaked, when nothing runs).
    poolPagesPinned: () => engine.cacheStats().pinnedPages,
    cacheTokensInUse: () => runner.sequences.reduce((n, s) => n + s.cache.length, 0),
  };
}
