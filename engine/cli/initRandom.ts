// `latent init-random --config FILE --out DIR [--seed S] [--dtype f32|f16|bf16] [--tokenizer DIR]
// [--shard-size SIZE] [--backend cpu]`: a model folder with random weights of any DeepSeek-V2 config, written
// a chunk at a time. Prints a JSON summary on stdout; progress and what was changed to fit the tokenizer on stderr.
import * as fs from 'node:fs';
import { parseConfig } from '../model/config';
import { CHECKPOINT_DTYPES, CheckpointDType, DEFAULT_SHARD_BYTES, writeRandomCheckpoint } from '../weights/randomCheckpoint';
import { ModelFolderError } from '../weights/modelFolder';
import { parseBackend } from './loadWithProgress';
import { parseNumber, parseOptions, requireString, UsageError } from './usage';

const SHOW_PROGRESS_ABOVE_BYTES = 256 * 1024 * 1024;
const UNITS: Record<string, number> = { b: 1, kb: 1e3, mb: 1e6, gb: 1e9, tb: 1e12, kib: 2 ** 10, mib: 2 ** 20, gib: 2 ** 30, tib: 2 ** 40 };

/** "2GB", "500MiB", "1.5gb" or a plain byte count. */
export function parseByteSize(text: string): number | null {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(text);
  if (!m) return null;
  const unit = UNITS[(m[2] || 'b').toLowerCase()];
  if (unit === undefined) return null;
  const bytes = Math.floor(Number(m[1]) * unit);
  return bytes > 0 ? bytes : null;
}

function readConfigFile(file: string): Record<string, unknown> {
  if (!fs.existsSync(file) || !fs.statSync(file).isFile()) throw new ModelFolderError(`${file}: config file not found`);
  let raw: unknown;
  try {
    raw = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    throw new ModelFolderError(`${file}: not valid JSON (${(e as Error).message})`);
  }
  parseConfig(raw, file); // validated here so that errors name the file
  return raw as Record<string, unknown>;
}

/** The options `latent init-random` accepts (commandHelp.ts describes each). */
export const INIT_RANDOM_OPTIONS = {
  config: { type: 'string' },
  out: { type: 'string' },
  seed: { type: 'string' },
  dtype: { type: 'string' },
  tokenizer: { type: 'string' },
  'shard-size': { type: 'string' },
  backend: { type: 'string' },
} as const;

export async function initRandomCommand(args: string[]): Promise<void> {
  const cmd = 'init-random';
  const v = parseOptions(cmd, args, INIT_RANDOM_OPTIONS);
  const configFile = requireString(cmd, v, 'config');
  const outDir = requireString(cmd, v, 'out');
  const seed = parseNumber(cmd, 'seed', v.seed as string | undefined, 0, (n) => Number.isSafeInteger(n) && n >= 0, 'an integer >= 0');
  const dtype = ((v.dtype as string | undefined) ?? 'f32') as CheckpointDType;
  if (!CHECKPOINT_DTYPES.includes(dtype)) throw new UsageError(`${cmd}: --dtype must be one of ${CHECKPOINT_DTYPES.join(', ')} (got "${dtype}")`);
  let shardBytes = DEFAULT_SHARD_BYTES;
  if (v['shard-size'] !== undefined) {
    const parsed = parseByteSize(v['shard-size'] as string);
    if (parsed === null) throw new UsageError(`${cmd}: --shard-size must be a positive size such as 2GB, 500MiB or 1000000 (got "${v['shard-size']}")`);
    shardBytes = parsed;
  }
  parseBackend(cmd, v.backend as string | undefined); // writing needs no backend; accepted like every command
  const config = readConfigFile(configFile);

  let lastShown = -1;
  const summary = await writeRandomCheckpoint(config, outDir, {
    seed,
    dtype,
    shardBytes,
    tokenizerDir: v.tokenizer as string | undefined,
    configSource: configFile,
    onProgress: ({ writtenBytes, totalBytes }) => {
      if (totalBytes < SHOW_PROGRESS_ABOVE_BYTES) return;
      const pct = Math.floor((writtenBytes / totalBytes) * 20) * 5;
      if (pct === lastShown) return;
      lastShown = pct;
      process.stderr.write(`${cmd}: writing ${outDir}: ${pct}% of ${(totalBytes / 2 ** 30).toFixed(1)} GiB\n`);
    },
  });
  for (const note of summary.notes) process.stderr.write(`${cmd}: ${note}\n`);
  process.stdout.write(
    JSON.stringify({
      dir: summary.dir,
      dtype,
      seed,
      files: summary.files,
      tensors: summary.tensors,
      parameters: summary.parameters,
      bytes: summary.bytes,
      vocab_size: summary.vocabSize,
      notes: summary.notes,
    }) + '\n',
  );
}
