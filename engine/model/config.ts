// DeepSeek-V2 `config.json`: every key that changes the math, parsed and validated once at load.

export interface YarnScaling {
  type: 'yarn';
  factor: number;
  originalMaxPositionEmbeddings: number;
  betaFast: number;
  betaSlow: number;
  mscale: number;
  mscaleAllDim: number;
}

export type TopkMethod = 'greedy' | 'group_limited_greedy';

export interface DeepseekV2Config {
  vocabSize: number;
  hiddenSize: number;
  numLayers: number;
  numHeads: number;
  /** null: queries come from a plain q_proj; a number: q_a_proj -> q_a_layernorm -> q_b_proj. */
  qLoraRank: number | null;
  kvLoraRank: number;
  qkNopeHeadDim: number;
  qkRopeHeadDim: number;
  vHeadDim: number;
  intermediateSize: number;
  moeIntermediateSize: number;
  /** null: every layer is dense. */
  nRoutedExperts: number | null;
  nSharedExperts: number;
  numExpertsPerTok: number;
  topkMethod: TopkMethod;
  nGroup: number;
  topkGroup: number;
  normTopkProb: boolean;
  routedScalingFactor: number;
  firstKDenseReplace: number;
  moeLayerFreq: number;
  ropeTheta: number;
  ropeScaling: YarnScaling | null;
  rmsNormEps: number;
  tieWordEmbeddings: boolean;
  maxPositionEmbeddings: number;
  bosTokenId: number | null;
  eosTokenId: number | null;
}

export class ConfigError extends Error {
  constructor(file: string, message: string) {
    super(`${file}: ${message}`);
    this.name = 'ConfigError';
  }
}

/** Parse and validate a DeepSeek-V2 config object (`file` names it in errors). */
export function parseConfig(raw: unknown, file = 'config.json'): DeepseekV2Config {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw new ConfigError(file, 'expected a JSON object');
  const o = raw as Record<string, unknown>;
  const fail = (msg: string): never => {
    throw new ConfigError(file, msg);
  };
  const int = (key: string, min = 1): number => {
    const v = o[key];
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min) fail(`"${key}" must be an integer >= ${min} (got ${JSON.stringify(v)})`);
    return v as number;
  };
  const intOr = (key: string, dflt: number, min = 0): number => (o[key] === undefined ? dflt : int(key, min));
  const nullableInt = (key: string): number | null => (o[key] === null || o[key] === undefined ? null : int(key));
  const num = (key: string, dflt?: number): number => {
    const v = o[key] === undefined ? dflt : o[key];
    if (typeof v !== 'number' || !Number.isFinite(v)) fail(`"${key}" must be a finite number (got ${JSON.stringify(o[key])})`);
    return v as number;
  };
  const bool = (key: string, dflt: boolean): boolean => {
    const v = o[key] === undefined ? dflt : o[key];
    if (typeof v !== 'boolean') fail(`"${key}" must be true or false (got ${JSON.stringify(o[key])})`);
    return v as boolean;
  };

  if (o.model_type !== undefined && o.model_type !== 'deepseek_v2') fail(`"model_type" is ${JSON.stringify(o.model_type)}, expected "deepseek_v2"`);
  if (o.hidden_act !== undefined && o.hidden_act !== 'silu') fail(`"hidden_act" ${JSON.stringify(o.hidden_act)} is not supported (only "silu")`);
  if (o.scoring_func !== undefined && o.scoring_func !== 'softmax') fail(`"scoring_func" ${JSON.stringify(o.scoring_func)} is not supported (only "softmax")`);
  if (o.attention_bias === true) fail('"attention_bias": true is not supported');

  const numHeads = int('num_attention_heads');
  const kvHeads = o.num_key_value_heads === undefined ? numHeads : int('num_key_value_heads');
  if (kvHeads !== numHeads) fail(`"num_key_value_heads" (${kvHeads}) must equal "num_attention_heads" (${numHeads}) in MLA`);
  const qkRopeHeadDim = int('qk_rope_head_dim');
  if (qkRopeHeadDim % 2 !== 0) fail(`"qk_rope_head_dim" must be even (got ${qkRopeHeadDim})`);

  const nRoutedExperts = nullableInt('n_routed_experts');
  const numExpertsPerTok = nRoutedExperts === null ? intOr('num_experts_per_tok', 1, 1) : int('num_experts_per_tok');
  if (nRoutedExperts !== null && numExpertsPerTok > nRoutedExperts) {
    fail(`"num_experts_per_tok" (${numExpertsPerTok}) exceeds "n_routed_experts" (${nRoutedExperts})`);
  }
  const topkMethod = (o.topk_method ?? 'greedy') as string;
  if (topkMethod !== 'greedy' && topkMethod !== 'group_limited_greedy') fail(`"topk_method" ${JSON.stringify(o.topk_method)} is not supported (greedy or group_limited_greedy)`);
  const nGroup = intOr('n_group', 1, 1);
  const topkGroup = intOr('topk_group', 1, 1);
  if (topkMethod === 'group_limited_greedy' && nRoutedExperts !== null) {
    if (nRoutedExperts % nGroup !== 0) fail(`"n_routed_experts" (${nRoutedExperts}) is not divisible by "n_group" (${nGroup})`);
    if (topkGroup > nGroup) fail(`"topk_group" (${topkGroup}) exceeds "n_group" (${nGroup})`);
    if (numExpertsPerTok > topkGroup * (nRoutedExperts / nGroup)) fail(`"num_experts_per_tok" (${numExpertsPerTok}) exceeds the experts in "topk_group" groups`);
  }
  const numLayers = int('num_hidden_layers');

  const config: DeepseekV2Config = {
    vocabSize: int('vocab_size'),
    hiddenSize: int('hidden_size'),
    numLayers,
    numHeads,
    qLoraRank: nullableInt('q_lora_rank'),
    kvLoraRank: int('kv_lora_rank'),
    qkNopeHeadDim: int('qk_nope_head_dim'),
    qkRopeHeadDim,
    vHeadDim: int('v_head_dim'),
    intermediateSize: int('intermediate_size'),
    moeIntermediateSize: nRoutedExperts === null ? intOr('moe_intermediate_size', 1, 1) : int('moe_intermediate_size'),
    nRoutedExperts,
    nSharedExperts: intOr('n_shared_experts', 0, 0),
    numExpertsPerTok,
    topkMethod: topkMethod as TopkMethod,
    nGroup,
    topkGroup,
    normTopkProb: bool('norm_topk_prob', false),
    routedScalingFactor: num('routed_scaling_factor', 1),
    firstKDenseReplace: intOr('first_k_dense_replace', 0, 0),
    moeLayerFreq: intOr('moe_layer_freq', 1, 1),
    ropeTheta: num('rope_theta', 10000),
    ropeScaling: parseRopeScaling(o.rope_scaling, fail),
    rmsNormEps: num('rms_norm_eps', 1e-6),
    tieWordEmbeddings: bool('tie_word_embeddings', false),
    maxPositionEmbeddings: intOr('max_position_embeddings', 2048, 1),
    bosTokenId: o.bos_token_id === undefined || o.bos_token_id === null ? null : int('bos_token_id', 0),
    eosTokenId: o.eos_token_id === undefined || o.eos_token_id === null ? null : int('eos_token_id', 0),
  };
  if (config.ropeTheta <= 0) fail('"rope_theta" must be positive');
  if (config.rmsNormEps <= 0) fail('"rms_norm_eps" must be positive');
  for (const id of ['bosTokenId', 'eosTokenId'] as const) {
    const v = config[id];
    if (v !== null && v >= config.vocabSize) fail(`"${id === 'bosTokenId' ? 'bos_token_id' : 'eos_token_id'}" (${v}) is outside the vocabulary (${config.vocabSize})`);
  }
  return config;
}

function parseRopeScaling(v: unknown, fail: (msg: string) => never): YarnScaling | null {
  if (v === null || v === undefined) return null;
  if (typeof v !== 'object' || Array.isArray(v)) return fail('"rope_scaling" must be null or an object');
  const s = v as Record<string, unknown>;
  const type = s.type ?? s.rope_type;
  if (type !== 'yarn') return fail(`"rope_scaling.type" ${JSON.stringify(type)} is not supported (only "yarn")`);
  const n = (key: string, dflt: number): number => {
    const x = s[key] === undefined ? dflt : s[key];
    if (typeof x !== 'number' || !Number.isFinite(x)) fail(`"rope_scaling.${key}" must be a finite number (got ${JSON.stringify(s[key])})`);
    return x as number;
  };
  if (s.factor === undefined) fail('"rope_scaling.factor" is missing');
  if (s.original_max_position_embeddings === undefined) fail('"rope_scaling.original_max_position_embeddings" is missing');
  const scaling: YarnScaling = {
    type: 'yarn',
    factor: n('factor', 1),
    originalMaxPositionEmbeddings: n('original_max_position_embeddings', 4096),
    betaFast: n('beta_fast', 32),
    betaSlow: n('beta_slow', 1),
    mscale: n('mscale', 1),
    mscaleAllDim: n('mscale_all_dim', 0),
  };
  if (scaling.factor <= 0) fail('"rope_scaling.factor" must be positive');
  if (scaling.originalMaxPositionEmbeddings <= 0) fail('"rope_scaling.original_max_position_embeddings" must be positive');
  return scaling;
}

/** Whether layer `i` is an MoE layer (else a dense MLP of intermediate_size). */
export function isMoeLayer(config: DeepseekV2Config, i: number): boolean {
  return config.nRoutedExperts !== null && i >= config.firstKDenseReplace && i % config.moeLayerFreq === 0;
}
