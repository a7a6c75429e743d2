// A Hugging Face model folder: config.json, model.safetensors (or shards + model.safetensors.index.json),
// tokenizer.json and tokenizer_config.json. Loading validates every tensor against the config.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ConfigError, DeepseekV2Config, parseConfig } from '../model/config';
import { checkpointLayout, TensorSpec } from '../model/checkpointLayout';
import type { QuantDType } from './ggmlTypes';
import { planQuantisation, quantiseFromFile, WeightQuantisation } from './loadQuantisation';
import { SafetensorsError, SafetensorsFile, TensorInfo } from './safetensors';
import { allocateTensor, Tensor } from './tensor';

export class ModelFolderError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ModelFolderError';
  }
}

export function readConfig(dir: string): DeepseekV2Config {
  const file = path.join(dir, 'config.json');
  if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) throw new ModelFolderError(`${dir}: model folder not found`);
  if (!fs.existsSync(file)) throw new ModelFolderError(`${file}: missing (a model folder needs config.json)`);
  let raw: unknown;
  try {
    raw = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    throw new ConfigError(file, `not valid JSON (${(e as Error).message})`);
  }
  return parseConfig(raw, file);
}

/** Which file holds each tensor: from the shard index, or the folder's single safetensors file. */
function tensorFiles(dir: string): Map<string, string> | string {
  const index = path.join(dir, 'model.safetensors.index.json');
  if (fs.existsSync(index)) {
    let parsed: { weight_map?: Record<string, string> };
    try {
      parsed = JSON.parse(fs.readFileSync(index, 'utf8'));
    } catch (e) {
      throw new ModelFolderError(`${index}: not valid JSON (${(e as Error).message})`);
    }
    const map = parsed.weight_map;
    if (!map || typeof map !== 'object') throw new ModelFolderError(`${index}: no "weight_map" object`);
    const out = new Map<string, string>();
    for (const [name, file] of Object.entries(map)) {
      if (typeof file !== 'string' || file.includes('/') || file.includes('\\')) throw new ModelFolderError(`${index}: bad file name for "${name}"`);
      out.set(name, path.join(dir, file));
    }
    return out;
  }
  const single = path.join(dir, 'model.safetensors');
  if (fs.existsSync(single)) return single;
  const any = fs.readdirSync(dir).filter((f) => f.endsWith('.safetensors'));
  if (any.length === 1) return path.join(dir, any[0]);
  throw new ModelFolderError(`${dir}: no model.safetensors (or model.safetensors.index.json) found`);
}

export interface LoadProgress {
  loadedBytes: number;
  totalBytes: number;
}

export interface LoadOptions {
  /** Quantise the linear weights as they load (loadQuantisation.ts); default: keep the file's dtypes. */
  weights?: WeightQuantisation;
  /** Lines worth a log entry (weights left unquantised). */
  onNote?: (line: string) => void;
}

/** A model folder's checkpoint, every tensor the config calls for located and validated (present, shape), read one at a time. */
export interface CheckpointTensors {
  specs: { spec: TensorSpec; info: TensorInfo }[];
  /** Reads one tensor straight into its own buffer (from `allocate`), quantised into it as it is read if `quantise` is given. */
  read(spec: TensorSpec, allocate?: typeof allocateTensor, quantise?: QuantDType): Tensor;
  close(): void;
}

export function openCheckpoint(dir: string, config: DeepseekV2Config): CheckpointTensors {
  const where = tensorFiles(dir);
  const files = new Map<string, SafetensorsFile>();
  const open = (file: string): SafetensorsFile => {
    let f = files.get(file);
    if (!f) {
      if (!fs.existsSync(file)) throw new ModelFolderError(`${file}: shard named in the index is missing`);
      f = SafetensorsFile.open(file);
      files.set(file, f);
    }
    return f;
  };
  const close = () => {
    for (const f of files.values()) f.close();
  };
  try {
    const located = checkpointLayout(config).map((spec) => {
      const file = typeof where === 'string' ? where : where.get(spec.name);
      if (!file) throw new ModelFolderError(`${path.join(dir, 'model.safetensors.index.json')}: tensor "${spec.name}" is not in the "weight_map"`);
      const f = open(file);
      const info = f.tensors.get(spec.name);
      if (!info) throw new SafetensorsError(file, `tensor "${spec.name}" is missing`);
      if (info.shape.length !== spec.shape.length || info.shape.some((d, i) => d !== spec.shape[i])) {
        throw new SafetensorsError(file, `tensor "${spec.name}" has shape ${JSON.stringify(info.shape)}, but config.json implies ${JSON.stringify(spec.shape)}`);
      }
      return { spec, f, info };
    });
    const byName = new Map(located.map((l) => [l.spec.name, l]));
    return {
      specs: located.map(({ spec, info }) => ({ spec, info })),
      read: (spec, allocate = allocateTensor, quantise) => {
        const l = byName.get(spec.name);
        if (!l) throw new ModelFolderError(`${dir}: tensor "${spec.name}" is not part of this model`);
        const { tensor, bytes } = allocate(spec.name, quantise ?? l.info.dtype, l.info.shape);
        if (quantise) quantiseFromFile(l.f, l.info, quantise, bytes);
        else l.f.readInto(spec.name, bytes);
        return tensor;
      },
      close,
    };
  } catch (e) {
    close();
    throw e;
  }
}

/**
 * Loads every tensor the config calls for, each validated (present, dtype, shape) and read straight into its
 * own buffer (from `allocate`: a backend puts weights where its kernels read them), or quantised into it as it
 * is read (`options.weights`). Extra tensors in the files are ignored.
 */
export function loadWeights(
  dir: string,
  config: DeepseekV2Config,
  onProgress?: (p: LoadProgress) => void,
  allocate: typeof allocateTensor = allocateTensor,
  options: LoadOptions = {},
): Map<string, Tensor> {
  const checkpoint = openCheckpoint(dir, config);
  try {
    const totalBytes = checkpoint.specs.reduce((a, l) => a + l.info.byteLength, 0);
    const plan = options.weights ? planQuantisation(options.weights, checkpoint.specs.map((l) => l.info)) : null;
    if (plan?.note) options.onNote?.(plan.note);
    let loadedBytes = 0;
    const weights = new Map<string, Tensor>();
    for (const { spec, info } of checkpoint.specs) {
      weights.set(spec.name, checkpoint.read(spec, allocate, plan?.typeOf.get(spec.name)));
      loadedBytes += info.byteLength;
      onProgress?.({ loadedBytes, totalBytes });
    }
    return weights;
  } finally {
    checkpoint.close();
  }
}
