// `latent serve` command-line options, with the limits that keep one bad or greedy client from hurting others.
import { defaultModelDir } from '../defaultModel';
import { parseArgs } from 'node:util';
import { DEFAULT_ENGINE_PORT } from '../../engineLink/localEngineFacts';
import { LATENT_FORMATS } from '../cache/latentFormat';
import { BACKENDS, DEFAULT_REUSE_POLICY } from '../engine';
import { WEIGHT_QUANTISATIONS } from '../weights/loadQuantisation';
import { DEFAULT_MAX_DISTANCE, formatReusePolicy, parseReusePolicy } from '../cache/promptCache';

/** "LATE" on a phone keypad; the LSP server looks here first for a running daemon. */
export const DEFAULT_PORT = DEFAULT_ENGINE_PORT;

export interface ServeOptions {
  modelDir: string;
  host: string;
  port: number;
  backend: string;
  /** Load-time quantisation of the linear weights (q8_0 | q4_k); unset: as stored. */
  weights?: string;
  apiKeyFile?: string;
  /** Host names accepted besides loopback names and the bound address (for a GPU box served on the LAN). */
  allowedHosts: string[];
  maxBodyBytes: number;
  /** Upper bound on `max_tokens` of one request. */
  maxTokensLimit: number;
  /** Sequences decoded together in one step. */
  maxBatch: number;
  /** Requests waiting beyond the running batch; more are refused with 429. */
  maxQueue: number;
  /** Choices one request may ask for (`n`). */
  maxChoices: number;
  /** Storage of cached latents: fp32, fp16, int8, int4. */
  cacheFormat: string;
  /** Memory the latent pool may use; undefined: the engine's default (1 GiB, within what the backend's store holds). */
  cacheBudgetMiB?: number;
  /** How cached latents are reused: exact | reuse:K[:D] (engine/cache/promptCache.ts); the engine's default if unset. */
  reusePolicy?: string;
  /** Open connections served at once; a request on one beyond them is answered 503 and its connection closed. */
  maxConnections: number;
}

/** Every option of `latent serve`, as `latent serve --help` prints it. */
export const USAGE = `usage: latent serve [--model DIR|FILE.gguf] [options]   (OpenAI-compatible HTTP on loopback)
  --model DIR|FILE.gguf     Hugging Face model folder (config.json, *.safetensors, tokenizer.json), or a GGUF file;
                            default: the embedded model, models/latent-coder-tiny
  --host ADDRESS            address to listen on (default 127.0.0.1)
  --port N                  port (default ${DEFAULT_PORT}; 0: any free port, printed at start)
  --backend NAME            ${BACKENDS.join(' | ')} (default auto)
  --weights TYPE            ${WEIGHT_QUANTISATIONS.join(' | ')}: quantise the linear weights as they load (default: as stored)
  --api-key-file FILE       bearer key file, 0600 (default: $LATENT_API_KEY, else a generated key in the user's cache dir)
  --allow-host NAME         a Host name accepted besides loopback and the bound address (repeatable)
  --max-body-bytes N        largest request body (default 4194304)
  --max-tokens-limit N      largest max_tokens of one request (default 4096)
  --max-batch N             sequences decoded together in one step (default 8)
  --max-queue N             requests waiting beyond the batch before 429 (default 64)
  --max-choices N           largest n of one request (default 8)
  --cache-format FORMAT     latent cache storage: ${LATENT_FORMATS.join(' | ')} (default fp32)
  --cache-budget-mib N      memory of the latent cache pool in MiB (default 1024, less where a GPU's binding limit caps it)
  --reuse-policy POLICY     exact | reuse:K[:D]: recompute K tokens of each moved run, reuse latents at most D
                            re-positionings from exact (default ${formatReusePolicy(DEFAULT_REUSE_POLICY)}, D ${DEFAULT_MAX_DISTANCE})
  --max-connections N       open connections served at once; a request beyond gets 503 (default 512)
  --help                    this text`;

/** The options `latent serve` parses (USAGE describes each). */
export const SERVE_OPTIONS = {
  model: { type: 'string' },
  host: { type: 'string' },
  port: { type: 'string' },
  backend: { type: 'string' },
  weights: { type: 'string' },
  'api-key-file': { type: 'string' },
  'allow-host': { type: 'string', multiple: true },
  'max-body-bytes': { type: 'string' },
  'max-tokens-limit': { type: 'string' },
  'max-batch': { type: 'string' },
  'max-queue': { type: 'string' },
  'max-choices': { type: 'string' },
  'cache-format': { type: 'string' },
  'cache-budget-mib': { type: 'string' },
  'reuse-policy': { type: 'string' },
  'max-connections': { type: 'string' },
} as const;

/** A bad command line; the message starts with the command's name, as the other `latent` commands' do. */
export class UsageError extends Error {
  constructor(message: string) {
    super(`serve: ${message}`);
    this.name = 'UsageError';
  }
}

function positiveInt(name: string, raw: string | undefined, fallback: number, min = 1,
  max = Number.MAX_SAFE_INTEGER): number {
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (raw.trim() === '' || !Number.isInteger(value) || value < min || value > max) {
    throw new UsageError(`--${name} must be an integer from ${min} to ${max}, got '${raw}'`);
  }
  return value;
}

export function parseServeOptions(argv: string[]): ServeOptions {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: SERVE_OPTIONS,
    });
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  const v = parsed.values;
  if (v.weights !== undefined && !(WEIGHT_QUANTISATIONS as readonly string[]).includes(v.weights)) {
    throw new UsageError(`--weights must be one of ${WEIGHT_QUANTISATIONS.join(', ')}, got '${v.weights}'`);
  }
  if (v['reuse-policy'] !== undefined) {
    try {
      parseReusePolicy(v['reuse-policy']);
    } catch (e) {
      throw new UsageError(`--reuse-policy: ${(e as Error).message}`);
    }
  }
  return {
    modelDir: v.model ?? defaultModelDir(),
    host: v.host ?? '127.0.0.1',
    port: positiveInt('port', v.port, DEFAULT_PORT, 0, 65535),
    backend: v.backend ?? 'auto',
    weights: v.weights,
    apiKeyFile: v['api-key-file'],
    allowedHosts: v['allow-host'] ?? [],
    maxBodyBytes: positiveInt('max-body-bytes', v['max-body-bytes'], 4 * 1024 * 1024),
    maxTokensLimit: positiveInt('max-tokens-limit', v['max-tokens-limit'], 4096),
    maxBatch: positiveInt('max-batch', v['max-batch'], 8),
    maxQueue: positiveInt('max-queue', v['max-queue'], 64, 0),
    maxChoices: positiveInt('max-choices', v['max-choices'], 8),
    cacheFormat: v['cache-format'] ?? 'fp32',
    cacheBudgetMiB: v['cache-budget-mib'] === undefined ? undefined : positiveInt('cache-budget-mib', v['cache-budget-mib'], 1024),
    reusePolicy: v['reuse-policy'],
    maxConnections: positiveInt('max-connections', v['max-connections'], 512),
  };
}
