// The tensors of a Hugging Face DeepSeek-V2 checkpoint: names and [out, in] shapes, derived from the config.
import { DeepseekV2Config, isMoeLayer } from './config';

export interface TensorSpec {
  name: string;
  shape: number[];
  /** Which kind of initialisation a random checkpoint uses (see init-random). */
  kind: 'embedding' | 'norm' | 'linear';
}

export function checkpointLayout(c: DeepseekV2Config): TensorSpec[] {
  const specs: TensorSpec[] = [];
  const linear = (name: string, out: number, inp: number) => specs.push({ name, shape: [out, inp], kind: 'linear' });
  const norm = (name: string, dim: number) => specs.push({ name, shape: [dim], kind: 'norm' });
  const mlp = (prefix: string, inter: number) => {
    linear(`${prefix}.gate_proj.weight`, inter, c.hiddenSize);
    linear(`${prefix}.up_proj.weight`, inter, c.hiddenSize);
    linear(`${prefix}.down_proj.weight`, c.hiddenSize, inter);
  };
  const qHead = c.qkNopeHeadDim + c.qkRopeHeadDim;

  specs.push({ name: 'model.embed_tokens.weight', shape: [c.vocabSize, c.hiddenSize], kind: 'embedding' });
  for (let i = 0; i < c.numLayers; i++) {
    const p = `model.layers.${i}`;
    norm(`${p}.input_layernorm.weight`, c.hiddenSize);
    norm(`${p}.post_attention_layernorm.weight`, c.hiddenSize);
    if (c.qLoraRank === null) {
      linear(`${p}.self_attn.q_proj.weight`, c.numHeads * qHead, c.hiddenSize);
    } else {
      linear(`${p}.self_attn.q_a_proj.weight`, c.qLoraRank, c.hiddenSize);
      norm(`${p}.self_attn.q_a_layernorm.weight`, c.qLoraRank);
      linear(`${p}.self_attn.q_b_proj.weight`, c.numHeads * qHead, c.qLoraRank);
    }
    linear(`${p}.self_attn.kv_a_proj_with_mqa.weight`, c.kvLoraRank + c.qkRopeHeadDim, c.hiddenSize);
    norm(`${p}.self_attn.kv_a_layernorm.weight`, c.kvLoraRank);
    linear(`${p}.self_attn.kv_b_proj.weight`, c.numHeads * (c.qkNopeHeadDim + c.vHeadDim), c.kvLoraRank);
    linear(`${p}.self_attn.o_proj.weight`, c.hiddenSize, c.numHeads * c.vHeadDim);
    if (isMoeLayer(c, i)) {
      linear(`${p}.mlp.gate.weight`, c.nRoutedExperts!, c.hiddenSize);
      for (let e = 0; e < c.nRoutedExperts!; e++) mlp(`${p}.mlp.experts.${e}`, c.moeIntermediateSize);
      if (c.nSharedExperts > 0) mlp(`${p}.mlp.shared_experts`, c.moeIntermediateSize * c.nSharedExperts);
    } else {
      mlp(`${p}.mlp`, c.intermediateSize);
    }
  }
  norm('model.norm.weight', c.hiddenSize);
  if (!c.tieWordEmbeddings) linear('lm_head.weight', c.vocabSize, c.hiddenSize);
  return specs;
}
