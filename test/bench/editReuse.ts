// npm run bench:edit-reuse [-- --quick] [-- --model DIR] [-- --layers N] [-- --contexts 1000,2000] [-- --edits N]
//   [-- --near-edits N] [-- --keystrokes N] [-- --divergence-only]
//
// Edit-aware reuse of the latent cache, measured in one run:
// 1. Time to first token on the edited prompt: full recompute, prefix-only reuse (`exact`) and edit-aware reuse
//    (`reuse:k`), medians of several runs after a warm-up, for (a) one character typed at a cursor with a long
//    suffix (FIM layout) and (b) an edit half-way up a long context (also drawn as docs/edit-reuse-ttft.svg).
// 2. Divergence that can fail: per random edit of a real source file, the exact answer against each reuse:k and
//    two null baselines (the unedited prompt's answer; reuse without k_pe rotation): first-token agreement over all
//    edits and over those that change the exact answer, KL(exact || policy) and its ratio to KL(exact || unedited),
//    greedy 32-token continuation agreement; over edits anywhere in a plain window, and over edits within 24
//    tokens of the cursor of a FIM prompt with a 300-token suffix (the editor's case), which change the answer.
// 3. A replayed keystroke session: a function typed character by character into the file, each keystroke reusing
//    the last one's cache: worst KL along the chain and pages held.
// 4. Storage formats: bytes per token and logit error on the fixtures.
// Without --model, timing runs on DeepSeek-V2-Lite's shapes with random weights and divergence on the `long`
// fixture (random weights: few edits change its answer, which the report says); with --model DIR everything runs on
// that model folder (its tokenizer, FIM tokens and RoPE/YaRN config). The last line of stdout is the JSON report.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CpuBackend } from '../../engine/backend/cpu/cpuBackend';
import { bytesPerTokenLayer, LATENT_FORMATS } from '../../engine/cache/latentFormat';
import { DEFAULT_MAX_DISTANCE, formatReusePolicy, PromptCache, ReusePolicy } from '../../engine/cache/promptCache';
import { DEFAULT_REUSE_POLICY, Engine } from '../../engine/engine';
import { argmax } from '../../engine/generate/sampler';
import type { DeepseekV2Model } from '../../engine/model/deepseekV2';
import { FIXTURE_NAMES, loadExpected, loadFixtureModel } from '../engine/fixtureModel';
import { deepseekTokenizer, median, randomModel, sourceText, SOURCE_FILE, v2LiteConfig } from './benchModel';
import { Edit, measureDivergence, newPromptCache } from './editDivergence';
import { replaySession } from './keystrokeSession';
import { ttftChart, TtftPoint } from './ttftChart';

const args = process.argv.slice(2);
const flag = (name: string): string | undefined => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : undefined;
};
const quick = args.includes('--quick');
/** Only the divergence measurements (section 2), for a quick re-measure of accuracy. */
const divergenceOnly = args.includes('--divergence-only');
const modelDir = flag('model');
const numLayers = Number(flag('layers') ?? 2);
const RUNS = quick ? 2 : 3;
/** The engine's default reuse:k, timed and set beside the others. */
const K_DEFAULT = DEFAULT_REUSE_POLICY.kind === 'reuse' ? DEFAULT_REUSE_POLICY.k : 16;
/** Near-cursor edits land within this many tokens of the FIM prompt's cursor, before a suffix of SUFFIX_TOKENS. */
const NEAR_CURSOR = 24;
const SUFFIX_TOKENS = 300;
/** --ks 2,4,16: the reuse:k policies compared (the default's k among them for the no-rotation baseline). */
const KS = flag('ks')?.split(',').map(Number) ?? (quick ? [0, 16] : [0, 1, 2, 4, 16, 64]);
const chart = flag('contexts')?.split(',').map(Number) ?? (quick ? [256, 512] : [1000, 2000, 4000]);
const sizes = {
  typingPrefix: quick ? 128 : 2000,
  typingSuffix: quick ? 256 : 2000,
  farContext: chart[chart.length - 1],
  edits: Number(flag('edits') ?? (quick ? 8 : 60)),
  /** Edits within the last NEAR_CURSOR tokens before the answer: the ones that change it. */
  nearEdits: Number(flag('near-edits') ?? (quick ? 8 : 60)),
  editWindow: quick ? 300 : 900,
  continuation: quick ? 8 : 32,
  keystrokes: Number(flag('keystrokes') ?? (quick ? 20 : 200)),
  klEvery: quick ? 5 : 10,
};

function log(msg: string): void {
  process.stderr.write(`${msg}\n`);
}

interface Timed {
  ms: number;
  logits: Float32Array;
  computed: number;
}

/** Time to first token for `prompt` against `pc`'s cache; nothing is cached afterwards. */
async function timeToFirstToken(model: DeepseekV2Model, pc: PromptCache, prompt: number[]): Promise<Timed> {
  const t0 = performance.now();
  let computed = 0;
  const prepared = await pc.prepare(prompt, async (cache, toks) => {
    computed += toks.length;
    await model.forward([{ cache, tokens: toks, logits: 'none' }]);
  });
  computed += prepared.pending.length;
  const [logits] = await model.forward([{ cache: prepared.cache, tokens: prepared.pending, logits: 'last' }]);
  argmax(logits);
  const ms = performance.now() - t0;
  pc.abandon(prepared);
  return { ms, logits, computed };
}

interface PolicyTimes {
  full: Timed[];
  exact: Timed[];
  reuse: Timed[];
}

/**
 * On the edited prompt `after`: a full recompute (empty cache), and `exact` / `reuse:k` with the cache warmed by
 * `before`; each a warm-up and then `runs` timed runs (nothing measured is cached, so each sees the same state).
 */
async function measureEdit(model: DeepseekV2Model, before: number[], after: number[], k: number, runs: number): Promise<PolicyTimes> {
  const warm = newPromptCache(model, { kind: 'exact' });
  const prepared = await warm.prepare(before, async (cache, toks) => await model.forward([{ cache, tokens: toks, logits: 'none' }]));
  await model.forward([{ cache: prepared.cache, tokens: prepared.pending, logits: 'none' }]);
  warm.finish(prepared, before);
  const times: PolicyTimes = { full: [], exact: [], reuse: [] };
  const policies: [keyof PolicyTimes, () => PromptCache][] = [
    ['full', () => newPromptCache(model, { kind: 'exact' })],
    ['exact', () => ((warm.policy = { kind: 'exact' }), warm)],
    ['reuse', () => ((warm.policy = { kind: 'reuse', k, maxDistance: DEFAULT_MAX_DISTANCE }), warm)],
  ];
  for (const [name, cache] of policies) {
    await timeToFirstToken(model, cache(), after); // warm-up
    for (let i = 0; i < runs; i++) times[name].push(await timeToFirstToken(model, cache(), after));
  }
  return times;
}

const medianMs = (ts: Timed[]) => median(ts.map((t) => t.ms));
const summary = (t: PolicyTimes, tokens: number) => ({
  tokens,
  ttft_ms: { full: medianMs(t.full), exact: medianMs(t.exact), reuse: medianMs(t.reuse) },
  tokens_computed: { full: t.full[0].computed, exact: t.exact[0].computed, reuse: t.reuse[0].computed },
});

interface Subject {
  description: string;
  timingModel: DeepseekV2Model;
  divergenceModel: DeepseekV2Model;
  /** Token ids of text for the divergence model (the fixture folds the DeepSeek vocabulary into its own). */
  encode: (text: string) => number[];
  timingEncode: (text: string) => number[];
  bos: number;
  fim: { begin: number; hole: number; end: number };
  dispose: () => void;
}

async function loadSubject(): Promise<Subject> {
  if (modelDir) {
    const engine = await Engine.load(modelDir, { backend: 'cpu' });
    const tok = engine.tokenizer;
    if (!tok) throw new Error(`${modelDir}: the bench needs a tokenizer.json to tokenize its source file`);
    const c = engine.config;
    const encode = (text: string) => tok.encode(text);
    // Without FIM tokens in the vocabulary, three ids stand in (the layout's cost and reuse do not depend on them).
    const fim = tok.special.fim ?? { begin: c.vocabSize - 3, hole: c.vocabSize - 2, end: c.vocabSize - 1 };
    const yarn = c.ropeScaling ? `, YaRN factor ${c.ropeScaling.factor} over ${c.ropeScaling.originalMaxPositionEmbeddings}` : '';
    return {
      description: `${path.basename(path.resolve(modelDir))} (${c.numLayers} layers, hidden ${c.hiddenSize}, kv_lora_rank ${c.kvLoraRank}${yarn}), its own weights and tokenizer, cpu backend`,
      timingModel: engine.model, divergenceModel: engine.model, encode, timingEncode: encode,
      bos: tok.special.bos ?? c.bosTokenId ?? 0, fim, dispose: () => engine.dispose(),
    };
  }
  const tokenizer = deepseekTokenizer();
  const t0 = performance.now();
  const timingModel = await randomModel(v2LiteConfig(numLayers), 7);
  log(`  model built in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  const fixture = loadFixtureModel('long', await CpuBackend.create());
  const V = fixture.config.vocabSize;
  return {
    description: `timing: DeepSeek-V2-Lite shapes, ${numLayers} layers (layer 0 dense, then MoE), random F16 weights; divergence: the long fixture (random weights, no YaRN; source tokens folded into its ${V}-token vocabulary); cpu backend`,
    timingModel, divergenceModel: fixture,
    encode: (text) => tokenizer.encode(text).map((t) => 5 + (t % (V - 5))),
    timingEncode: (text) => tokenizer.encode(text),
    bos: 0,
    fim: { begin: 2, hole: 3, end: 4 },
    dispose: () => {
      timingModel.backend.dispose();
      fixture.backend.dispose();
    },
  };
}

/** The first `count` tokens' worth of characters of `text`. */
function charsOfTokens(encode: (t: string) => number[], text: string, count: number): number {
  let lo = 0, hi = text.length;
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2);
    if (encode(text.slice(0, mid)).length <= count) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

async function main(): Promise<void> {
  const text = sourceText();
  log(`edit-reuse bench over ${path.basename(SOURCE_FILE)}${quick ? ' [quick]' : ''}${modelDir ? ` on ${modelDir}` : ''} (timings measured while other jobs may run: compare ratios of one run)`);
  const s = await loadSubject();
  const tenc = s.timingEncode;

  // 2. Divergence over random edits of the file: 1-5 tokens of other text of the file typed, 0-2 removed.
  const fileTokens = s.encode(text);
  let seed = 99;
  const rand = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32);
  const window = Math.min(sizes.editWindow, fileTokens.length - 100);
  /** An edit at a position drawn by `at(window)`: 1-5 tokens of other text of the file typed, 0-2 removed. */
  const edit = (at: (window: number) => number): Edit => {
    const start = Math.floor(rand() * (fileTokens.length - window - 10));
    const base = [s.bos, ...fileTokens.slice(start, start + window)];
    const where = at(window);
    const from = Math.floor(rand() * (fileTokens.length - 5));
    const inserted = fileTokens.slice(from, from + 1 + Math.floor(rand() * 5));
    return { base, edited: [...base.slice(0, where), ...inserted, ...base.slice(where + Math.floor(rand() * 3))] };
  };
  const edits = Array.from({ length: sizes.edits }, () => edit((w) => 1 + Math.floor(rand() * (w - 50))));
  log(`  divergence over ${edits.length} edits anywhere in ${window}-token windows`);
  const policies: ReusePolicy[] = KS.map((k) => ({ kind: 'reuse', k, maxDistance: DEFAULT_MAX_DISTANCE }));
  const defaultPolicy = formatReusePolicy({ kind: 'reuse', k: K_DEFAULT, maxDistance: DEFAULT_MAX_DISTANCE });
  const divergence = await measureDivergence(s.divergenceModel, edits, policies, K_DEFAULT, sizes.continuation, defaultPolicy, log);
  // Edits at the cursor of a FIM prompt (the editor's case): a few tokens typed or removed within the last
  // NEAR_CURSOR tokens of the prefix, with a SUFFIX_TOKENS suffix after the hole that reuse re-positions. These
  // change the exact answer often enough to give "agreement on changed answers" power.
  const suffixTokens = Math.min(SUFFIX_TOKENS, Math.floor(window / 2));
  const nearEdits = Array.from({ length: sizes.nearEdits }, (): Edit => {
    const start = Math.floor(rand() * (fileTokens.length - window - 10));
    const prefix = fileTokens.slice(start, start + window - suffixTokens);
    const suffix = fileTokens.slice(start + window - suffixTokens, start + window);
    const at = prefix.length - NEAR_CURSOR + Math.floor(rand() * (NEAR_CURSOR - 2));
    const from = Math.floor(rand() * (fileTokens.length - 5));
    const edited = [...prefix.slice(0, at), ...fileTokens.slice(from, from + 1 + Math.floor(rand() * 5)), ...prefix.slice(at + Math.floor(rand() * 3))];
    const fim = (p: number[]) => [s.bos, s.fim.begin, ...p, s.fim.hole, ...suffix, s.fim.end];
    return { base: fim(prefix), edited: fim(edited) };
  });
  log(`  divergence over ${nearEdits.length} FIM edits within ${NEAR_CURSOR} tokens of the cursor, ${suffixTokens}-token suffix`);
  const nearCursor = await measureDivergence(s.divergenceModel, nearEdits, policies, K_DEFAULT, sizes.continuation, defaultPolicy, log);
  for (const [what, report] of [['anywhere', divergence], ['at the FIM cursor', nearCursor]] as const) for (const d of report.policies) {
    log(`    ${what}, ${d.policy}: agreement ${(d.first_token_agreement * 100).toFixed(1)}% (on ${report.edits_changing_answer} changed: ${d.first_token_agreement_on_changed === null ? '-' : (d.first_token_agreement_on_changed * 100).toFixed(1) + '%'}), KL ${d.mean_kl.toExponential(2)} (x${d.kl_vs_unedited.toFixed(3)} of unedited)${d.continuation_agreement === null ? '' : `, ${sizes.continuation}-token continuations ${(d.continuation_agreement * 100).toFixed(1)}% (on the ${report.edits_changing_continuation} that changed: ${d.continuation_agreement_on_changed === null ? '-' : (d.continuation_agreement_on_changed * 100).toFixed(1) + '%'})`}`);
  }

  if (divergenceOnly) {
    process.stdout.write(JSON.stringify({ bench: 'edit-reuse', divergence_only: true, model: s.description, policy: defaultPolicy, divergence, divergence_near_cursor: nearCursor }) + '\n');
    s.dispose();
    return;
  }

  // 1a. Typing one character at a cursor with a long suffix after it.
  const cursor = charsOfTokens(tenc, text, sizes.typingPrefix);
  const suffixText = text.slice(cursor, cursor + charsOfTokens(tenc, text.slice(cursor), sizes.typingSuffix));
  const fimPrompt = (prefix: string) => [s.fim.begin, ...tenc(prefix), s.fim.hole, ...tenc(suffixText), s.fim.end];
  const typingBefore = fimPrompt(text.slice(0, cursor));
  const typingAfter = fimPrompt(text.slice(0, cursor) + 'x');
  log(`  (a) typing: ${typingAfter.length} tokens`);
  const typing = await measureEdit(s.timingModel, typingBefore, typingAfter, K_DEFAULT, RUNS);
  log(`      ttft ms: full ${medianMs(typing.full).toFixed(0)}, exact ${medianMs(typing.exact).toFixed(0)}, reuse ${medianMs(typing.reuse).toFixed(0)}`);

  // 1b. An edit half-way up contexts of each length, the cursor at the end.
  const farPrompt = (len: number, inserted: string) => {
    const end = charsOfTokens(tenc, text, len - 1);
    const editAt = charsOfTokens(tenc, text, Math.floor(len / 2));
    return [s.bos, ...tenc(text.slice(0, editAt) + inserted + text.slice(editAt, end))];
  };
  const chartPoints: TtftPoint[] = [];
  let far: PolicyTimes | undefined;
  let farTokens = 0;
  for (const len of chart) {
    const before = farPrompt(len, '');
    const after = farPrompt(len, '  const added = 1;\n');
    log(`  (b) far edit at ${len} tokens context`);
    const times = await measureEdit(s.timingModel, before, after, K_DEFAULT, len === sizes.farContext ? RUNS : 1);
    chartPoints.push({ context: after.length, full: medianMs(times.full), exact: medianMs(times.exact), reuse: medianMs(times.reuse) });
    log(`      ttft ms: full ${medianMs(times.full).toFixed(0)}, exact ${medianMs(times.exact).toFixed(0)}, reuse ${medianMs(times.reuse).toFixed(0)}`);
    if (len === sizes.farContext) [far, farTokens] = [times, after.length];
  }
  if (!far) throw new Error('the far-edit context is not among the chart contexts');

  // 3. A function typed into the file, one keystroke at a time.
  const fnAt = text.search(/\n\s*(export )?(async )?function /) + 1;
  const typed = text.slice(fnAt, fnAt + sizes.keystrokes);
  const sessionText = text.slice(0, fnAt) + text.slice(fnAt + sizes.keystrokes);
  log(`  keystroke session: ${typed.length} characters typed at offset ${fnAt}`);
  const session = await replaySession(s.divergenceModel, { kind: 'reuse', k: K_DEFAULT, maxDistance: DEFAULT_MAX_DISTANCE }, {
    text: sessionText, at: fnAt, typed, encode: s.encode, fim: s.fim, prefixTokens: quick ? 128 : 512, suffixTokens: 400,
  }, sizes.klEvery, log);
  log(`    worst KL ${session.worst_kl.toExponential(2)} (x${session.worst_kl_vs_first.toFixed(2)} of the first keystroke's), pages held at most ${session.pages_held.max} for a ${session.pages_held.document}-page prompt`);

  // 4. Storage formats: bytes per token (DeepSeek-V2-Lite: 27 layers) and max logit error on the fixtures.
  const formats = [];
  for (const format of LATENT_FORMATS) {
    let maxErr = 0;
    for (const name of FIXTURE_NAMES) {
      const m = loadFixtureModel(name);
      for (const kase of loadExpected(name).cases) {
        const c = m.config;
        const pc = new PromptCache({ numLayers: c.numLayers, kvLoraRank: c.kvLoraRank, qkRopeHeadDim: c.qkRopeHeadDim }, m.rope, { format, budgetBytes: 2 ** 28, policy: { kind: 'exact' } });
        const prepared = await pc.prepare(kase.input_ids, () => undefined);
        const [logits] = await m.forward([{ cache: prepared.cache, tokens: prepared.pending, logits: 'all' }]);
        pc.abandon(prepared);
        kase.logits_positions.forEach((p, r) => {
          for (let v = 0; v < c.vocabSize; v++) maxErr = Math.max(maxErr, Math.abs(logits[p * c.vocabSize + v] - kase.logits[r][v]));
        });
      }
    }
    formats.push({ format, bytes_per_token: 27 * bytesPerTokenLayer(format, 512, 64), max_logit_error_on_fixtures: maxErr });
  }

  const ratio = (a: number, b: number) => Number((a / b).toFixed(2));
  const ofDefault = divergence.policies.find((d) => d.policy === defaultPolicy)!;
  const nearDefault = nearCursor.policies.find((d) => d.policy === defaultPolicy)!;
  const result = {
    bench: 'edit-reuse',
    quick,
    model: s.description,
    timings_note: 'medians after a warm-up; measured while other jobs may run, so compare the ratios of one run',
    policy: defaultPolicy,
    typing: summary(typing, typingAfter.length),
    far_edit: summary(far, farTokens),
    chart: chartPoints,
    divergence,
    divergence_near_cursor: nearCursor,
    session,
    formats,
    typing_speedup_vs_prefix: ratio(medianMs(typing.exact), medianMs(typing.reuse)),
    typing_speedup_vs_full: ratio(medianMs(typing.full), medianMs(typing.reuse)),
    far_edit_speedup_vs_full: ratio(medianMs(far.full), medianMs(far.reuse)),
    first_token_agreement: ofDefault.first_token_agreement,
    first_token_agreement_on_changed: ofDefault.first_token_agreement_on_changed,
    near_cursor_first_token_agreement_on_changed: nearDefault.first_token_agreement_on_changed,
    near_cursor_edits_changing_answer: nearCursor.edits_changing_answer,
    near_cursor_continuation_agreement: nearDefault.continuation_agreement,
    continuation_agreement: ofDefault.continuation_agreement,
    session_worst_kl_vs_first: session.worst_kl_vs_first,
    bytes_per_token: Object.fromEntries(formats.map((f) => [f.format, f.bytes_per_token])),
  };
  const svgPath = path.resolve(__dirname, '..', '..', '..', 'docs', quick ? 'edit-reuse-ttft-quick.svg' : 'edit-reuse-ttft.svg');
  fs.mkdirSync(path.dirname(svgPath), { recursive: true });
  fs.writeFileSync(svgPath, ttftChart(chartPoints, s.description, K_DEFAULT));
  log(`  chart: ${svgPath}`);
  process.stdout.write(JSON.stringify(result) + '\n');
  s.dispose();
}

void main();
