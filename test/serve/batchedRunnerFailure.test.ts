// A failed step of the batched runner (a fault inside the forward, after every cache of the batch grew) ends every
// sequence of the batch with the error, rejects each request, and leaves no page or lock held; the runner then
// serves the next request normally.
import * as assert from 'node:assert/strict';
import { Engine } from '../../engine/engine';
import { BatchedRunner } from '../../engine/serve/batchedRunner';
import { failNextForward } from '../engine/forwardFault';
import { fixtureDir } from '../engine/fixtureModel';
import { heldPages } from '../engine/promptCacheHarness';

describe('batched runner: a failing step', () => {
  it('rejects every request of the batch and releases their pages and locks', async () => {
    const engine = await Engine.load(fixtureDir('lite'), { backend: 'cpu-reference' });
    const runner = new BatchedRunner(engine);
    const request = (seed: number) => ({
      prompt: Array.from({ length: 40 }, (_, i) => 2 + ((i * 7 + seed) % 300)), maxTokens: 8,
      sampling: { temperature: 0, topP: 1, topK: 0 },
    });
    const pc = engine.promptCache;
    // A request before, so the batch shares cached pages with the tree.
    await runner.run(request(1), () => undefined);
    failNextForward(engine.model);
    const results = await Promise.allSettled([runner.run(request(1), () => undefined), runner.run(request(2), () => undefined)]);
    for (const r of results) {
      assert.equal(r.status, 'rejected');
      assert.match(String((r as PromiseRejectedResult).reason), /injected fault/);
    }
    assert.equal(runner.sequences.length, 0);
    pc.pool.checkInvariants(heldPages(pc, []));
    assert.equal(pc.stats().pinnedPages, 0, 'pages stayed pinned by the failed requests');
    assert.equal(pc.tree.root.lockRef, 0, 'a lock stayed held');
    const after = await runner.run(request(3), () => undefined);
    assert.equal(after.finishReason, 'length');
    assert.equal(after.tokens.length, 8);
    engine.dispose();
  });
});
