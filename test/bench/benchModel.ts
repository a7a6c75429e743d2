// Models and inputs for the benchmarks: DeepSeek-V2-Lite's real shapes with random weights (speed does not
// depend on the values), and a real, large source file tokenized with the DeepSeek vocabulary.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CpuBackend } from '../../engine/backend/cpu/cpuBackend';
import type { LatentCache } from '../../engine/cache/latentCache';
import type { Engine } from '../../engine/engine';
import { argmax } from '../../engine/generate/sampler';
import { DeepseekV2Config, parseConfig } from '../../engine/model/config';
import { DeepseekV2Model } from '../../engine/model/deepseekV2';
import { ModelTokenizer } from '../../engine/tokenizer/modelTokenizer';
import { randomWeights } from '../../engine/weights/randomCheckpoint';
import { TOKENIZERS_DIR } from '../sharedDir';

/** DeepSeek-V2-Lite's config.json (YaRN factor 40 over 4,096), with the layer count chosen by the bench. */
export function v2LiteConfig(numLayers: number): DeepseekV2Config {
  return parseConfig({
    model_type: 'deepseek_v2',
    vocab_size: 102400,
    hidden_size: 2048,
    intermediate_size: 10944,
    moe_intermediate_size: 1408,
    num_hidden_layers: numLayers,
    num_attention_heads: 16,
    num_key_value_heads: 16,
    n_shared_experts: 2,
    n_routed_experts: 64,
    num_experts_per_tok: 6,
    routed_scaling_factor: 1.0,
    topk_method: 'greedy',
    n_group: 1,
    topk_group: 1,
    norm_topk_prob: false,
    first_k_dense_replace: 1,
    moe_layer_freq: 1,
    q_lora_rank: null,
    kv_lora_rank: 512,
    qk_nope_head_dim: 128,
    qk_rope_head_dim: 64,
    v_head_dim: 128,
    rope_theta: 10000,
    rope_scaling: { type: 'yarn', factor: 40, original_max_position_embeddings: 4096, beta_fast: 32, beta_slow: 1, mscale: 0.707, mscale_all_dim: 0.707 },
    rms_norm_eps: 1e-6,
    max_position_embeddings: 163840,
    tie_word_embeddings: false,
    bos_token_id: 100000,
    eos_token_id: 100001,
  }, 'DeepSeek-V2-Lite config');
}

/**
 * Random F16 weights of every tensor, exactly as `latent init-random --seed SEED --dtype f16` writes them, on the
 * fast CPU backend (all cores).
 */
export async function randomModel(config: DeepseekV2Config, seed = 1): Promise<DeepseekV2Model> {
  return new DeepseekV2Model(config, randomWeights(config, { seed, dtype: 'f16' }), await CpuBackend.create());
}

/** A real TypeScript source file from node_modules (the same text the llama.cpp speed anchor used). */
export const SOURCE_FILE = path.resolve(__dirname, '..', '..', '..', 'node_modules', '@huggingface', 'jinja', 'src', 'runtime.ts');

export function deepseekTokenizer(): ModelTokenizer {
  return ModelTokenizer.load(path.join(TOKENIZERS_DIR, 'deepseek-llm'));
}

export function sourceText(): string {
  return fs.readFileSync(SOURCE_FILE, 'utf8');
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

/** Our engine's prefill as the benchmarks run it: a fresh cache, fed in batches of 512 (as llama.cpp's batch). */
export async function prefillInBatches(engine: Engine, prompt: number[]): Promise<{ cache: LatentCache; logits: Float32Array }> {
  const cache = engine.newCache();
  let logits: Float32Array = new Float32Array(0);
  for (let i = 0; i < prompt.length; i += 512) {
    [logits] = await engine.model.forward([{ cache, tokens: prompt.slice(i, i + 512), logits: i + 512 >= prompt.length ? 'last' : 'none' }]);
  }
  return { cache, logits };
}

/** `count` greedy tokens after `first`, one forward each (decode). */
export async function greedyTokens(engine: Engine, cache: LatentCache, first: number, count: number): Promise<number[]> {
  const out: number[] = [];
  let next = first;
  for (let k = 0; k < count; k++) {
    const [logits] = await engine.model.forward([{ cache, tokens: [next], logits: 'last' }]);
    next = argmax(logits);
    out.push(next);
  }
  return out;
}
