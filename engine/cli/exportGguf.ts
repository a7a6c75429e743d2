// `latent export-gguf --model DIR --out FILE.gguf [--type f32|f16] [--legacy-kv-b]`: a model folder as the GGUF
// file llama.cpp loads as deepseek2 (and `--model FILE.gguf` loads here). Prints a JSON summary on stdout.
import { defaultModelDir } from '../defaultModel';
import { EXPORT_TYPES, ExportType, exportGguf } from '../weights/gguf/exportGguf';
import { parseOptions, requireString, UsageError } from './usage';

/** The options `latent export-gguf` accepts (commandHelp.ts describes each). */
export const EXPORT_GGUF_OPTIONS = {
  model: { type: 'string' },
  out: { type: 'string' },
  type: { type: 'string' },
  'legacy-kv-b': { type: 'boolean' },
} as const;

export async function exportGgufCommand(args: string[]): Promise<void> {
  const cmd = 'export-gguf';
  const v = parseOptions(cmd, args, EXPORT_GGUF_OPTIONS);
  const dir = (v.model as string | undefined) ?? defaultModelDir();
  const out = requireString(cmd, v, 'out');
  const type = ((v.type as string | undefined) ?? 'f16') as ExportType;
  if (!EXPORT_TYPES.includes(type)) throw new UsageError(`${cmd}: --type must be one of ${EXPORT_TYPES.join(', ')} (got "${type}")`);
  let lastShown = -1;
  const summary = exportGguf(dir, out, {
    type,
    legacyKvB: v['legacy-kv-b'] === true,
    onProgress: ({ writtenTensors, totalTensors }) => {
      const pct = Math.floor((writtenTensors / totalTensors) * 10) * 10;
      if (totalTensors < 200 || pct === lastShown) return;
      lastShown = pct;
      process.stderr.write(`${cmd}: ${pct}% of ${totalTensors} tensors\n`);
    },
  });
  process.stdout.write(JSON.stringify({ ...summary, type }) + '\n');
}
