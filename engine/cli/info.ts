// `latent info [--model DIR|FILE.gguf] [--backend NAME]`: what a model is and where it would run, without loading
// its weights: the config summary, parameter counts (total and activated per token), weight bytes by dtype, the
// backend `--backend` stands for here (auto's choice and why), the CPU backend's kernels (native or WASM, and why),
// and the WebGPU adapter with its limits and the path its kernels take for f16 weights (native f16 reads with
// shader-f16, else decoded from u32 words).
import * as fs from 'node:fs';
import { chooseAutoBackend, probeAdapter } from '../backend/autoBackend';
import { chooseKernels, requestedKernels } from '../backend/cpu/kernelChoice';
import { describeAdapter, describeF16Path } from '../backend/webgpu/gpuDevice';
import { defaultModelDir } from '../defaultModel';
import type { DeepseekV2Config } from '../model/config';
import { checkpointLayout, TensorSpec } from '../model/checkpointLayout';
import { isGgufFile, readGgufConfig } from '../weights/gguf/ggufModel';
import { GgufFile } from '../weights/gguf/ggufReader';
import { openCheckpoint, readConfig } from '../weights/modelFolder';
import { parseBackend } from './loadWithProgress';
import { parseOptions } from './usage';

export const INFO_OPTIONS = {
  model: { type: 'string' },
  backend: { type: 'string' },
} as const;

/** Which part of the model a tensor belongs to, for the parameter counts. */
function partOf(name: string): 'embedding' | 'lm_head' | 'attention' | 'dense mlp' | 'routed experts' | 'shared experts' | 'router' | 'norms' {
  if (name.includes('embed_tokens')) return 'embedding';
  if (name.startsWith('lm_head')) return 'lm_head';
  if (name.endsWith('norm.weight') || name.includes('layernorm')) return 'norms';
  if (name.includes('self_attn')) return 'attention';
  if (name.includes('mlp.experts.')) return 'routed experts';
  if (name.includes('shared_experts')) return 'shared experts';
  if (name.includes('mlp.gate.weight')) return 'router';
  return 'dense mlp';
}

function count(spec: TensorSpec): number {
  return spec.shape.reduce((a, b) => a * b, 1);
}

function describeConfig(c: DeepseekV2Config): string[] {
  const moe = c.nRoutedExperts === null ? 'dense' : `${c.nRoutedExperts} routed experts (top-${c.numExpertsPerTok}, ${c.topkMethod}` +
    `${c.topkMethod === 'group_limited_greedy' ? `, ${c.nGroup} groups, top-${c.topkGroup}` : ''}) + ${c.nSharedExperts} shared, ` +
    `expert width ${c.moeIntermediateSize}, first ${c.firstKDenseReplace} layer(s) dense (width ${c.intermediateSize})`;
  return [
    `layers ${c.numLayers}, hidden ${c.hiddenSize}, heads ${c.numHeads}, vocab ${c.vocabSize}, context ${c.maxPositionEmbeddings}`,
    `MLA: q ${c.qLoraRank === null ? 'q_proj' : `lora ${c.qLoraRank}`}, kv_lora ${c.kvLoraRank}, nope/rope/v ${c.qkNopeHeadDim}/${c.qkRopeHeadDim}/${c.vHeadDim}` +
      `, rope theta ${c.ropeTheta}${c.ropeScaling ? `, YaRN x${c.ropeScaling.factor} from ${c.ropeScaling.originalMaxPositionEmbeddings}` : ''}`,
    `MoE: ${moe}`,
    `latent cache: ${(c.kvLoraRank + c.qkRopeHeadDim) * c.numLayers * 2} B per token in fp16 (${c.kvLoraRank + c.qkRopeHeadDim} numbers per layer)`,
  ];
}

export async function infoCommand(args: string[]): Promise<void> {
  const v = parseOptions('info', args, INFO_OPTIONS);
  const source = (v.model as string | undefined) ?? defaultModelDir();
  const backend = parseBackend('info', v.backend as string | undefined);

  let config: DeepseekV2Config;
  const bytesByDtype = new Map<string, number>();
  if (isGgufFile(source)) {
    const f = GgufFile.open(source);
    try {
      config = readGgufConfig(f).config;
    } finally {
      f.close();
    }
    bytesByDtype.set('gguf file', fs.statSync(source).size);
  } else {
    config = readConfig(source);
    const checkpoint = openCheckpoint(source, config);
    for (const { info } of checkpoint.specs) bytesByDtype.set(info.dtype, (bytesByDtype.get(info.dtype) ?? 0) + info.byteLength);
    checkpoint.close();
  }
  const specs = checkpointLayout(config);
  const parts = new Map<string, number>();
  for (const s of specs) parts.set(partOf(s.name), (parts.get(partOf(s.name)) ?? 0) + count(s));
  const total = [...parts.values()].reduce((a, b) => a + b, 0);
  const routed = parts.get('routed experts') ?? 0;
  const activated = total - routed + (config.nRoutedExperts ? routed * config.numExpertsPerTok / config.nRoutedExperts : 0);
  const weightBytes = [...bytesByDtype.values()].reduce((a, b) => a + b, 0);

  const lines = [`model: ${source}`, ...describeConfig(config).map((l) => `  ${l}`)];
  lines.push(`parameters: ${total.toLocaleString('en-US')} (activated per token ${Math.round(activated).toLocaleString('en-US')})`);
  for (const [part, n] of parts) lines.push(`  ${part}: ${n.toLocaleString('en-US')}`);
  lines.push(`weight bytes: ${weightBytes.toLocaleString('en-US')} (${[...bytesByDtype].map(([d, b]) => `${d} ${b.toLocaleString('en-US')}`).join(', ')})`);

  const found = await probeAdapter();
  let chosen: string = backend;
  if (backend === 'auto') {
    const choice = await chooseAutoBackend();
    chosen = `auto -> ${choice.backend} (${choice.reason})`;
  }
  lines.push(`backend: ${chosen}`);
  try {
    const kernels = await chooseKernels(requestedKernels());
    lines.push(`cpu kernels: ${kernels.description} (${kernels.reason})`);
  } catch (e) {
    lines.push(`cpu kernels: ${(e as Error).message}`);
  }
  if (found.summary) {
    const s = found.summary;
    lines.push(`webgpu adapter: ${describeAdapter(s)}`);
    lines.push(`  features: ${s.features.join(', ')}`);
    lines.push(`  limits: ${Object.entries(s.limits).map(([k, n]) => `${k} ${n.toLocaleString('en-US')}`).join(', ')}`);
    lines.push(`  f16 weights: ${describeF16Path(s.features)}`);
  } else {
    lines.push(`webgpu adapter: none (${found.reason})`);
  }
  process.stdout.write(lines.join('\n') + '\n');
}
