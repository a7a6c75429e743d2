// llama.cpp's `deepseek2` metadata <-> the engine's DeepseekV2Config. Reading names the GGUF key at fault; the
// result then goes through parseConfig's own checks. Writing follows what llama.cpp's converter writes for
// DeepSeek-V2 (plus `attention.q_lora_rank` = 0 for models without q_lora, which llama.cpp otherwise only infers
// from a 26/27-layer count).
import { DeepseekV2Config, parseConfig } from '../../model/config';
import { GgufError } from './ggufReader';
import { GgufValue, GgufValueType, typeName } from './ggufFormat';

export const ARCH = 'deepseek2';
const P = `${ARCH}.`;
/** `expert_gating_func` values (llama.cpp's llama_expert_gating_func_type). */
const GATING_SOFTMAX = 1;
/** llama.cpp stores YaRN's mscale_all_dim as 0.1 · it (and divides by 0.1 again on load). */
const YARN_LOG_MUL_SCALE = 0.1;

export type MetadataEntry = [key: string, value: GgufValue];

/** Which kv_b layout a file uses: MLA split attn_k_b/attn_v_b (when the *_mla keys are present), or attn_kv_b. */
export type KvBLayout = 'split' | 'legacy';

/** Typed reads of a file's metadata, each failure naming the key. */
export class MetadataReader {
  constructor(private readonly file: string, private readonly metadata: Map<string, GgufValue>) {}

  fail(key: string, msg: string): never {
    throw new GgufError(this.file, `metadata "${key}" ${msg}`);
  }

  has(key: string): boolean {
    return this.metadata.has(key);
  }

  private scalar(key: string, optional: boolean): GgufValue | undefined {
    const v = this.metadata.get(key);
    if (v === undefined) return optional ? undefined : this.fail(key, 'is missing');
    if (v.type === GgufValueType.ARRAY) this.fail(key, 'is an array, expected a single value');
    return v;
  }

  uint(key: string): number;
  uint(key: string, dflt: number): number;
  uint(key: string, dflt?: number): number {
    const v = this.scalar(key, dflt !== undefined);
    if (v === undefined) return dflt!;
    const ints = [GgufValueType.UINT8, GgufValueType.UINT16, GgufValueType.UINT32, GgufValueType.UINT64, GgufValueType.INT8, GgufValueType.INT16, GgufValueType.INT32, GgufValueType.INT64];
    if (!ints.includes(v.type) || typeof v.value !== 'number' || v.value < 0) this.fail(key, `must be a non-negative integer (got ${typeName(v.type)} ${String(v.value)})`);
    return v.value as number;
  }

  float(key: string, dflt?: number): number {
    const v = this.scalar(key, dflt !== undefined);
    if (v === undefined) return dflt!;
    if (typeof v.value !== 'number' || !Number.isFinite(v.value)) this.fail(key, `must be a number (got ${typeName(v.type)} ${String(v.value)})`);
    return v.type === GgufValueType.FLOAT32 ? shortestFloat32(v.value as number) : (v.value as number);
  }

  bool(key: string, dflt: boolean): boolean {
    const v = this.scalar(key, true);
    if (v === undefined) return dflt;
    if (v.type !== GgufValueType.BOOL) this.fail(key, `must be a bool (got ${typeName(v.type)})`);
    return v.value as boolean;
  }

  string(key: string): string;
  string(key: string, optional: true): string | undefined;
  string(key: string, optional = false): string | undefined {
    const v = this.scalar(key, optional);
    if (v === undefined) return undefined;
    if (v.type !== GgufValueType.STRING) this.fail(key, `must be a string (got ${typeName(v.type)})`);
    return v.value as string;
  }

  array(key: string, itemTypes: GgufValueType[]): unknown[];
  array(key: string, itemTypes: GgufValueType[], optional: true): unknown[] | undefined;
  array(key: string, itemTypes: GgufValueType[], optional = false): unknown[] | undefined {
    const v = this.metadata.get(key);
    if (v === undefined) return optional ? undefined : this.fail(key, 'is missing');
    if (v.type !== GgufValueType.ARRAY || !itemTypes.includes(v.itemType)) this.fail(key, `must be an array of ${itemTypes.map(typeName).join(' or ')}`);
    return (v as { value: unknown[] }).value;
  }
}

/**
 * The shortest decimal that rounds to the same float32 as `x`: configs are written in decimals (1e-6, 0.707), and
 * GGUF keeps them as float32, so this recovers the config's own value rather than the float32's binary expansion.
 */
export function shortestFloat32(x: number): number {
  const f = Math.fround(x);
  for (let digits = 1; digits <= 9; digits++) {
    const d = Number(f.toPrecision(digits));
    if (Math.fround(d) === f) return d;
  }
  return f;
}

/** The engine's config from a `deepseek2` file's metadata, and which kv_b layout its tensors use. */
export function configFromMetadata(file: string, metadata: Map<string, GgufValue>, hasOutputTensor: boolean): { config: DeepseekV2Config; kvB: KvBLayout } {
  const m = new MetadataReader(file, metadata);
  const arch = m.string('general.architecture');
  if (arch !== ARCH) m.fail('general.architecture', `is "${arch}"; only "${ARCH}" (DeepSeek-V2) is supported`);
  const gating = m.uint(`${P}expert_gating_func`, GATING_SOFTMAX);
  if (gating !== GATING_SOFTMAX) m.fail(`${P}expert_gating_func`, `is ${gating}; only 1 (softmax, DeepSeek-V2) is supported`);
  if (m.has(`${P}expert_weights_scale`) && m.float(`${P}expert_weights_scale`) < 0) m.fail(`${P}expert_weights_scale`, 'must not be negative');
  if (m.has(`${P}attention.sliding_window`)) m.fail(`${P}attention.sliding_window`, 'is not supported');

  const heads = m.uint(`${P}attention.head_count`);
  const rope = m.uint(`${P}rope.dimension_count`);
  const kvLoraRank = m.uint(`${P}attention.kv_lora_rank`);
  const split = m.has(`${P}attention.key_length_mla`) && m.has(`${P}attention.value_length_mla`);
  const keyKey = split ? `${P}attention.key_length_mla` : `${P}attention.key_length`;
  const qkHead = m.uint(keyKey);
  if (qkHead <= rope) m.fail(keyKey, `(${qkHead}) must exceed rope.dimension_count (${rope})`);
  const vHead = m.uint(split ? `${P}attention.value_length_mla` : `${P}attention.value_length`);
  const headsKv = m.uint(`${P}attention.head_count_kv`, split ? 1 : heads);
  if (split && m.has(`${P}attention.key_length`) && m.uint(`${P}attention.key_length`) !== kvLoraRank + rope) {
    m.fail(`${P}attention.key_length`, `must be kv_lora_rank + rope.dimension_count (${kvLoraRank + rope}) in the MLA layout`);
  }
  if (headsKv !== (split ? 1 : heads)) m.fail(`${P}attention.head_count_kv`, `is ${headsKv}; the ${split ? 'MLA' : 'legacy'} layout needs ${split ? 1 : heads}`);

  const blocks = m.uint(`${P}block_count`);
  const experts = m.uint(`${P}expert_count`, 0);
  const qLora = m.uint(`${P}attention.q_lora_rank`);
  const nGroup = m.uint(`${P}expert_group_count`, 1);
  const scalingType = m.string(`${P}rope.scaling.type`, true) ?? 'none';
  if (scalingType !== 'none' && scalingType !== 'yarn') m.fail(`${P}rope.scaling.type`, `"${scalingType}" is not supported (yarn or none)`);
  const mscaleAllDim = scalingType === 'yarn' ? shortestFloat32(m.float(`${P}rope.scaling.yarn_log_multiplier`, 0) / YARN_LOG_MUL_SCALE) : 0;
  const bos = m.has('tokenizer.ggml.bos_token_id') ? m.uint('tokenizer.ggml.bos_token_id') : null;
  const eos = m.has('tokenizer.ggml.eos_token_id') ? m.uint('tokenizer.ggml.eos_token_id') : null;
  const tokens = m.array('tokenizer.ggml.tokens', [GgufValueType.STRING], true);
  const vocab = m.has(`${P}vocab_size`) ? m.uint(`${P}vocab_size`) : tokens?.length ?? m.fail(`${P}vocab_size`, 'is missing (and there is no tokenizer.ggml.tokens)');

  const raw = {
    model_type: 'deepseek_v2',
    vocab_size: vocab,
    hidden_size: m.uint(`${P}embedding_length`),
    intermediate_size: m.uint(`${P}feed_forward_length`),
    moe_intermediate_size: experts > 0 ? m.uint(`${P}expert_feed_forward_length`) : undefined,
    num_hidden_layers: blocks,
    num_attention_heads: heads,
    num_key_value_heads: heads,
    q_lora_rank: qLora === 0 ? null : qLora,
    kv_lora_rank: kvLoraRank,
    qk_nope_head_dim: qkHead - rope,
    qk_rope_head_dim: rope,
    v_head_dim: vHead,
    n_routed_experts: experts > 0 ? experts : null,
    n_shared_experts: experts > 0 ? m.uint(`${P}expert_shared_count`, 0) : 0,
    num_experts_per_tok: experts > 0 ? m.uint(`${P}expert_used_count`) : undefined,
    topk_method: nGroup > 1 ? 'group_limited_greedy' : 'greedy',
    n_group: nGroup,
    topk_group: m.uint(`${P}expert_group_used_count`, 1),
    norm_topk_prob: m.bool(`${P}expert_weights_norm`, false),
    routed_scaling_factor: m.float(`${P}expert_weights_scale`, 1) || 1, // 0 means "no scaling" to llama.cpp
    first_k_dense_replace: experts > 0 ? m.uint(`${P}leading_dense_block_count`, 0) : 0,
    moe_layer_freq: 1,
    rope_theta: m.float(`${P}rope.freq_base`, 10000),
    rope_scaling: scalingType === 'yarn'
      ? {
          type: 'yarn',
          factor: m.float(`${P}rope.scaling.factor`),
          original_max_position_embeddings: m.uint(`${P}rope.scaling.original_context_length`),
          beta_fast: m.float(`${P}rope.scaling.yarn_beta_fast`, 32),
          beta_slow: m.float(`${P}rope.scaling.yarn_beta_slow`, 1),
          // GGUF has one mscale; llama.cpp takes mscale = mscale_all_dim, as every DeepSeek-V2 config has it.
          mscale: mscaleAllDim,
          mscale_all_dim: mscaleAllDim,
        }
      : null,
    rms_norm_eps: m.float(`${P}attention.layer_norm_rms_epsilon`),
    tie_word_embeddings: !hasOutputTensor,
    max_position_embeddings: m.uint(`${P}context_length`, 4096),
    bos_token_id: bos,
    eos_token_id: eos,
  };
  return { config: parseConfig(raw, `${file} (deepseek2 metadata)`), kvB: split ? 'split' : 'legacy' };
}

/** The `deepseek2` metadata of a config, in the given kv_b layout (tokenizer keys apart). */
export function metadataFromConfig(c: DeepseekV2Config, layout: KvBLayout, name: string, fileType: number): MetadataEntry[] {
  const u32 = (v: number): GgufValue => ({ type: GgufValueType.UINT32, value: v });
  const f32 = (v: number): GgufValue => ({ type: GgufValueType.FLOAT32, value: v });
  const str = (v: string): GgufValue => ({ type: GgufValueType.STRING, value: v });
  if (c.moeLayerFreq !== 1 && c.nRoutedExperts !== null) throw new Error(`moe_layer_freq ${c.moeLayerFreq} cannot be written to GGUF (llama.cpp's deepseek2 makes every layer after the dense ones MoE)`);
  const y = c.ropeScaling;
  if (y && y.mscale !== y.mscaleAllDim) throw new Error(`rope_scaling.mscale (${y.mscale}) differs from mscale_all_dim (${y.mscaleAllDim}); GGUF's deepseek2 holds only one`);
  const grouped = c.topkMethod === 'group_limited_greedy';
  const out: MetadataEntry[] = [
    ['general.architecture', str(ARCH)],
    ['general.name', str(name)],
    ['general.file_type', u32(fileType)],
    [`${P}block_count`, u32(c.numLayers)],
    [`${P}context_length`, u32(c.maxPositionEmbeddings)],
    [`${P}embedding_length`, u32(c.hiddenSize)],
    [`${P}feed_forward_length`, u32(c.intermediateSize)],
    [`${P}attention.head_count`, u32(c.numHeads)],
    [`${P}attention.head_count_kv`, u32(layout === 'split' ? 1 : c.numHeads)],
    [`${P}rope.freq_base`, f32(c.ropeTheta)],
    [`${P}attention.layer_norm_rms_epsilon`, f32(c.rmsNormEps)],
    [`${P}vocab_size`, u32(c.vocabSize)],
    [`${P}attention.q_lora_rank`, u32(c.qLoraRank ?? 0)],
    [`${P}attention.kv_lora_rank`, u32(c.kvLoraRank)],
  ];
  if (layout === 'split') {
    out.push([`${P}attention.key_length`, u32(c.kvLoraRank + c.qkRopeHeadDim)], [`${P}attention.value_length`, u32(c.kvLoraRank)],
      [`${P}attention.key_length_mla`, u32(c.qkNopeHeadDim + c.qkRopeHeadDim)], [`${P}attention.value_length_mla`, u32(c.vHeadDim)]);
  } else {
    out.push([`${P}attention.key_length`, u32(c.qkNopeHeadDim + c.qkRopeHeadDim)], [`${P}attention.value_length`, u32(c.vHeadDim)]);
  }
  out.push([`${P}rope.dimension_count`, u32(c.qkRopeHeadDim)]);
  if (c.nRoutedExperts !== null) {
    out.push(
      [`${P}leading_dense_block_count`, u32(c.firstKDenseReplace)],
      [`${P}expert_feed_forward_length`, u32(c.moeIntermediateSize)],
      [`${P}expert_count`, u32(c.nRoutedExperts)],
      [`${P}expert_shared_count`, u32(c.nSharedExperts)],
      [`${P}expert_used_count`, u32(c.numExpertsPerTok)],
      [`${P}expert_group_count`, u32(grouped ? c.nGroup : 1)],
      [`${P}expert_group_used_count`, u32(grouped ? c.topkGroup : 1)],
      [`${P}expert_weights_scale`, f32(c.routedScalingFactor)],
      [`${P}expert_gating_func`, u32(GATING_SOFTMAX)],
    );
    if (c.normTopkProb) out.push([`${P}expert_weights_norm`, { type: GgufValueType.BOOL, value: true }]);
  } else {
    out.push([`${P}leading_dense_block_count`, u32(c.numLayers)], [`${P}expert_count`, u32(0)]);
  }
  if (y) {
    out.push(
      [`${P}rope.scaling.type`, str('yarn')],
      [`${P}rope.scaling.factor`, f32(y.factor)],
      [`${P}rope.scaling.original_context_length`, u32(y.originalMaxPositionEmbeddings)],
      [`${P}rope.scaling.yarn_log_multiplier`, f32(YARN_LOG_MUL_SCALE * y.mscaleAllDim)],
      [`${P}rope.scaling.yarn_beta_fast`, f32(y.betaFast)],
      [`${P}rope.scaling.yarn_beta_slow`, f32(y.betaSlow)],
    );
  }
  return out;
}
