// A replayed editing session: a function of a real source file typed one character at a time at its place in the
// file, each keystroke a FIM request (prefix, hole, the rest of the file as suffix) that reuses the last one's
// cache, as the editor sends them. Reports the drift along the chain (KL against an exact recompute of each
// keystroke's prompt) and the pages the cache holds.
import { PAGE_TOKENS } from '../../engine/cache/latentPool';
import { formatReusePolicy, ReusePolicy } from '../../engine/cache/promptCache';
import type { DeepseekV2Model } from '../../engine/model/deepseekV2';
import { fullLogits, klOfLogits, runPrompt } from '../engine/promptCacheHarness';
import { newPromptCache } from './editDivergence';

export interface SessionReport {
  policy: string;
  keystrokes: number;
  prompt_tokens: { first: number; last: number };
  /** KL(exact || reuse) of the first keystroke, the single-edit reference. */
  first_kl: number;
  worst_kl: number;
  mean_kl: number;
  worst_kl_vs_first: number;
  /** Keystrokes that took at least half their prompt from the cache. */
  keystrokes_reusing: number;
  mean_tokens_computed: number;
  pages_held: { max: number; last: number; document: number };
}

export interface SessionText {
  /** The file before the function was typed (the cursor at `at`). */
  text: string;
  at: number;
  typed: string;
  /** Token ids of a text (no special tokens). */
  encode: (text: string) => number[];
  fim: { begin: number; hole: number; end: number };
  /** Tokens of context kept each side of the cursor. */
  prefixTokens: number;
  suffixTokens: number;
}

export async function replaySession(model: DeepseekV2Model, policy: ReusePolicy, s: SessionText, klEvery: number,
  log: (m: string) => void): Promise<SessionReport> {
  const before = s.encode(s.text.slice(0, s.at));
  const prefixStart = s.text.slice(0, s.at).length - decodeLength(s, before.slice(-s.prefixTokens));
  const after = s.encode(s.text.slice(s.at)).slice(0, s.suffixTokens);
  const prompt = (count: number) => [s.fim.begin, ...s.encode(s.text.slice(prefixStart, s.at) + s.typed.slice(0, count)), s.fim.hole, ...after, s.fim.end];
  const pc = newPromptCache(model, policy);
  await runPrompt(model, pc, prompt(0));
  const kls: number[] = [];
  let maxPages = 0, reusing = 0, computed = 0;
  for (let count = 1; count <= s.typed.length; count++) {
    const tokens = prompt(count);
    const r = await runPrompt(model, pc, tokens);
    computed += r.computed.length;
    if (r.cachedTokens * 2 >= tokens.length) reusing++;
    maxPages = Math.max(maxPages, pc.stats().treePages);
    if (count === 1 || count % klEvery === 0 || count === s.typed.length) kls.push(klOfLogits(await fullLogits(model, tokens), r.logits));
    if (count % 50 === 0) log(`    keystroke ${count}/${s.typed.length}`);
  }
  const last = prompt(s.typed.length);
  const worst = Math.max(...kls);
  return {
    policy: formatReusePolicy(policy),
    keystrokes: s.typed.length,
    prompt_tokens: { first: prompt(1).length, last: last.length },
    first_kl: kls[0],
    worst_kl: worst,
    mean_kl: kls.reduce((a, b) => a + b, 0) / kls.length,
    worst_kl_vs_first: kls[0] > 0 ? worst / kls[0] : NaN,
    keystrokes_reusing: reusing,
    mean_tokens_computed: computed / s.typed.length,
    pages_held: { max: maxPages, last: pc.stats().treePages, document: Math.ceil(last.length / PAGE_TOKENS) },
  };
}

/** Characters of text that `tokens` decode to, counted by re-encoding growing suffixes (tokenizer-agnostic). */
function decodeLength(s: SessionText, tokens: number[]): number {
  const text = s.text.slice(0, s.at);
  // The shortest tail of the text whose tokens number at least `tokens.length`.
  let lo = 0, hi = text.length;
  while (lo < hi) {
    const mid = Math.floor((lo + hi) / 2);
    if (s.encode(text.slice(text.length - mid)).length >= tokens.length) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}
