// Background refresh: derived latents recomputed exactly while nothing runs, in chunks a new request pre-empts.
import * as assert from 'node:assert/strict';
import { PAGE_TOKENS } from '../../engine/cache/latentPool';
import { Engine } from '../../engine/engine';
import { BatchedRunner } from '../../engine/serve/batchedRunner';
import { fixtureDir, loadExpected, maxAbsDiff } from './fixtureModel';
import { fullLogits, heldPages, runPrompt } from './promptCacheHarness';

const base = loadExpected('long').cases[0].input_ids.slice(0, 400);
const edited = [...base.slice(0, 150), 7, 8, 9, ...base.slice(150)];
const greedy = (prompt: number[]) => ({ prompt, maxTokens: 1, sampling: { temperature: 0, topP: 1, topK: 0 } });

async function engineAfterAnEdit(): Promise<Engine> {
  const engine = await Engine.load(fixtureDir('long'), { backend: 'cpu-reference', reusePolicy: { kind: 'reuse', k: 8, maxDistance: 4 } });
  await engine.generate(greedy(base));
  await engine.generate(greedy(edited));
  assert.ok(engine.promptCache.stats().derivedPages > 0, 'the edit left no derived latents to refresh');
  return engine;
}

describe('latent cache: background refresh', () => {
  it('recomputes derived latents exactly in chunks: afterwards exact reuses the whole edited prompt', async () => {
    const engine = await engineAfterAnEdit();
    const pc = engine.promptCache;
    let chunks = 0;
    while (await engine.refreshIdle(32) && chunks < 1000) chunks++;
    assert.ok(chunks < 1000, 'the refresh never ended');
    assert.ok(chunks >= 8, `${chunks} chunks for about 250 derived tokens`);
    assert.equal(pc.stats().derivedPages, 0);
    assert.equal(engine.refresher.counts.refreshed, 1);
    pc.pool.checkInvariants(heldPages(pc, []));
    pc.policy = { kind: 'exact' };
    const again = await runPrompt(engine.model, pc, edited);
    assert.equal(again.cachedTokens, Math.floor((edited.length - 1) / PAGE_TOKENS) * PAGE_TOKENS);
    assert.ok(maxAbsDiff(again.logits, await fullLogits(engine.model, edited)) <= 1e-6);
    engine.dispose();
  });

  it('a new request pre-empts the refresh at once: the job is dropped with everything it held', async () => {
    const engine = await engineAfterAnEdit();
    const pc = engine.promptCache;
    assert.ok(await engine.refreshIdle(16));
    assert.ok(engine.refresher.busy);
    const sequence = await engine.startSequence(greedy([...edited, 11]));
    assert.ok(!engine.refresher.busy);
    assert.equal(engine.refresher.counts.dropped, 1);
    pc.pool.checkInvariants(heldPages(pc, [sequence.cache as never]));
    while (!sequence.done) await engine.step([sequence]);
    pc.pool.checkInvariants(heldPages(pc, []));
    engine.dispose();
  });

  it('the batched runner refreshes by itself once idle, so the request after a pause starts from exact latents', async () => {
    const engine = await Engine.load(fixtureDir('long'), { backend: 'cpu-reference', reusePolicy: { kind: 'reuse', k: 8, maxDistance: 4 } });
    const runner = new BatchedRunner(engine, { refreshChunkTokens: 32 });
    await runner.run(greedy(base), () => undefined);
    await runner.run(greedy(edited), () => undefined);
    for (let i = 0; i < 200 && engine.promptCache.stats().derivedPages > 0; i++) await new Promise((r) => setTimeout(r, 10));
    assert.equal(engine.promptCache.stats().derivedPages, 0, 'the idle runner did not refresh');
    engine.dispose();
  });
});
