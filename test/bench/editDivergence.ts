// How far edit-aware reuse drifts from an exact recompute, measured so that it can fail: per edit, the exact answer
// on the edited prompt against each reuse policy and against two null baselines (the answer as if the edit never
// happened, and reuse with no k_pe rotation). First-token agreement over all edits and over the edits that change
// the exact answer, KL(exact || policy), and greedy 32-token continuations.
import { PromptCache, ReusePolicy, formatReusePolicy } from '../../engine/cache/promptCache';
import { argmax } from '../../engine/generate/sampler';
import type { DeepseekV2Model } from '../../engine/model/deepseekV2';
import { Rope } from '../../engine/model/rope';
import { klOfLogits } from '../engine/promptCacheHarness';

export interface Edit {
  base: number[];
  edited: number[];
}

/** A rope whose re-positioning does nothing: reuse with the k_pe of the old positions (a null baseline). */
class NoRotationRope extends Rope {
  override reposition(): void {
    // Deliberately left unrotated.
  }
}

export function newPromptCache(model: DeepseekV2Model, policy: ReusePolicy, rope: Rope = model.rope): PromptCache {
  const c = model.config;
  return new PromptCache({ numLayers: c.numLayers, kvLoraRank: c.kvLoraRank, qkRopeHeadDim: c.qkRopeHeadDim }, rope,
    { format: 'fp32', budgetBytes: 8 * 2 ** 30, policy });
}

/** Prefills `prompt` through `pc`, then decodes `steps` greedy tokens; returns the first logits, the tokens, the computed count. */
async function answer(model: DeepseekV2Model, pc: PromptCache, prompt: number[], steps: number, keep: boolean): Promise<{ logits: Float32Array; continuation: number[]; computed: number }> {
  let computed = 0;
  const prepared = await pc.prepare(prompt, async (cache, toks) => {
    computed += toks.length;
    await model.forward([{ cache, tokens: toks, logits: 'none' }]);
  });
  computed += prepared.pending.length;
  let [logits] = await model.forward([{ cache: prepared.cache, tokens: prepared.pending, logits: 'last' }]);
  const first = logits;
  const continuation: number[] = [];
  for (let i = 0; i < steps; i++) {
    const next = argmax(logits);
    continuation.push(next);
    if (i + 1 < steps) [logits] = await model.forward([{ cache: prepared.cache, tokens: [next], logits: 'last' }]);
  }
  if (keep) pc.finish(prepared, prompt);
  else pc.abandon(prepared);
  return { logits: first, continuation, computed };
}

export interface PolicyDivergence {
  policy: string;
  first_token_agreement: number;
  /** Over the edits whose exact first token differs from the unedited prompt's. */
  first_token_agreement_on_changed: number | null;
  mean_kl: number;
  /** mean KL(exact || policy) / mean KL(exact || unedited): well below 1 when the policy sees the edit. */
  kl_vs_unedited: number;
  continuation_agreement: number | null;
  /** Over the edits whose exact continuation differs from the unedited prompt's (the unedited baseline scores 0). */
  continuation_agreement_on_changed: number | null;
  mean_tokens_computed: number;
}

export interface DivergenceReport {
  edits: number;
  /** Edits whose exact first token differs from the unedited answer (what gives the agreement its power). */
  edits_changing_answer: number;
  /** Edits whose exact greedy continuation differs from the unedited prompt's. */
  edits_changing_continuation: number;
  continuation_tokens: number;
  policies: PolicyDivergence[];
}

interface Candidate {
  name: string;
  policy: ReusePolicy | null; // null: the unedited baseline
  rope?: Rope;
  continuation: boolean;
}

/**
 * Runs every edit under `policies` (ks), the no-rotation baseline at `baselineK` and the unedited baseline.
 * Continuations (greedy, `continuationTokens` long) are compared for every policy and both baselines;
 * `continuationFor` names the policy whose k the no-rotation baseline takes.
 */
export async function measureDivergence(model: DeepseekV2Model, edits: Edit[], policies: ReusePolicy[], baselineK: number,
  continuationTokens: number, continuationFor: string, log: (m: string) => void): Promise<DivergenceReport> {
  const candidates: Candidate[] = [
    ...policies.map((p) => ({ name: formatReusePolicy(p), policy: p, continuation: true })),
    { name: `${continuationFor} without k_pe rotation (null baseline)`, policy: policies.find((p) => formatReusePolicy(p) === continuationFor) ?? { kind: 'reuse', k: baselineK, maxDistance: 4 }, rope: new NoRotationRope(model.config), continuation: true },
    { name: 'unedited prompt (null baseline)', policy: null, continuation: true },
  ];
  const sums = candidates.map(() => ({ agree: 0, agreeChanged: 0, kl: 0, cont: 0, contChanged: 0, computed: 0 }));
  let changed = 0;
  let continuationsChanged = 0;
  for (const [e, edit] of edits.entries()) {
    const exact = await answer(model, newPromptCache(model, { kind: 'exact' }), edit.edited, continuationTokens, false);
    const unedited = await answer(model, newPromptCache(model, { kind: 'exact' }), edit.base, continuationTokens, false);
    const exactFirst = argmax(exact.logits);
    const changes = exactFirst !== argmax(unedited.logits);
    if (changes) changed++;
    const continuationChanges = exact.continuation.join() !== unedited.continuation.join();
    if (continuationChanges) continuationsChanged++;
    for (const [i, c] of candidates.entries()) {
      let r: { logits: Float32Array; continuation: number[]; computed: number };
      if (c.policy === null) r = unedited;
      else {
        const pc = newPromptCache(model, { kind: 'exact' }, c.rope);
        await answer(model, pc, edit.base, 0, true);
        pc.policy = c.policy;
        r = await answer(model, pc, edit.edited, c.continuation ? continuationTokens : 0, false);
      }
      const agree = Number(argmax(r.logits) === exactFirst);
      sums[i].agree += agree;
      if (changes) sums[i].agreeChanged += agree;
      sums[i].kl += klOfLogits(exact.logits, r.logits);
      sums[i].computed += c.policy === null ? 0 : r.computed;
      if (c.continuation) {
        const same = Number(r.continuation.join() === exact.continuation.join());
        sums[i].cont += same;
        if (continuationChanges) sums[i].contChanged += same;
      }
    }
    if ((e + 1) % 10 === 0) log(`    ${e + 1}/${edits.length} edits`);
  }
  const uneditedKl = sums[sums.length - 1].kl / edits.length;
  return {
    edits: edits.length,
    edits_changing_answer: changed,
    edits_changing_continuation: continuationsChanged,
    continuation_tokens: continuationTokens,
    policies: candidates.map((c, i) => ({
      policy: c.name,
      first_token_agreement: sums[i].agree / edits.length,
      first_token_agreement_on_changed: changed ? sums[i].agreeChanged / changed : null,
      mean_kl: sums[i].kl / edits.length,
      kl_vs_unedited: uneditedKl > 0 ? sums[i].kl / edits.length / uneditedKl : NaN,
      continuation_agreement: c.continuation ? sums[i].cont / edits.length : null,
      continuation_agreement_on_changed: c.continuation && continuationsChanged ? sums[i].contChanged / continuationsChanged : null,
      mean_tokens_computed: sums[i].computed / edits.length,
    })),
  };
}
