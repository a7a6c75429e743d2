// `latent logits --model DIR --tokens 0,5,7 [--positions all|last|N] [--backend cpu] [--weights q8_0|q4_k]`: one plain forward, the
// logits of the chosen positions as JSON.
import { defaultModelDir } from '../defaultModel';
import { loadEngine, parseBackend, parseWeights } from './loadWithProgress';
import { parseOptions, parseTokenList, requireString, UsageError } from './usage';

/** The options `latent logits` accepts (commandHelp.ts describes each). */
export const LOGITS_OPTIONS = {
  model: { type: 'string' },
  tokens: { type: 'string' },
  positions: { type: 'string' },
  backend: { type: 'string' },
  weights: { type: 'string' },
} as const;

export async function logitsCommand(args: string[]): Promise<void> {
  const v = parseOptions('logits', args, LOGITS_OPTIONS);
  const dir = (v.model as string | undefined) ?? defaultModelDir();
  const tokens = parseTokenList('logits', requireString('logits', v, 'tokens'));
  const which = (v.positions as string | undefined) ?? 'last';
  let count: number;
  if (which === 'all') count = tokens.length;
  else if (which === 'last') count = 1;
  else if (/^\d+$/.test(which) && Number(which) >= 1) count = Math.min(Number(which), tokens.length);
  else throw new UsageError(`logits: --positions must be all, last or a positive count (got "${which}")`);

  const engine = await loadEngine(dir, parseBackend('logits', v.backend as string | undefined), parseWeights('logits', v.weights as string | undefined));
  try {
    const [logits] = await engine.model.forward([{ cache: engine.newCache(), tokens, logits: count === 1 ? 'last' : 'all' }]);
    const V = engine.config.vocabSize;
    const rows = logits.length / V;
    const positions = Array.from({ length: count }, (_, i) => tokens.length - count + i);
    const out = positions.map((p) => {
      const r = rows === 1 ? 0 : p;
      return Array.from(logits.subarray(r * V, (r + 1) * V));
    });
    process.stdout.write(JSON.stringify({ positions, logits: out }) + '\n');
  } finally {
    engine.dispose();
  }
}
