// The engine computes an edit's gaps (the tokens between reused runs) in the request's first forward, beside the
// prompt's last tokens: one pass over the weights. Their slots are made before that forward, so a request that
// ends before it (cancelled) must not leave those unwritten slots in the tree.
import * as assert from 'node:assert/strict';
import { Engine } from '../../engine/engine';
import { argmax } from '../../engine/generate/sampler';
import type { StepItem } from '../../engine/model/deepseekV2';
import { fixtureDir, loadExpected, maxAbsDiff } from './fixtureModel';
import { fullLogits, heldPages, runPrompt } from './promptCacheHarness';

const base = loadExpected('long').cases[0].input_ids.slice(0, 400);
/** One token changed at 300: the gap is it and the k after it, then the moved run, then the last token. */
const changed = (token: number) => base.map((t, i) => (i === 300 ? token : t));
const greedy = (prompt: number[], signal?: AbortSignal) => ({ prompt, maxTokens: 3, sampling: { temperature: 0, topP: 1, topK: 0 }, signal });

async function engineWithBase(): Promise<{ engine: Engine; forwards: StepItem[][] }> {
  const engine = await Engine.load(fixtureDir('long'), { backend: 'cpu-reference', reusePolicy: { kind: 'reuse', k: 4, maxDistance: 4 } });
  await engine.generate(greedy(base));
  const forwards: StepItem[][] = [];
  const step = engine.model.step.bind(engine.model);
  engine.model.step = (items, options) => {
    forwards.push(items);
    return step(items, options);
  };
  return { engine, forwards };
}

describe('engine: an edit\'s gaps in the first forward', () => {
  it('a changed token: one forward computes the gap and the last token; the answer is the eager computation\'s', async () => {
    const { engine, forwards } = await engineWithBase();
    const edited = changed(7);
    const result = await engine.generate(greedy(edited));
    assert.equal(forwards.length, 3, 'one forward per generated token');
    assert.deepEqual(forwards[0].map((it) => [it.at ?? null, it.tokens.length, it.logits]), [[300, 5, 'none'], [null, 1, 'last']]);
    assert.equal(result.cachedTokens, edited.length - 6);
    // The same edit through the prompt cache with its gap computed first, as before (its logits: the model-level test).
    const other = await Engine.load(fixtureDir('long'), { backend: 'cpu-reference', reusePolicy: { kind: 'reuse', k: 4, maxDistance: 4 } });
    await other.generate(greedy(base));
    const eager = await runPrompt(other.model, other.promptCache, edited);
    assert.equal(eager.cachedTokens, result.cachedTokens);
    assert.equal(result.tokens[0], argmax(eager.logits));
    engine.dispose();
    other.dispose();
  });

  it('a request cancelled before its first forward leaves no unwritten slot in the tree: exact still equals a recompute', async () => {
    const { engine, forwards } = await engineWithBase();
    const pc = engine.promptCache;
    const edited = changed(9);
    const abort = new AbortController();
    const sequence = await engine.startSequence(greedy(edited, abort.signal));
    assert.ok(sequence.gaps.length > 0, 'the edit has a gap');
    abort.abort();
    await engine.step([sequence]);
    assert.equal(sequence.finishReason, 'cancelled');
    assert.equal(forwards.length, 0);
    pc.pool.checkInvariants(heldPages(pc, []));
    pc.policy = { kind: 'exact' };
    const again = await runPrompt(engine.model, pc, edited);
    assert.ok(again.cachedTokens <= 300, `exact reused ${again.cachedTokens} tokens, past the change`);
    assert.ok(maxAbsDiff(again.logits, await fullLogits(engine.model, edited)) <= 1e-6);
    engine.dispose();
  });
});
