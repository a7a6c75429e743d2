// A model folder with random weights for any DeepSeek-V2 config, for tests and benchmarks of real shapes.
// Weights are drawn (by worker threads for large models) and written a chunk at a time, so even DeepSeek-V2-Lite
// (15.7B parameters) is written in a few MiB per thread. Every chunk has its own PRNG stream keyed by (seed,
// tensor name, chunk index): the values depend only on the seed, never on the dtype, the sharding or the threads.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { DeepseekV2Config, parseConfig } from '../model/config';
import { checkpointLayout, TensorSpec } from '../model/checkpointLayout';
import { ChunkSource, inlineChunkSource, workerChunkSource } from './chunkWorkers';
import { configToJson } from './configJson';
import { ModelFolderError } from './modelFolder';
import { CHUNK_ELEMENTS, ChunkJob, drawChunk } from './randomChunk';
import type { FloatDType } from './ggmlTypes';
import { DTYPE_BYTES, SafetensorsWriter } from './safetensors';
import { hashString, seedWords } from './seededNormal';
import { allocateTensor, Tensor } from './tensor';
import { readTokenizerFacts, TokenizerFacts } from './tokenizerFiles';

export { CHUNK_ELEMENTS } from './randomChunk';

export type CheckpointDType = 'f32' | 'f16' | 'bf16';
export const CHECKPOINT_DTYPES: readonly CheckpointDType[] = ['f32', 'f16', 'bf16'];
const FILE_DTYPE: Record<CheckpointDType, FloatDType> = { f32: 'F32', f16: 'F16', bf16: 'BF16' };
const TORCH_DTYPE: Record<CheckpointDType, string> = { f32: 'float32', f16: 'float16', bf16: 'bfloat16' };

/** Shards are cut at this size unless told otherwise (Hugging Face's convention of decimal units). */
export const DEFAULT_SHARD_BYTES = 2e9;
/** Below this size a checkpoint is drawn on the calling thread (starting workers would cost more). */
const PARALLEL_ABOVE_BYTES = 64 * 2 ** 20;

export interface RandomCheckpointOptions {
  seed?: number;
  dtype?: CheckpointDType;
  /** Cut the weights into shards of at most this many bytes (a larger tensor gets a shard of its own). */
  shardBytes?: number;
  /** A folder whose tokenizer.json (and tokenizer_config.json) are copied in; vocab_size is raised to cover it. */
  tokenizerDir?: string;
  /**
   * Threads drawing random values; the values do not depend on it. Default: the machine's cores (up to 16) for
   * checkpoints over 64 MiB, else the calling thread alone.
   */
  threads?: number;
  /** Names the config in error messages (e.g. the file it came from). */
  configSource?: string;
  /** Called after every chunk written. */
  onProgress?: (p: { writtenBytes: number; totalBytes: number }) => void;
}

export interface RandomCheckpointSummary {
  dir: string;
  /** Files written, relative to `dir`. */
  files: string[];
  tensors: number;
  parameters: number;
  /** Bytes of tensor data. */
  bytes: number;
  vocabSize: number;
  /** What was changed in the config to fit the tokenizer, and what was copied. */
  notes: string[];
}

export class RandomCheckpointError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RandomCheckpointError';
  }
}

/** N(mean, std²) per tensor, as the shared fixtures draw them (fixtures/README.md, "Weights"). */
export function initDistribution(spec: TensorSpec): { mean: number; std: number } {
  if (spec.kind === 'embedding') return { mean: 0, std: 1 };
  if (spec.kind === 'norm') return { mean: 1, std: 0.1 };
  const fanIn = spec.shape[1];
  if (/\.(q_proj|q_b_proj)\.weight$/.test(spec.name)) return { mean: 0, std: 1.5 / Math.sqrt(fanIn) };
  // The router and lm_head get a wider spread so that routing and the next-token distribution are not flat.
  if (spec.name === 'lm_head.weight' || /\.mlp\.gate\.weight$/.test(spec.name)) return { mean: 0, std: 2 / Math.sqrt(fanIn) };
  return { mean: 0, std: 1 / Math.sqrt(fanIn) };
}

interface Shard {
  file: string;
  specs: TensorSpec[];
  bytes: number;
}

/** Consecutive tensors of the layout packed into shards of at most `shardBytes` (one file if all fit). */
function planShards(layout: TensorSpec[], elementBytes: number, shardBytes: number): Shard[] {
  const groups: Shard[] = [];
  let current: Shard | null = null;
  for (const spec of layout) {
    const bytes = numel(spec) * elementBytes;
    if (!current || (current.bytes > 0 && current.bytes + bytes > shardBytes)) {
      current = { file: '', specs: [], bytes: 0 };
      groups.push(current);
    }
    current.specs.push(spec);
    current.bytes += bytes;
  }
  const n = String(groups.length).padStart(5, '0');
  groups.forEach((g, i) => (g.file = groups.length === 1 ? 'model.safetensors' : `model-${String(i + 1).padStart(5, '0')}-of-${n}.safetensors`));
  return groups;
}

/** Every chunk of `specs`, in order, as a job for drawChunk. */
function* chunkJobs(specs: TensorSpec[], seed: [number, number], dtype: FloatDType): Generator<{ name: string; job: ChunkJob }> {
  for (const spec of specs) {
    const { mean, std } = initDistribution(spec);
    const count = numel(spec);
    const nameHash = hashString(spec.name);
    for (let start = 0, k = 0; start < count; start += CHUNK_ELEMENTS, k++) {
      yield { name: spec.name, job: { key: [...seed, nameHash, k], count: Math.min(CHUNK_ELEMENTS, count - start), mean, std, dtype } };
    }
  }
}

function numel(spec: TensorSpec): number {
  return spec.shape.reduce((a, b) => a * b, 1);
}

/** The config as a config.json object, validated (`source` names it in errors). */
function normaliseConfig(config: DeepseekV2Config | Record<string, unknown>, source: string): { json: Record<string, unknown>; parsed: DeepseekV2Config } {
  if ('hiddenSize' in config) {
    const json = configToJson(config as DeepseekV2Config);
    return { json, parsed: parseConfig(json, source) };
  }
  const json = { ...(config as Record<string, unknown>) };
  return { json, parsed: parseConfig(json, source) };
}

/** Raises vocab_size to cover the tokenizer and points bos/eos_token_id at its special tokens. */
function fitToTokenizer(json: Record<string, unknown>, parsed: DeepseekV2Config, tok: TokenizerFacts, tokenizerDir: string): string[] {
  const notes: string[] = [`copied ${tok.files.join(' and ')} from ${tokenizerDir}`];
  if (parsed.vocabSize < tok.idCount) {
    notes.push(`raised vocab_size from ${parsed.vocabSize} to ${tok.idCount} to cover the tokenizer's ids`);
    json.vocab_size = tok.idCount;
  } else {
    notes.push(`vocab_size ${parsed.vocabSize} already covers the tokenizer's ${tok.idCount} ids`);
  }
  for (const [key, id] of [['bos_token_id', tok.bosTokenId], ['eos_token_id', tok.eosTokenId]] as const) {
    if (id !== null && json[key] !== id) {
      notes.push(`set ${key} to ${id} (was ${JSON.stringify(json[key] ?? null)}) to match tokenizer_config.json`);
      json[key] = id;
    }
  }
  return notes;
}

/** Refuses a folder that already has files (so that no stale shard is mixed in); creates a missing one. */
function prepareOutDir(outDir: string): boolean {
  if (fs.existsSync(outDir)) {
    if (!fs.statSync(outDir).isDirectory()) throw new RandomCheckpointError(`${outDir}: exists and is not a folder`);
    if (fs.readdirSync(outDir).length > 0) throw new RandomCheckpointError(`${outDir}: exists and is not empty (write a random checkpoint to a new folder)`);
    return false;
  }
  fs.mkdirSync(outDir, { recursive: true });
  return true;
}

function checkFreeSpace(outDir: string, needed: number): void {
  let free: number;
  try {
    const s = fs.statfsSync(outDir);
    free = s.bavail * s.bsize;
  } catch {
    return; // unknown: let the writes find out
  }
  if (needed > free) throw new RandomCheckpointError(`${outDir}: needs ${(needed / 2 ** 30).toFixed(2)} GiB but only ${(free / 2 ** 30).toFixed(2)} GiB are free`);
}

/**
 * Writes config.json (last, so that an interrupted run never looks like a model), the weights (one
 * model.safetensors, or shards and model.safetensors.index.json) and, if asked, the tokenizer files.
 * `config` is a config.json object or a parsed config.
 */
export async function writeRandomCheckpoint(
  config: DeepseekV2Config | Record<string, unknown>,
  outDir: string,
  options: RandomCheckpointOptions = {},
): Promise<RandomCheckpointSummary> {
  const seed = options.seed ?? 0;
  const dtype = options.dtype ?? 'f32';
  const shardBytes = options.shardBytes ?? DEFAULT_SHARD_BYTES;
  if (!CHECKPOINT_DTYPES.includes(dtype)) throw new RandomCheckpointError(`dtype must be one of ${CHECKPOINT_DTYPES.join(', ')} (got ${JSON.stringify(dtype)})`);
  if (!(shardBytes > 0)) throw new RandomCheckpointError(`shard size must be positive (got ${shardBytes})`);
  const [seedLo, seedHi] = seedWords(seed);

  const configSource = options.configSource ?? 'config';
  const { json, parsed: original } = normaliseConfig(config, configSource);
  const tokenizer = options.tokenizerDir ? readTokenizerFacts(options.tokenizerDir) : null;
  const notes = tokenizer ? fitToTokenizer(json, original, tokenizer, options.tokenizerDir!) : [];
  json.torch_dtype = TORCH_DTYPE[dtype];
  const parsed = parseConfig(json, configSource);

  const fileDtype = FILE_DTYPE[dtype];
  const elementBytes = DTYPE_BYTES[fileDtype];
  const layout = checkpointLayout(parsed);
  const shards = planShards(layout, elementBytes, shardBytes);
  const totalBytes = shards.reduce((a, s) => a + s.bytes, 0);

  const threads = options.threads ?? Math.min(os.availableParallelism(), 16);
  if (!Number.isInteger(threads) || threads < 1) throw new RandomCheckpointError(`threads must be a positive integer (got ${threads})`);

  const createdDir = prepareOutDir(outDir);
  const written: string[] = [];
  let source: ChunkSource | null = null;
  try {
    checkFreeSpace(outDir, totalBytes);
    const useWorkers = threads > 1 && (options.threads !== undefined || totalBytes >= PARALLEL_ABOVE_BYTES);
    source = useWorkers ? workerChunkSource(threads) : inlineChunkSource();
    let writtenBytes = 0;
    for (const shard of shards) {
      const file = path.join(outDir, shard.file);
      written.push(shard.file);
      const specs = SafetensorsWriter.dataOrder(shard.specs);
      const writer = new SafetensorsWriter(
        file,
        specs.map((s) => ({ name: s.name, dtype: fileDtype, shape: s.shape })),
      );
      try {
        // Chunks are drawn ahead (in parallel with workers) and written strictly in file order.
        const inFlight: { name: string; bytes: Promise<Uint8Array> }[] = [];
        const ahead = source.parallel ? 2 * threads : 1;
        const jobs = chunkJobs(specs, [seedLo, seedHi], fileDtype);
        for (let next = jobs.next(); !next.done || inFlight.length > 0; ) {
          while (!next.done && inFlight.length < ahead) {
            const bytes = source.draw(next.value.job);
            bytes.catch(() => {}); // a failure is rethrown where the chunk is awaited, not as an unhandled rejection
            inFlight.push({ name: next.value.name, bytes });
            next = jobs.next();
          }
          const { name, bytes } = inFlight.shift()!;
          const data = await bytes;
          writer.append(name, data);
          writtenBytes += data.byteLength;
          options.onProgress?.({ writtenBytes, totalBytes });
        }
        writer.close();
      } catch (e) {
        writer.abort();
        throw e;
      }
    }
    if (shards.length > 1) {
      const weightMap: Record<string, string> = {};
      for (const shard of shards) for (const s of shard.specs) weightMap[s.name] = shard.file;
      const sorted = Object.fromEntries(Object.keys(weightMap).sort().map((k) => [k, weightMap[k]]));
      written.push('model.safetensors.index.json');
      fs.writeFileSync(path.join(outDir, 'model.safetensors.index.json'), JSON.stringify({ metadata: { total_size: totalBytes }, weight_map: sorted }, null, 2) + '\n');
    }
    if (tokenizer) {
      for (const f of tokenizer.files) {
        written.push(f);
        fs.copyFileSync(path.join(options.tokenizerDir!, f), path.join(outDir, f));
        fs.chmodSync(path.join(outDir, f), 0o644); // a copy from a read-only source stays ours to change
      }
    }
    written.push('config.json');
    fs.writeFileSync(path.join(outDir, 'config.json'), JSON.stringify(json, null, 2) + '\n');
  } catch (e) {
    await source?.close();
    source = null;
    for (const f of written) fs.rmSync(path.join(outDir, f), { force: true });
    if (createdDir) fs.rmSync(outDir, { recursive: true, force: true });
    if (e instanceof RandomCheckpointError || e instanceof ModelFolderError) throw e;
    throw new RandomCheckpointError(`${outDir}: writing the checkpoint failed (${(e as Error).message})`);
  }
  await source.close();
  return {
    dir: outDir,
    files: written,
    tensors: layout.length,
    parameters: layout.reduce((a, s) => a + numel(s), 0),
    bytes: totalBytes,
    vocabSize: parsed.vocabSize,
    notes,
  };
}

/**
 * The same random weights as `writeRandomCheckpoint(config, dir, { seed, dtype })` would write, drawn straight into
 * memory (for benchmarks that need a model of real shapes without a multi-gigabyte file).
 */
export function randomWeights(config: DeepseekV2Config, options: { seed?: number; dtype?: CheckpointDType } = {}): Map<string, Tensor> {
  const dtype = ({ f32: 'F32', f16: 'F16', bf16: 'BF16' } as const)[options.dtype ?? 'f16'];
  const seed = seedWords(options.seed ?? 0);
  const scratch = new Float32Array(CHUNK_ELEMENTS);
  const weights = new Map<string, Tensor>();
  let tensor: { tensor: Tensor; bytes: Uint8Array } | undefined;
  let offset = 0;
  const specs = checkpointLayout(config);
  const shapes = new Map(specs.map((s) => [s.name, s.shape]));
  for (const { name, job } of chunkJobs(specs, seed, dtype)) {
    if (tensor?.tensor.name !== name) {
      tensor = allocateTensor(name, dtype, shapes.get(name)!);
      weights.set(name, tensor.tensor);
      offset = 0;
    }
    const bytes = drawChunk(job, scratch);
    tensor.bytes.set(bytes, offset);
    offset += bytes.byteLength;
  }
  return weights;
}
