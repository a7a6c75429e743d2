// A Hugging Face model folder written as the GGUF file llama.cpp's converter would make of it (`deepseek2`,
// MLA split kv_b by default, stacked experts, norms and router in F32), read and written one tensor at a time.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { checkpointLayout, GLOBAL_NAMES, TensorSpec } from '../../model/checkpointLayout';
import type { DeepseekV2Config } from '../../model/config';
import { DType, GGML_TYPES, QuantDType } from '../ggmlTypes';
import { quantiseRow } from '../quantise';
import { encodeF16 } from '../halfPrecision';
import { openCheckpoint, readConfig } from '../modelFolder';
import { toF32 } from '../tensor';
import { readTokenizerFacts } from '../tokenizerFiles';
import { KvBLayout, MetadataEntry, metadataFromConfig } from './deepseek2Metadata';
import { GgufValueType } from './ggufFormat';
import { metadataFromTokenizer } from './ggufTokenizer';
import { GgufTensorSpec, GgufWriter } from './ggufWriter';

export const EXPORT_TYPES = ['f32', 'f16', 'q8_0', 'q4_k'] as const;
export type ExportType = (typeof EXPORT_TYPES)[number];

/** llama_ftype of each export type (general.file_type; q4_k is written as llama.cpp's Q4_K_M). */
const FILE_TYPE: Record<ExportType, number> = { f32: 0, f16: 1, q8_0: 7, q4_k: 15 };
/** The type a matrix of each export type is written in, if its rows are whole blocks of it (else FALLBACK). */
const TENSOR_TYPE: Record<ExportType, DType> = { f32: 'F32', f16: 'F16', q8_0: 'Q8_0', q4_k: 'Q4_K' };
/**
 * A quantised type needs rows of whole blocks. llama.cpp's quantiser (llama-quant.cpp) replaces a K-quant whose
 * rows are not a multiple of 256 by the 32-value type of about the same size (Q4_K -> Q5_0, Q5_K -> Q5_1,
 * Q6_K -> Q8_0), and a type whose rows are not whole blocks even so by F16; we do the same, so that our files
 * hold what llama.cpp's would (DeepSeek-V2-Lite's 1408-wide expert down projections are Q5_0 in a Q4_K_M file).
 */
const FALLBACK: Partial<Record<DType, DType>> = { Q4_K: 'Q5_0', Q5_K: 'Q5_1', Q6_K: 'Q8_0', Q8_0: 'F16', Q4_0: 'F16', Q5_0: 'F16', Q5_1: 'F16' };
/** Q4_K_M keeps the output projection in Q6_K. */
const Q4_K_M_OUTPUT: DType = 'Q6_K';

/** The type a row of `rowLength` values is written in, starting from `preferred` and falling back as llama.cpp does. */
export function fallbackType(preferred: DType, rowLength: number): DType {
  let t = preferred;
  while (rowLength % GGML_TYPES[t].blockElements !== 0) t = FALLBACK[t]!;
  return t;
}

export interface ExportOptions {
  type?: ExportType;
  /** Write kv_b_proj whole (attn_kv_b) instead of the MLA split attn_k_b / attn_v_b. */
  legacyKvB?: boolean;
  onProgress?: (p: { writtenTensors: number; totalTensors: number }) => void;
}

export interface ExportSummary {
  file: string;
  tensors: number;
  bytes: number;
  layout: KvBLayout;
  tokenizer: boolean;
}

/** One GGUF tensor to write: its spec, and the float32 values of its parts in order (experts one by one). */
export interface Planned extends GgufTensorSpec {
  parts: () => Iterable<Float32Array>;
}

export function exportGguf(dir: string, out: string, options: ExportOptions = {}): ExportSummary {
  const type = options.type ?? 'f16';
  const layout: KvBLayout = options.legacyKvB ? 'legacy' : 'split';
  const config = readConfig(dir);
  const checkpoint = openCheckpoint(dir, config);
  const tmp = `${out}.partial-${process.pid}`;
  let writer: GgufWriter | undefined;
  try {
    const read = (spec: TensorSpec) => toF32(checkpoint.read(spec));
    const planned = planTensors(config, layout, type, read);
    const metadata: MetadataEntry[] = [...metadataFromConfig(config, layout, path.basename(path.resolve(dir)), FILE_TYPE[type])];
    const hasTokenizer = fs.existsSync(path.join(dir, 'tokenizer.json'));
    if (hasTokenizer) {
      const facts = readTokenizerFacts(dir);
      const readJson = (f: string) => (fs.existsSync(path.join(dir, f)) ? JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8')) : {});
      const pair = { tokenizerJson: readJson('tokenizer.json'), tokenizerConfig: readJson('tokenizer_config.json') };
      metadata.push(...metadataFromTokenizer(path.join(dir, 'tokenizer.json'), pair, config.vocabSize, facts.bosTokenId ?? config.bosTokenId, facts.eosTokenId ?? config.eosTokenId));
    } else {
      // No vocabulary: the special ids still travel, as config.json had them.
      if (config.bosTokenId !== null) metadata.push(['tokenizer.ggml.bos_token_id', { type: GgufValueType.UINT32, value: config.bosTokenId }]);
      if (config.eosTokenId !== null) metadata.push(['tokenizer.ggml.eos_token_id', { type: GgufValueType.UINT32, value: config.eosTokenId }]);
    }
    writer = new GgufWriter(tmp, metadata, planned);
    planned.forEach((t, i) => {
      for (const values of t.parts()) writer!.append(t.name, encode(values, t.dtype));
      options.onProgress?.({ writtenTensors: i + 1, totalTensors: planned.length });
    });
    writer.close();
    fs.renameSync(tmp, out);
    return { file: out, tensors: planned.length, bytes: fs.statSync(out).size, layout, tokenizer: hasTokenizer };
  } catch (e) {
    writer?.abort();
    fs.rmSync(tmp, { force: true });
    throw e;
  } finally {
    checkpoint.close();
  }
}

function encode(values: Float32Array, dtype: DType): Uint8Array {
  switch (dtype) {
    case 'F32':
      return new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
    case 'F16': {
      const h = new Uint16Array(values.length);
      encodeF16(values, h);
      return new Uint8Array(h.buffer);
    }
    default: {
      const q = dtype as QuantDType;
      const out = new Uint8Array((values.length / GGML_TYPES[q].blockElements) * GGML_TYPES[q].blockBytes);
      quantiseRow(q, values, out);
      return out;
    }
  }
}

/** The GGUF tensors of a config in the order written, each with where its values come from. */
export function planTensors(c: DeepseekV2Config, layout: KvBLayout, type: ExportType, read: (spec: TensorSpec) => Float32Array): Planned[] {
  const planned: Planned[] = [];
  const stacked = new Map<string, { plan: Planned; specs: TensorSpec[] }>();
  const dtypeOf = (spec: TensorSpec): DType => {
    if (spec.ggufF32) return 'F32';
    const row = spec.gguf.kind === 'kvB' && layout === 'split' ? Math.min(c.qkNopeHeadDim, c.kvLoraRank) : spec.shape[spec.shape.length - 1];
    return fallbackType(type === 'q4_k' && spec.name === GLOBAL_NAMES.lmHead ? Q4_K_M_OUTPUT : TENSOR_TYPE[type], row);
  };
  const ne = (shape: number[]) => [...shape].reverse();
  for (const spec of checkpointLayout(c)) {
    const g = spec.gguf;
    if (g.kind === 'tensor') {
      planned.push({ name: g.name, ne: ne(spec.shape), dtype: dtypeOf(spec), parts: () => [read(spec)] });
    } else if (g.kind === 'expert') {
      let s = stacked.get(g.name);
      if (!s) {
        const specs: TensorSpec[] = [];
        // One expert at a time: each is read only when it is written.
        const parts = function* () {
          for (const e of specs) yield read(e);
        };
        s = { specs, plan: { name: g.name, ne: [...ne(spec.shape), g.count], dtype: dtypeOf(spec), parts } };
        stacked.set(g.name, s);
        planned.push(s.plan);
      }
      s.specs[g.expert] = spec;
    } else if (layout === 'legacy') {
      planned.push({ name: g.legacy, ne: ne(spec.shape), dtype: dtypeOf(spec), parts: () => [read(spec)] });
    } else {
      const { numHeads: H, qkNopeHeadDim: dn, vHeadDim: dv, kvLoraRank: r } = c;
      // Per head, kv_b rows are [k_nope (dn) | v (dv)] of r; k_b holds W_UKᵀ [r, dn], v_b holds W_UV [dv, r].
      planned.push({
        name: g.k, ne: [dn, r, H], dtype: dtypeOf(spec), parts: () => {
          const kv = read(spec);
          const k = new Float32Array(H * r * dn);
          for (let h = 0; h < H; h++) for (let i = 0; i < dn; i++) for (let a = 0; a < r; a++) k[(h * r + a) * dn + i] = kv[(h * (dn + dv) + i) * r + a];
          return [k];
        },
      });
      planned.push({
        name: g.v, ne: [r, dv, H], dtype: dtypeOf(spec), parts: () => {
          const kv = read(spec);
          const v = new Float32Array(H * dv * r);
          for (let h = 0; h < H; h++) v.set(kv.subarray((h * (dn + dv) + dn) * r, (h + 1) * (dn + dv) * r), h * dv * r);
          return [v];
        },
      });
    }
  }
  return planned;
}
