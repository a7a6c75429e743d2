// The cache's guarantees under random interleavings of what a server does: requests start (exact or reuse, with
// random edits of a few documents), step together, finish, are cancelled, hit a full pool, or fail mid-step (a
// fault injected inside the forward, after the caches grew); the tree splits under held locks and evicts. After
// every operation no page is leaked or held twice, the budget holds, the kept counts match a walk of the tree; and
// at intervals an `exact` request equals a full recompute (1e-6), whatever reuse ran before.
import * as assert from 'node:assert/strict';
import type { GenerationRequest } from '../../engine/api';
import { PAGE_TOKENS, PoolExhaustedError } from '../../engine/cache/latentPool';
import { Engine } from '../../engine/engine';
import type { Sequence } from '../../engine/generate/sequence';
import { fixtureDir, maxAbsDiff } from './fixtureModel';
import { failNextForward } from './forwardFault';
import { fullLogits, heldPages, runPrompt } from './promptCacheHarness';

function seededRandom(seed: number): () => number {
  return () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32);
}

describe('latent cache: guarantees under random interleavings', () => {
  it('1,000 operations: no leaked or double-held page, the budget and kept counts hold, exact equals a recompute', async function () {
    this.timeout(300_000);
    const budgetPages = 48;
    const probe = await Engine.load(fixtureDir('lite'), { backend: 'cpu-reference' });
    const pageBytes = probe.promptCache.pool.pageBytes;
    probe.dispose();
    const engine = await Engine.load(fixtureDir('lite'), { backend: 'cpu-reference', cacheBudgetBytes: budgetPages * pageBytes });
    const pc = engine.promptCache;
    const rand = seededRandom(2024);
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)];
    // Few documents over a small alphabet: many shared prefixes, repeated text, splits everywhere.
    const documents = Array.from({ length: 3 }, () => [0, ...Array.from({ length: 140 }, () => 2 + Math.floor(rand() * 5))]);
    const live: { sequence: Sequence; abort: AbortController }[] = [];
    const counts = { started: 0, exhausted: 0, failedSteps: 0, cancelled: 0, exactChecks: 0, startedWhileOthersRan: 0 };

    const check = (when: string) => {
      try {
        const held = heldPages(pc, live.filter((l) => !l.sequence.done).map((l) => l.sequence.cache as never));
        pc.pool.checkInvariants(held);
        assert.ok(pc.pool.pagesInUse <= budgetPages);
      } catch (e) {
        if (process.env.CACHE_DEBUG) {
          const m = /page (\d+)/.exec((e as Error).message);
          const page = Number(m?.[1]);
          const visit = (n: typeof pc.tree.root, path: string): void => {
            if (n.pages.includes(page)) console.log('tree node', path, n.depth, n.key.length, n.lockRef, n.pages);
            for (const c of n.children.values()) visit(c, path + '/' + c.depth);
          };
          visit(pc.tree.root, '');
          for (const l of live) if (l.sequence.cache && (l.sequence.cache as never as { pages: number[] }).pages.includes(page)) console.log('live', l.sequence.done, l.sequence.finishReason);
        }
        throw new Error(`after ${when}: ${(e as Error).message}`);
      }
    };
    const forget = () => {
      for (let i = live.length - 1; i >= 0; i--) if (live[i].sequence.done) live.splice(i, 1);
    };

    for (let op = 0; op < 1000; op++) {
      const r = rand();
      let what = '';
      if (r < 0.3 || live.length === 0) {
        what = 'a new request';
        const doc = pick(documents);
        const at = 1 + Math.floor(rand() * 120);
        const edited = [...doc.slice(0, at), ...Array.from({ length: Math.floor(rand() * 4) }, () => 7), ...doc.slice(at + Math.floor(rand() * 3))];
        if (rand() < 0.2) doc.splice(0, doc.length, ...edited); // the document itself changes (an edit chain)
        const prompt = edited.slice(0, 20 + Math.floor(rand() * (edited.length - 20)));
        pc.policy = rand() < 0.4 ? { kind: 'exact' } : { kind: 'reuse', k: Math.floor(rand() * 5), maxDistance: 1 + Math.floor(rand() * 3) };
        const abort = new AbortController();
        const request: GenerationRequest = { prompt, maxTokens: 1 + Math.floor(rand() * 6), sampling: { temperature: 0, topP: 1, topK: 0 }, signal: abort.signal };
        try {
          const lockedBefore = live.length;
          live.push({ sequence: await engine.startSequence(request), abort });
          counts.started++;
          if (lockedBefore > 0) counts.startedWhileOthersRan++;
        } catch (e) {
          if (!(e instanceof PoolExhaustedError)) throw e;
          counts.exhausted++;
        }
      } else if (r < 0.65) {
        what = 'a step';
        const batch = live.filter(() => rand() < 0.7).map((l) => l.sequence);
        if (rand() < 0.08 && batch.some((s) => !s.done)) {
          what = 'a failing step';
          const disarm = failNextForward(engine.model);
          try {
            await engine.step(batch);
            // No forward ran: every sequence of the batch ended before it (cancelled, or no page for it).
            assert.ok(batch.every((s) => s.done), 'a step that should have failed went through');
          } catch (e) {
            assert.match((e as Error).message, /injected fault/);
            for (const s of batch) {
              assert.ok(s.done, 'a sequence of a failed step was left running');
            }
            counts.failedSteps++;
          } finally {
            disarm();
          }
        } else {
          await engine.step(batch);
        }
      } else if (r < 0.75) {
        what = 'a cancellation';
        const l = pick(live);
        if (rand() < 0.5) l.abort.abort();
        else l.sequence.finish('cancelled');
        counts.cancelled++;
      } else if (r < 0.85) {
        what = 'an eviction';
        pc.tree.evict(1 + Math.floor(rand() * 8));
      } else {
        what = 'an exact request';
        const doc = pick(documents);
        const prompt = doc.slice(0, 20 + Math.floor(rand() * (doc.length - 20)));
        const policy = pc.policy;
        pc.policy = { kind: 'exact' };
        try {
          const { logits, prepared } = await runPrompt(engine.model, pc, prompt);
          for (const d of prepared.cache.distances) assert.equal(d, 0);
          const full = await fullLogits(engine.model, prompt);
          // 1e-6 of the logits' scale: f32 rounding of a different batch and attention path, nothing more.
          const scale = Math.max(1, ...Array.from(full, Math.abs));
          const diff = maxAbsDiff(logits, full);
          assert.ok(diff <= 1e-6 * scale, `exact request misses a full recompute by ${diff} (logits up to ${scale})`);
          counts.exactChecks++;
        } catch (e) {
          if (!(e instanceof PoolExhaustedError)) throw e;
          counts.exhausted++;
        } finally {
          pc.policy = policy;
        }
      }
      forget();
      check(`operation ${op} (${what})`);
    }
    for (const l of live) l.sequence.finish('cancelled');
    live.length = 0;
    check('the end');
    pc.tree.evict(Number.MAX_SAFE_INTEGER);
    check('evicting everything');
    assert.equal(pc.pool.pagesInUse, 0, 'pages still in use once nothing runs and the tree is empty');
    assert.ok(counts.exhausted > 0, `the budget was never reached: ${JSON.stringify(counts)}`);
    if (process.env.CACHE_DEBUG) console.log(counts);
    assert.ok(counts.failedSteps >= 5 && counts.exactChecks >= 50 && counts.cancelled >= 20, JSON.stringify(counts));
    engine.dispose();
  });
});

// Guard against a silent change of the page size the expectations above were sized for.
assert.equal(PAGE_TOKENS, 16);
