// `latent generate --model DIR (--tokens 0,5,7 | --prompt TEXT) --max-tokens N [--temperature T] [--top-p P]
// [--top-k K] [--seed S] [--stop TEXT]... [--backend cpu]`: prints {"tokens":[...],"text":"..."} (new tokens only).
import { defaultModelDir } from '../defaultModel';
import { loadEngine, parseBackend } from './loadWithProgress';
import { parseNumber, parseOptions, parseTokenList, requireString, UsageError } from './usage';

/** The options `latent generate` accepts (commandHelp.ts describes each). */
export const GENERATE_OPTIONS = {
    model: { type: 'string' },
    tokens: { type: 'string' },
    prompt: { type: 'string' },
    'max-tokens': { type: 'string' },
    temperature: { type: 'string' },
    'top-p': { type: 'string' },
    'top-k': { type: 'string' },
    seed: { type: 'string' },
    stop: { type: 'string', multiple: true },
    backend: { type: 'string' },
} as const;

export async function generateCommand(args: string[]): Promise<void> {
  const v = parseOptions('generate', args, GENERATE_OPTIONS);
  const dir = (v.model as string | undefined) ?? defaultModelDir();
  if ((v.tokens === undefined) === (v.prompt === undefined)) throw new UsageError('generate: give exactly one of --tokens and --prompt');
  const maxTokens = parseNumber('generate', 'max-tokens', requireString('generate', v, 'max-tokens'), 16, (n) => Number.isInteger(n) && n >= 1, 'a positive integer');
  const temperature = parseNumber('generate', 'temperature', v.temperature as string | undefined, 0, (n) => n >= 0, 'a number >= 0');
  const topP = parseNumber('generate', 'top-p', v['top-p'] as string | undefined, 1, (n) => n > 0 && n <= 1, 'in (0, 1]');
  const topK = parseNumber('generate', 'top-k', v['top-k'] as string | undefined, 0, (n) => Number.isInteger(n) && n >= 0, 'an integer >= 0');
  const seed = v.seed === undefined ? undefined : parseNumber('generate', 'seed', v.seed as string, 0, (n) => Number.isInteger(n) && n >= 0, 'an integer >= 0');
  const tokens = v.tokens !== undefined ? parseTokenList('generate', v.tokens as string) : undefined;

  const engine = await loadEngine(dir, parseBackend('generate', v.backend as string | undefined));
  try {
    let prompt = tokens;
    if (!prompt) {
      if (!engine.tokenizer) throw new UsageError(`generate: ${dir} has no tokenizer.json, so --prompt cannot be used (give --tokens)`);
      prompt = engine.tokenizer.encode(v.prompt as string, { addBos: engine.tokenizer.addBos });
    }
    const result = await engine.generate({
      prompt,
      maxTokens,
      sampling: { temperature, topP, topK, seed },
      stop: (v.stop as unknown as string[] | undefined) ?? [],
      tokenHealing: tokens === undefined,
    });
    process.stdout.write(JSON.stringify({ tokens: result.tokens, text: result.text }) + '\n');
  } finally {
    engine.dispose();
  }
}
