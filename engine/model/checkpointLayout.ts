// The tensors of a DeepSeek-V2 checkpoint, named once: each tensor's Hugging Face name and [out, in] shape
// (derived from the config), and where llama.cpp's `deepseek2` GGUF layout keeps the same numbers. The model and
// every loader and writer take their names from here.
import { DeepseekV2Config, isMoeLayer } from './config';

/**
 * Where a tensor's numbers lie in a GGUF file (llama.cpp names; GGUF lists dims innermost first, so an HF
 * [out, in] matrix is ne {in, out}, the same bytes):
 * - `tensor`: one GGUF tensor holds exactly this one;
 * - `expert`: slice `expert` of a stacked [count, out, in] tensor (ne {in, out, count});
 * - `kvB`: kv_b_proj, either whole (`legacy`, ne {r, H·(dn+dv)}) or split per head into `k` = W_UKᵀ
 *   (ne {dn, r, H}) and `v` = W_UV (ne {r, dv, H}), as llama.cpp's MLA layout stores it.
 */
export type GgufPlace =
  | { kind: 'tensor'; name: string }
  | { kind: 'expert'; name: string; expert: number; count: number }
  | { kind: 'kvB'; legacy: string; k: string; v: string };

export interface TensorSpec {
  /** The Hugging Face name (the key of the model's weight map). */
  name: string;
  shape: number[];
  /** Which kind of initialisation a random checkpoint uses (see init-random). */
  kind: 'embedding' | 'norm' | 'linear';
  gguf: GgufPlace;
  /** Kept in F32 in any GGUF (norms and the router, as llama.cpp's converter does). */
  ggufF32: boolean;
}

export interface MlpNames {
  gate: string;
  up: string;
  down: string;
}

/** The Hugging Face names of one layer's tensors (the q_proj / q_a / q_b and mlp / router / experts entries exist only where the config uses them). */
export interface LayerNames {
  inputNorm: string;
  postAttentionNorm: string;
  qProj: string;
  qA: string;
  qANorm: string;
  qB: string;
  kvA: string;
  kvANorm: string;
  kvB: string;
  oProj: string;
  mlp: MlpNames;
  router: string;
  expert(e: number): MlpNames;
  shared: MlpNames;
}

export const GLOBAL_NAMES = { embed: 'model.embed_tokens.weight', finalNorm: 'model.norm.weight', lmHead: 'lm_head.weight' } as const;
const GLOBAL_GGUF: Record<keyof typeof GLOBAL_NAMES, string> = { embed: 'token_embd.weight', finalNorm: 'output_norm.weight', lmHead: 'output.weight' };

/** Per attention/norm role: the HF name under `model.layers.N.` and the GGUF name under `blk.N.`. */
const LAYER_TABLE = {
  inputNorm: ['input_layernorm.weight', 'attn_norm.weight'],
  postAttentionNorm: ['post_attention_layernorm.weight', 'ffn_norm.weight'],
  qProj: ['self_attn.q_proj.weight', 'attn_q.weight'],
  qA: ['self_attn.q_a_proj.weight', 'attn_q_a.weight'],
  qANorm: ['self_attn.q_a_layernorm.weight', 'attn_q_a_norm.weight'],
  qB: ['self_attn.q_b_proj.weight', 'attn_q_b.weight'],
  kvA: ['self_attn.kv_a_proj_with_mqa.weight', 'attn_kv_a_mqa.weight'],
  kvANorm: ['self_attn.kv_a_layernorm.weight', 'attn_kv_a_norm.weight'],
  kvB: ['self_attn.kv_b_proj.weight', 'attn_kv_b.weight'],
  oProj: ['self_attn.o_proj.weight', 'attn_output.weight'],
  router: ['mlp.gate.weight', 'ffn_gate_inp.weight'],
} as const;
type LayerRole = keyof typeof LAYER_TABLE;
/** The projections of a gated MLP: HF `*_proj`, GGUF `ffn_*` plus a suffix per kind of MLP. */
const MLP_TABLE = { gate: ['gate_proj', 'ffn_gate'], up: ['up_proj', 'ffn_up'], down: ['down_proj', 'ffn_down'] } as const;
type MlpRole = keyof typeof MLP_TABLE;
const MLP_ROLES: MlpRole[] = ['gate', 'up', 'down'];
/** GGUF suffix of each kind of MLP: the dense layer's, the stacked routed experts', the shared experts'. */
const GGUF_MLP_SUFFIX = { dense: '', experts: '_exps', shared: '_shexp' } as const;

function mlpNames(prefix: string): MlpNames {
  return { gate: `${prefix}.gate_proj.weight`, up: `${prefix}.up_proj.weight`, down: `${prefix}.down_proj.weight` };
}

export function layerNames(i: number): LayerNames {
  const p = `model.layers.${i}`;
  const hf = (role: LayerRole) => `${p}.${LAYER_TABLE[role][0]}`;
  return {
    inputNorm: hf('inputNorm'),
    postAttentionNorm: hf('postAttentionNorm'),
    qProj: hf('qProj'),
    qA: hf('qA'),
    qANorm: hf('qANorm'),
    qB: hf('qB'),
    kvA: hf('kvA'),
    kvANorm: hf('kvANorm'),
    kvB: hf('kvB'),
    oProj: hf('oProj'),
    mlp: mlpNames(`${p}.mlp`),
    router: hf('router'),
    expert: (e) => mlpNames(`${p}.mlp.experts.${e}`),
    shared: mlpNames(`${p}.mlp.shared_experts`),
  };
}

export function checkpointLayout(c: DeepseekV2Config): TensorSpec[] {
  const specs: TensorSpec[] = [];
  const ggufTensor = (name: string): GgufPlace => ({ kind: 'tensor', name });
  const qHead = c.qkNopeHeadDim + c.qkRopeHeadDim;

  specs.push({ name: GLOBAL_NAMES.embed, shape: [c.vocabSize, c.hiddenSize], kind: 'embedding', gguf: ggufTensor(GLOBAL_GGUF.embed), ggufF32: false });
  for (let i = 0; i < c.numLayers; i++) {
    const blk = (role: LayerRole) => `blk.${i}.${LAYER_TABLE[role][1]}`;
    const n = layerNames(i);
    const linear = (role: LayerRole, out: number, inp: number) =>
      specs.push({ name: n[role] as string, shape: [out, inp], kind: 'linear', gguf: ggufTensor(blk(role)), ggufF32: role === 'router' });
    const norm = (role: LayerRole, dim: number) =>
      specs.push({ name: n[role] as string, shape: [dim], kind: 'norm', gguf: ggufTensor(blk(role)), ggufF32: true });
    const mlp = (names: MlpNames, kind: keyof typeof GGUF_MLP_SUFFIX, inter: number, expert?: number) => {
      for (const role of MLP_ROLES) {
        const shape = role === 'down' ? [c.hiddenSize, inter] : [inter, c.hiddenSize];
        const name = `blk.${i}.${MLP_TABLE[role][1]}${GGUF_MLP_SUFFIX[kind]}.weight`;
        const gguf: GgufPlace = expert === undefined ? ggufTensor(name) : { kind: 'expert', name, expert, count: c.nRoutedExperts! };
        specs.push({ name: names[role], shape, kind: 'linear', gguf, ggufF32: false });
      }
    };

    norm('inputNorm', c.hiddenSize);
    norm('postAttentionNorm', c.hiddenSize);
    if (c.qLoraRank === null) {
      linear('qProj', c.numHeads * qHead, c.hiddenSize);
    } else {
      linear('qA', c.qLoraRank, c.hiddenSize);
      norm('qANorm', c.qLoraRank);
      linear('qB', c.numHeads * qHead, c.qLoraRank);
    }
    linear('kvA', c.kvLoraRank + c.qkRopeHeadDim, c.hiddenSize);
    norm('kvANorm', c.kvLoraRank);
    specs.push({
      name: n.kvB,
      shape: [c.numHeads * (c.qkNopeHeadDim + c.vHeadDim), c.kvLoraRank],
      kind: 'linear',
      gguf: { kind: 'kvB', legacy: blk('kvB'), k: `blk.${i}.attn_k_b.weight`, v: `blk.${i}.attn_v_b.weight` },
      ggufF32: false,
    });
    linear('oProj', c.hiddenSize, c.numHeads * c.vHeadDim);
    if (isMoeLayer(c, i)) {
      linear('router', c.nRoutedExperts!, c.hiddenSize);
      for (let e = 0; e < c.nRoutedExperts!; e++) mlp(n.expert(e), 'experts', c.moeIntermediateSize, e);
      if (c.nSharedExperts > 0) mlp(n.shared, 'shared', c.moeIntermediateSize * c.nSharedExperts);
    } else {
      mlp(n.mlp, 'dense', c.intermediateSize);
    }
  }
  specs.push({ name: GLOBAL_NAMES.finalNorm, shape: [c.hiddenSize], kind: 'norm', gguf: ggufTensor(GLOBAL_GGUF.finalNorm), ggufF32: true });
  if (!c.tieWordEmbeddings) {
    specs.push({ name: GLOBAL_NAMES.lmHead, shape: [c.vocabSize, c.hiddenSize], kind: 'linear', gguf: ggufTensor(GLOBAL_GGUF.lmHead), ggufF32: false });
  }
  return specs;
}
