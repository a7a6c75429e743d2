// A long editing session: a function typed one token at a time into a FIM prompt with a 400-token suffix, each
// keystroke's prompt reusing the last one's cache. The tree must hold O(document) pages (superseded derived copies
// released, not one suffix copy per keystroke), no reused latent may drift past the policy's bound, drift must not
// compound, and `exact` afterwards must still equal a full recompute.
import * as assert from 'node:assert/strict';
import { PAGE_TOKENS } from '../../engine/cache/latentPool';
import { maxDistance } from '../../engine/cache/provenance';
import { loadExpected, loadFixtureModel, maxAbsDiff } from './fixtureModel';
import { fullLogits, klOfLogits, promptCacheFor, runPrompt } from './promptCacheHarness';

const FIM = { begin: 2, hole: 3, end: 4 };

describe('latent cache: a long edit chain', () => {
  it('48 keystrokes: O(document) pages, distance within the bound, drift not compounding, exact still exact', async function () {
    this.timeout(300_000);
    const model = loadFixtureModel('long');
    const doc = loadExpected('long').cases[0].input_ids;
    const prefix = doc.slice(1, 200), suffix = doc.slice(200, 600);
    const typed = doc.slice(600, 648);
    const prompt = (count: number) => [FIM.begin, ...prefix, ...typed.slice(0, count), FIM.hole, ...suffix, FIM.end];
    const maxDist = 3;
    const pc = promptCacheFor(model, { kind: 'reuse', k: 16, maxDistance: maxDist });
    await runPrompt(model, pc, prompt(0));
    const docPages = Math.ceil(prompt(typed.length).length / PAGE_TOKENS);
    let worstPages = 0, worstKl = 0, firstKl = 0, reusedKeystrokes = 0;
    for (let count = 1; count <= typed.length; count++) {
      const tokens = prompt(count);
      const r = await runPrompt(model, pc, tokens);
      assert.ok(maxDistance(r.prepared.moved.length ? r.prepared.cache.distances : []) <= maxDist);
      if (r.cachedTokens > tokens.length / 2) reusedKeystrokes++;
      worstPages = Math.max(worstPages, pc.stats().treePages);
      if (count === 1 || count % 6 === 0) {
        const kl = klOfLogits(await fullLogits(model, tokens), r.logits);
        if (count === 1) firstKl = kl;
        worstKl = Math.max(worstKl, kl);
      }
    }
    // The first prompt's exact copy, the current derived one, and the exact heads of recent branches.
    assert.ok(worstPages <= 3 * docPages, `the tree held ${worstPages} pages for a ${docPages}-page document`);
    assert.ok(reusedKeystrokes >= typed.length * 0.6, `only ${reusedKeystrokes} of ${typed.length} keystrokes reused the suffix`);
    assert.ok(worstKl <= Math.max(4 * firstKl, 1e-4), `drift compounded: worst KL ${worstKl}, first keystroke ${firstKl}`);
    pc.policy = { kind: 'exact' };
    const last = prompt(typed.length);
    const exact = await runPrompt(model, pc, last);
    assert.ok(maxAbsDiff(exact.logits, await fullLogits(model, last)) <= 1e-5);
    const held = pc.tree.checkInvariants();
    pc.pool.checkInvariants(held);
    if (process.env.CACHE_DEBUG) console.log({ worstPages, docPages, worstKl, firstKl, reusedKeystrokes });
  });
});
