// Running prompts through a PromptCache as the engine does, against a fixture model, and what the cache tests
// compare with: a full recompute, the next-token distribution, and each cached token's provenance.
import { ContiguousLatentCache } from '../../engine/cache/latentCache';
import type { LatentFormat } from '../../engine/cache/latentFormat';
import { PagedLatentCache } from '../../engine/cache/pagedLatentCache';
import { PreparedPrompt, PromptCache, ReusePolicy } from '../../engine/cache/promptCache';
import type { DeepseekV2Model } from '../../engine/model/deepseekV2';

export function promptCacheFor(model: DeepseekV2Model, policy: ReusePolicy, format: LatentFormat = 'fp32', budgetBytes = 64 * 2 ** 20): PromptCache {
  const c = model.config;
  return new PromptCache({ numLayers: c.numLayers, kvLoraRank: c.kvLoraRank, qkRopeHeadDim: c.qkRopeHeadDim }, model.rope, { format, budgetBytes, policy });
}

/** A fresh cache holding `tokens`, computed in one forward (the oracle). */
export async function fullCache(model: DeepseekV2Model, tokens: number[]): Promise<{ cache: ContiguousLatentCache; logits: Float32Array }> {
  const c = model.config;
  const cache = new ContiguousLatentCache(c.numLayers, c.kvLoraRank, c.qkRopeHeadDim);
  const [logits] = await model.forward([{ cache, tokens, logits: 'last' }]);
  return { cache, logits };
}

export async function fullLogits(model: DeepseekV2Model, tokens: number[]): Promise<Float32Array> {
  return (await fullCache(model, tokens)).logits;
}

export interface PromptRun {
  logits: Float32Array;
  cachedTokens: number;
  prepared: PreparedPrompt;
  /** Prompt positions whose latents the model computed (the gaps, then the pending tail), in order. */
  computed: number[];
}

/** Prepares `tokens`, computes what is pending and returns the last logits; the request is then finished (cached) unless `keep` is false. */
export async function runPrompt(model: DeepseekV2Model, pc: PromptCache, tokens: number[], keep = true): Promise<PromptRun> {
  const computed: number[] = [];
  const note = (cache: PagedLatentCache, count: number) => {
    for (let i = 0; i < count; i++) computed.push(cache.length + i);
  };
  const prepared = await pc.prepare(tokens, async (cache, toks) => {
    note(cache, toks.length);
    await model.forward([{ cache, tokens: toks, logits: 'none' }]);
  });
  note(prepared.cache, prepared.pending.length);
  let logits: Float32Array;
  try {
    [logits] = await model.forward([{ cache: prepared.cache, tokens: prepared.pending, logits: 'last' }]);
  } catch (e) {
    pc.abandon(prepared);
    throw e;
  }
  if (keep) pc.finish(prepared, tokens);
  else pc.abandon(prepared);
  return { logits, cachedTokens: prepared.cachedTokens, prepared, computed };
}

/** Positions [from, to) as a list. */
export function range(from: number, to: number): number[] {
  return Array.from({ length: Math.max(0, to - from) }, (_, i) => from + i);
}

export function softmax(logits: ArrayLike<number>): Float64Array {
  let max = -Infinity;
  for (let i = 0; i < logits.length; i++) max = Math.max(max, logits[i]);
  const out = new Float64Array(logits.length);
  let sum = 0;
  for (let i = 0; i < logits.length; i++) sum += out[i] = Math.exp(logits[i] - max);
  for (let i = 0; i < out.length; i++) out[i] /= sum;
  return out;
}

/** KL(p || q) of the next-token distributions of two logit vectors. */
export function klOfLogits(exact: ArrayLike<number>, approx: ArrayLike<number>): number {
  const p = softmax(exact), q = softmax(approx);
  let kl = 0;
  for (let i = 0; i < p.length; i++) if (p[i] > 0) kl += p[i] * Math.log(p[i] / Math.max(q[i], 1e-300));
  return kl;
}

/** Every page reference the pool should account for: the tree's and the live caches'. */
export function heldPages(pc: PromptCache, live: Iterable<PagedLatentCache>): Map<number, number> {
  const held = pc.tree.checkInvariants();
  for (const cache of live) for (const p of cache.pages) held.set(p, (held.get(p) ?? 0) + 1);
  return held;
}
