// Our engine alone on one GGUF file under each CPU kernel set, interleaved round by round: prompt processing of 512
// tokens of the side-by-side's text and 32 greedy tokens after it, medians of several rounds after a warm-up. It
// shows what a CPU without AVX-512 gets (the kernel sets are forced with LATENT_CPU_KERNELS, as a user could).
//
//   node --max-old-space-size=16384 out/test/bench/kernelsForward.js --gguf FILE [--kernels wasm,native-avx2,native-avx512] [--rounds 3]
//
// The last line is one JSON object: per kernel set pp512 and tg32 (tok/s), its ratios to the first set listed, its runs.
import { Engine } from '../../engine/engine';
import { argmax } from '../../engine/generate/sampler';
import { deepseekTokenizer, greedyTokens, median, prefillInBatches, sourceText } from './benchModel';

const args = process.argv.slice(2);
const flag = (name: string): string | undefined => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : undefined;
};
const gguf = flag('gguf');
if (!gguf) throw new Error('kernelsForward: --gguf FILE is required');
const KERNELS = (flag('kernels') ?? 'wasm,native-avx2,native-avx512').split(',');
const ROUNDS = Number(flag('rounds') ?? 3);
const PROMPT = 512, GEN = 32;

async function round(engine: Engine, prompt: number[]): Promise<{ pp: number; tg: number }> {
  let t = performance.now();
  const { cache, logits } = await prefillInBatches(engine, prompt);
  const pp = PROMPT / ((performance.now() - t) / 1000);
  t = performance.now();
  await greedyTokens(engine, cache, argmax(logits), GEN);
  return { pp, tg: GEN / ((performance.now() - t) / 1000) };
}

async function main(): Promise<void> {
  const prompt = deepseekTokenizer().encode(sourceText()).slice(0, PROMPT);
  // One engine per kernel set (the choice is made when a backend is created), each warmed up once.
  const engines: Engine[] = [];
  for (const k of KERNELS) {
    process.env.LATENT_CPU_KERNELS = k;
    const engine = await Engine.load(gguf!, { backend: 'cpu' });
    console.error(`${k}: ${engine.model.backend.info().device}`);
    await round(engine, prompt);
    engines.push(engine);
  }
  const runs: Record<string, { pp: number[]; tg: number[] }> = Object.fromEntries(KERNELS.map((k) => [k, { pp: [], tg: [] }]));
  for (let r = 0; r < ROUNDS; r++) {
    for (let i = 0; i < KERNELS.length; i++) {
      const { pp, tg } = await round(engines[i], prompt);
      runs[KERNELS[i]].pp.push(pp);
      runs[KERNELS[i]].tg.push(tg);
      console.error(`round ${r} ${KERNELS[i]}: pp${PROMPT} ${pp.toFixed(1)} tok/s, tg${GEN} ${tg.toFixed(1)} tok/s`);
    }
  }
  // Ratios against the first kernel set listed (WASM by default), measured in this run.
  const base = KERNELS[0];
  const report = Object.fromEntries(KERNELS.map((k) => {
    const pp = median(runs[k].pp), tg = median(runs[k].tg);
    const ratios = { prefill: pp / median(runs[base].pp), decode: tg / median(runs[base].tg) };
    console.error(`${k}: pp${PROMPT} ${pp.toFixed(1)}, tg${GEN} ${tg.toFixed(1)} tok/s; ${ratios.prefill.toFixed(2)}x / ${ratios.decode.toFixed(2)}x ${base}`);
    return [k, { [`pp${PROMPT}`]: pp, [`tg${GEN}`]: tg, [`vs_${base}`]: ratios, runs: runs[k] }];
  }));
  for (const e of engines) e.model.backend.dispose();
  console.log(JSON.stringify({ bench: 'kernels-forward', gguf, rounds: ROUNDS, kernels: report }));
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
