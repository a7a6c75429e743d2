// A GGUF file (llama.cpp's `deepseek2`) as a model source beside Hugging Face folders: its config, its tokenizer
// and its weights, mapped onto the checkpoint layout (engine/model/checkpointLayout.ts) so the model sees the
// same tensors either way. Each weight is read straight from the file into the memory `allocate` gives it (the
// backend's), stacked experts one slice each; only kv_b of the MLA layout is reassembled, from two small tensors.
import * as fs from 'node:fs';
import { checkpointLayout, GgufPlace, GLOBAL_NAMES, TensorSpec } from '../../model/checkpointLayout';
import type { DeepseekV2Config } from '../../model/config';
import { isQuantised } from '../ggmlTypes';
import type { LoadProgress } from '../modelFolder';
import { allocateTensor, Tensor, toF32 } from '../tensor';
import { configFromMetadata, KvBLayout } from './deepseek2Metadata';
import { GGUF_MAGIC } from './ggufFormat';
import { GgufError, GgufFile, GgufTensorInfo } from './ggufReader';
import { HfTokenizerPair, hasGgufTokenizer, tokenizerFromMetadata } from './ggufTokenizer';

/** Whether a model source is a GGUF file (a regular file starting with the GGUF magic, or named *.gguf). */
export function isGgufFile(source: string): boolean {
  let stat: fs.Stats;
  try {
    stat = fs.statSync(source);
  } catch {
    return /\.gguf$/i.test(source);
  }
  if (!stat.isFile()) return false;
  if (/\.gguf$/i.test(source)) return true;
  const head = Buffer.alloc(4);
  const fd = fs.openSync(source, 'r');
  try {
    return fs.readSync(fd, head, 0, 4, 0) === 4 && head.readUInt32LE(0) === GGUF_MAGIC;
  } finally {
    fs.closeSync(fd);
  }
}

function withFile<T>(file: string, use: (f: GgufFile) => T): T {
  const f = GgufFile.open(file);
  try {
    return use(f);
  } finally {
    f.close();
  }
}

export function ggufHasTokenizer(file: string): boolean {
  return withFile(file, (f) => hasGgufTokenizer(f.metadata));
}

export function readGgufTokenizer(file: string): HfTokenizerPair {
  return withFile(file, (f) => tokenizerFromMetadata(file, f.metadata));
}

export function readGgufConfig(f: GgufFile): { config: DeepseekV2Config; kvB: KvBLayout } {
  return configFromMetadata(f.path, f.metadata, f.tensors.has('output.weight'));
}

/** ggml's ne (innermost first) of a row-major shape. */
function ne(shape: number[]): number[] {
  return [...shape].reverse();
}

function expectNe(f: GgufFile, info: GgufTensorInfo, want: number[]): void {
  if (info.ne.length !== want.length || info.ne.some((d, i) => d !== want[i])) {
    throw new GgufError(f.path, `tensor "${info.name}" has ne ${JSON.stringify(info.ne)}, but the metadata implies ${JSON.stringify(want)}`);
  }
}

/** The GGUF tensors a spec reads, with the ne each must have. */
function sources(c: DeepseekV2Config, spec: TensorSpec, kvB: KvBLayout): { name: string; ne: number[] }[] {
  const g: GgufPlace = spec.gguf;
  switch (g.kind) {
    case 'tensor':
      return [{ name: g.name, ne: ne(spec.shape) }];
    case 'expert':
      return [{ name: g.name, ne: [...ne(spec.shape), g.count] }];
    case 'kvB':
      if (kvB === 'legacy') return [{ name: g.legacy, ne: ne(spec.shape) }];
      return [
        { name: g.k, ne: [c.qkNopeHeadDim, c.kvLoraRank, c.numHeads] },
        { name: g.v, ne: [c.kvLoraRank, c.vHeadDim, c.numHeads] },
      ];
  }
}

/**
 * Loads every tensor the config calls for from an open GGUF file, keyed by its Hugging Face name, each validated
 * (present, shape) before any is read.
 */
export function loadGgufWeights(
  f: GgufFile,
  config: DeepseekV2Config,
  kvB: KvBLayout,
  onProgress?: (p: LoadProgress) => void,
  allocate: typeof allocateTensor = allocateTensor,
): Map<string, Tensor> {
  const layout = checkpointLayout(config);
  const located = layout.map((spec) => {
    const infos = sources(config, spec, kvB).map(({ name, ne: want }) => {
      const info = f.tensors.get(name);
      if (!info) throw new GgufError(f.path, `tensor "${name}" is missing (${kvB === 'split' && spec.gguf.kind === 'kvB' ? 'the MLA layout, chosen by the *_mla metadata keys' : 'the metadata implies it'})`);
      expectNe(f, info, want);
      return info;
    });
    return { spec, infos };
  });
  const totalBytes = located.reduce((a, l) => a + l.infos.reduce((b, i) => b + i.byteLength / (l.spec.gguf.kind === 'expert' ? l.spec.gguf.count : 1), 0), 0);
  let loadedBytes = 0;
  const weights = new Map<string, Tensor>();
  for (const { spec, infos } of located) {
    const g = spec.gguf;
    if (g.kind === 'kvB' && infos.length === 2) {
      weights.set(spec.name, joinKvB(f, config, infos[0], infos[1], spec, allocate));
      loadedBytes += infos[0].byteLength + infos[1].byteLength;
    } else {
      const info = infos[0];
      const { tensor, bytes } = allocate(spec.name, info.dtype, spec.shape);
      // An expert is one contiguous slice of its stacked tensor (the expert index is the outermost dim).
      f.readInto(info.name, bytes, g.kind === 'expert' ? g.expert * bytes.byteLength : 0);
      weights.set(spec.name, tensor);
      loadedBytes += bytes.byteLength;
    }
    onProgress?.({ loadedBytes, totalBytes });
  }
  if (config.tieWordEmbeddings && !weights.has(GLOBAL_NAMES.embed)) throw new GgufError(f.path, 'tensor "token_embd.weight" is missing');
  return weights;
}

/**
 * kv_b_proj [H·(dn+dv), r] (per head [k_nope | v] rows) from the MLA layout's attn_k_b (per head W_UKᵀ [r, dn])
 * and attn_v_b (per head W_UV [dv, r]): in their float type when they share one, else decoded to F32 (a quantised
 * k_b's blocks run along dn, kv_b's along r, so blocks cannot be carried over; the tensor is small).
 */
function joinKvB(f: GgufFile, c: DeepseekV2Config, k: GgufTensorInfo, v: GgufTensorInfo, spec: TensorSpec, allocate: typeof allocateTensor): Tensor {
  const { numHeads: H, qkNopeHeadDim: dn, vHeadDim: dv, kvLoraRank: r } = c;
  const keep = k.dtype === v.dtype && !isQuantised(k.dtype);
  const read = (info: GgufTensorInfo) => {
    const t = allocateTensor(info.name, info.dtype, ne(info.ne));
    f.readInto(info.name, t.bytes);
    return keep ? t.tensor.data : toF32(t.tensor);
  };
  const kData = read(k);
  const vData = read(v);
  const { tensor } = allocate(spec.name, keep ? k.dtype : 'F32', spec.shape);
  const out = tensor.data as Float32Array | Uint16Array;
  for (let h = 0; h < H; h++) {
    const base = h * (dn + dv) * r;
    for (let a = 0; a < r; a++) for (let i = 0; i < dn; i++) out[base + i * r + a] = kData[(h * r + a) * dn + i];
    out.set(vData.subarray(h * dv * r, (h + 1) * dv * r), base + dn * r);
  }
  return tensor;
}
