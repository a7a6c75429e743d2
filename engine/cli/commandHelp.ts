// What `latent COMMAND --help` prints: every option of each command (the options themselves are the commands'
// own *_OPTIONS tables; test/engine/cliHelp.test.ts checks that each is described here).
import { BACKENDS } from '../engine';
import { SERVE_USAGE } from '../serve';
import { EXPORT_TYPES } from '../weights/gguf/exportGguf';
import { WEIGHT_QUANTISATIONS } from '../weights/loadQuantisation';
import { CHECKPOINT_DTYPES } from '../weights/randomCheckpoint';

const BACKEND_LINE = `  --backend NAME            ${BACKENDS.join(' | ')} (default auto: a hardware GPU adapter, else cpu)`;
export const WEIGHTS_LINE = `  --weights TYPE            ${WEIGHT_QUANTISATIONS.join(' | ')}: quantise the linear weights as they load (default: as stored)`;

export const COMMAND_USAGE: Record<string, string> = {
  logits: `usage: latent logits [--model DIR] --tokens 0,5,7 [options]   (one forward pass; the logits as JSON)
  --model DIR|FILE.gguf     model folder or GGUF file (default: the embedded model, models/latent-coder-tiny)
  --tokens IDS              comma-separated prompt token ids
  --positions WHICH         all | last | N (the last N positions; default last)
${BACKEND_LINE}
${WEIGHTS_LINE}`,
  generate: `usage: latent generate [--model DIR] (--tokens IDS | --prompt TEXT) --max-tokens N [options]
  prints {"tokens": [...], "text": "..."} of the new tokens
  --model DIR|FILE.gguf     model folder or GGUF file (default: the embedded model, models/latent-coder-tiny)
  --tokens IDS              comma-separated prompt token ids
  --prompt TEXT             prompt text (needs the model's tokenizer; bos as its config says)
  --max-tokens N            tokens to generate at most
  --temperature T           0: greedy (default 0)
  --top-p P                 nucleus sampling, in (0, 1] (default 1)
  --top-k K                 sample from the K likeliest tokens; 0: all (default 0)
  --seed S                  seed of the sampler
  --stop TEXT               stop before this text (repeatable)
${BACKEND_LINE}
${WEIGHTS_LINE}`,
  'init-random': `usage: latent init-random --config FILE --out DIR [options]   (a model folder with random weights)
  --config FILE             a DeepSeek-V2 config.json
  --out DIR                 the model folder to write
  --seed S                  seed of the weights (default 0)
  --dtype TYPE              ${CHECKPOINT_DTYPES.join(' | ')} (default f32)
  --tokenizer DIR           copy tokenizer.json and tokenizer_config.json from DIR (the vocabulary widens to fit)
  --shard-size SIZE         largest safetensors file, e.g. 2GB or 500MiB (default 2GB)
${BACKEND_LINE}   (accepted; writing needs none)`,
  'export-gguf': `usage: latent export-gguf [--model DIR] --out FILE.gguf [options]   (the model as llama.cpp's deepseek2 GGUF)
  --model DIR               model folder (default: the embedded model, models/latent-coder-tiny)
  --out FILE                the GGUF file to write
  --type TYPE               ${EXPORT_TYPES.join(' | ')} (default f16; norms and the router stay f32)
  --legacy-kv-b             write kv_b_proj whole (attn_kv_b) instead of the MLA split attn_k_b / attn_v_b`,
  info: `usage: latent info [--model DIR|FILE.gguf] [options]   (config, parameter counts, weight bytes, backend, GPU adapter)
  --model DIR|FILE.gguf     model folder or GGUF file (default: the embedded model, models/latent-coder-tiny)
${BACKEND_LINE}`,
  lsp: `usage: latent lsp [--stdio | --node-ipc]   (the language server)
  --stdio                   LSP over stdin/stdout
  --node-ipc                LSP over node's IPC channel (how the extension starts it; the default when there is one)`,
  serve: SERVE_USAGE,
};

/** The summary of every command, for `latent --help`. */
export function overallUsage(): string {
  return ['usage: latent <command> [options]   (latent <command> --help: all its options)',
    ...Object.values(COMMAND_USAGE).map((u) => `  ${u.split('\n')[0].replace(/^usage: /, '')}`)].join('\n');
}
