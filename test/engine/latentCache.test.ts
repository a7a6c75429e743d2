// The latent cache: exact prefix reuse, exact re-rotation of k_pe, edit-aware reuse, quantised storage, and the
// pool/tree invariants under random interleavings of requests.
import * as assert from 'node:assert/strict';
import { ContiguousLatentCache } from '../../engine/cache/latentCache';
import { bytesPerTokenLayer, LATENT_FORMATS, QUANT_GROUP, rowCodec } from '../../engine/cache/latentFormat';
import { PAGE_TOKENS } from '../../engine/cache/latentPool';
import { PagedLatentCache } from '../../engine/cache/pagedLatentCache';
import { PromptCache, ReusePolicy } from '../../engine/cache/promptCache';
import type { DeepseekV2Model } from '../../engine/model/deepseekV2';
import { FIXTURE_NAMES, loadExpected, loadFixtureModel, maxAbsDiff } from './fixtureModel';

function promptCacheFor(model: DeepseekV2Model, policy: ReusePolicy, format: 'fp32' | 'fp16' | 'int8' | 'int4' = 'fp32', budgetBytes = 64 * 2 ** 20): PromptCache {
  const c = model.config;
  return new PromptCache({ numLayers: c.numLayers, kvLoraRank: c.kvLoraRank, qkRopeHeadDim: c.qkRopeHeadDim }, model.rope, { format, budgetBytes, policy });
}

function fullLogits(model: DeepseekV2Model, tokens: number[]): Float32Array {
  const c = model.config;
  return model.forward([{ cache: new ContiguousLatentCache(c.numLayers, c.kvLoraRank, c.qkRopeHeadDim), tokens, logits: 'last' }])[0];
}

/** Runs a prompt through the prompt cache as the engine does; returns the last logits and the cached count. */
function runPrompt(model: DeepseekV2Model, pc: PromptCache, tokens: number[]): { logits: Float32Array; cachedTokens: number } {
  const prepared = pc.prepare(tokens, (cache, toks) => model.forward([{ cache, tokens: toks, logits: 'none' }]));
  const [logits] = model.forward([{ cache: prepared.cache, tokens: prepared.pending, logits: 'last' }]);
  pc.finish(prepared, tokens);
  return { logits, cachedTokens: prepared.cachedTokens };
}

function softmax(logits: ArrayLike<number>): number[] {
  const max = Math.max(...Array.from(logits));
  const e = Array.from(logits, (x) => Math.exp(x - max));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((x) => x / s);
}

function kl(p: number[], q: number[]): number {
  return p.reduce((a, pi, i) => a + (pi > 0 ? pi * Math.log(pi / q[i]) : 0), 0);
}

describe('latent cache: prefix reuse', () => {
  for (const name of FIXTURE_NAMES) {
    it(`${name}: logits with a reused prefix equal a full recompute within 1e-6`, () => {
      const model = loadFixtureModel(name);
      const kase = loadExpected(name).cases.reduce((a, b) => (b.seq_len > a.seq_len ? b : a));
      const pc = promptCacheFor(model, { kind: 'exact' });
      const first = kase.input_ids.slice(0, Math.floor(kase.seq_len * 0.75));
      runPrompt(model, pc, first);
      const { logits, cachedTokens } = runPrompt(model, pc, kase.input_ids);
      assert.equal(cachedTokens, Math.floor(first.length / PAGE_TOKENS) * PAGE_TOKENS);
      assert.ok(cachedTokens > 0);
      const diff = maxAbsDiff(logits, fullLogits(model, kase.input_ids));
      assert.ok(diff <= 1e-6, `max |diff| ${diff}`);
    });
  }
});

describe('latent cache: re-rotation of k_pe', () => {
  for (const name of ['lite', 'full'] as const) {
    it(`${name}: k_pe rotated at p then shifted by d equals k_pe rotated at p+d (1e-5)`, () => {
      const model = loadFixtureModel(name);
      const dr = model.config.qkRopeHeadDim;
      const v = Float32Array.from({ length: dr }, (_, i) => Math.sin(i * 1.7) * 2);
      for (const [p, d] of [[3, 1], [100, 37], [150, -120], [0, 199], [180, 5]]) {
        const shifted = v.slice();
        model.rope.applyInterleaved(shifted, 0, p);
        model.rope.shiftHalfSplit(shifted, 0, d);
        const direct = v.slice();
        model.rope.applyInterleaved(direct, 0, p + d);
        assert.ok(maxAbsDiff(shifted, direct) <= 1e-5, `p=${p} d=${d}: ${maxAbsDiff(shifted, direct)}`);
      }
    });
  }
});

describe('latent cache: edit-aware reuse', () => {
  const model = loadFixtureModel('long');
  const base = loadExpected('long').cases[0].input_ids.slice(0, 600);
  const edited = [...base.slice(0, 300), 7, 8, 9, ...base.slice(300)];

  it('re-positions the moved run: layer-0 latents equal a fresh computation at the new positions', () => {
    const pc = promptCacheFor(model, { kind: 'reuse', k: 0 });
    runPrompt(model, pc, base);
    const prepared = pc.prepare(edited, (cache, toks) => model.forward([{ cache, tokens: toks, logits: 'none' }]));
    const c = model.config;
    const fresh = new ContiguousLatentCache(c.numLayers, c.kvLoraRank, c.qkRopeHeadDim);
    model.forward([{ cache: fresh, tokens: edited, logits: 'none' }]);
    const reusedEnd = prepared.cache.length;
    assert.ok(prepared.cachedTokens >= 560, `cached ${prepared.cachedTokens}`);
    const chunkRows = (cache: { chunks(l: number, e: number): Iterable<{ cKv: Float32Array; kPe: Float32Array }> }) => {
      const cKv: number[] = [], kPe: number[] = [];
      for (const ch of cache.chunks(0, reusedEnd)) {
        cKv.push(...ch.cKv);
        kPe.push(...ch.kPe);
      }
      return { cKv, kPe };
    };
    const a = chunkRows(prepared.cache), b = chunkRows(fresh);
    assert.ok(maxAbsDiff(a.cKv, b.cKv) <= 1e-5, `c_kv ${maxAbsDiff(a.cKv, b.cKv)}`);
    assert.ok(maxAbsDiff(a.kPe, b.kPe) <= 1e-5, `k_pe ${maxAbsDiff(a.kPe, b.kPe)}`);
    pc.finish(prepared, edited);
  });

  it('reuse:k computes only the edit and k tokens per run, and stays close to the exact distribution', () => {
    const exact = promptCacheFor(model, { kind: 'exact' });
    const reuse = promptCacheFor(model, { kind: 'reuse', k: 8 });
    for (const pc of [exact, reuse]) runPrompt(model, pc, base);
    const e = runPrompt(model, exact, edited);
    const r = runPrompt(model, reuse, edited);
    assert.equal(e.cachedTokens, 288);
    // Everything but the edited page, 8 recomputed tokens, the page-alignment slack and the last token.
    assert.ok(r.cachedTokens >= edited.length - PAGE_TOKENS - 8 - 2 * PAGE_TOKENS, `cached ${r.cachedTokens}`);
    const full = fullLogits(model, edited);
    assert.ok(maxAbsDiff(e.logits, full) <= 1e-5);
    const divergence = kl(softmax(full), softmax(r.logits));
    assert.ok(divergence < 0.05, `KL ${divergence}`);
  });
});

describe('latent cache: storage formats', () => {
  it('codecs round-trip within their precision', () => {
    const width = 64;
    const row = Float32Array.from({ length: width }, (_, i) => Math.cos(i * 0.37) * (1 + (i % 5)));
    for (const format of LATENT_FORMATS) {
      const codec = rowCodec(format, width);
      const { data, scales } = codec.allocate(2);
      codec.encode(row, 0, data, 1, scales);
      const out = new Float32Array(width);
      codec.decode(data, 1, scales, out, 0);
      const groupMax = (i: number) => Math.max(...Array.from(row.subarray(Math.floor(i / QUANT_GROUP) * QUANT_GROUP, Math.floor(i / QUANT_GROUP) * QUANT_GROUP + QUANT_GROUP), Math.abs));
      for (let i = 0; i < width; i++) {
        const bound = format === 'fp32' ? 0 : format === 'fp16' ? Math.abs(row[i]) * 2 ** -11 : groupMax(i) / (format === 'int8' ? 127 : 7) / 2 + 1e-7;
        assert.ok(Math.abs(out[i] - row[i]) <= bound, `${format} element ${i}: ${out[i]} vs ${row[i]}`);
      }
    }
  });

  for (const format of ['fp16', 'int8', 'int4'] as const) {
    it(`${format}: logits stay near fp32 on the lite fixture`, () => {
      const model = loadFixtureModel('lite');
      const kase = loadExpected('lite').cases[2];
      const pc = promptCacheFor(model, { kind: 'exact' }, format);
      runPrompt(model, pc, kase.input_ids.slice(0, 64));
      const { logits, cachedTokens } = runPrompt(model, pc, kase.input_ids);
      assert.equal(cachedTokens, 64);
      const diff = maxAbsDiff(logits, fullLogits(model, kase.input_ids));
      const bound = { fp16: 1e-2, int8: 0.1, int4: 1.0 }[format];
      assert.ok(diff <= bound, `max |diff| ${diff}`);
      assert.ok(diff > 0, 'a quantised cache cannot be bit-exact');
    });
  }
});

describe('latent cache: pool invariants under random interleavings', () => {
  it('1,000+ random operations leak no page, free none twice, and keep to the budget', () => {
    let seed = 12345;
    const rand = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32);
    const pick = <T>(xs: T[]): T => xs[Math.floor(rand() * xs.length)];
    const model = loadFixtureModel('lite'); // for its rope tables
    const shape = { numLayers: 2, kvLoraRank: 8, qkRopeHeadDim: model.config.qkRopeHeadDim };
    const budgetPages = 40;
    const pageBytes = PAGE_TOKENS * shape.numLayers * bytesPerTokenLayer('int8', shape.kvLoraRank, shape.qkRopeHeadDim);
    const cache = new PromptCache(shape, model.rope, { format: 'int8', budgetBytes: budgetPages * pageBytes, policy: { kind: 'exact' } });
    const pool = cache.pool;
    assert.equal(pool.capacityPages, budgetPages);
    const bases = Array.from({ length: 4 }, () => Array.from({ length: 120 }, () => Math.floor(rand() * 6)));
    const live: { prepared: ReturnType<PromptCache['prepare']>; tokens: number[] }[] = [];
    let ops = 0, exhausted = 0;
    const check = () => {
      const held = cache.tree.checkInvariants();
      for (const l of live) for (const p of l.prepared.cache.pages) held.set(p, (held.get(p) ?? 0) + 1);
      pool.checkInvariants(held);
      assert.ok(pool.pagesInUse <= budgetPages);
    };
    for (; ops < 1500; ops++) {
      const r = rand();
      try {
        if (r < 0.3 || live.length === 0) {
          // A new request: a base sequence with a random edit (insert, delete or replace) and a random length.
          const base = pick(bases);
          const at = Math.floor(rand() * 100);
          const edit = [...base.slice(0, at), ...Array.from({ length: Math.floor(rand() * 4) }, () => 7), ...base.slice(at + Math.floor(rand() * 3))];
          const tokens = edit.slice(0, 20 + Math.floor(rand() * (edit.length - 20)));
          cache.policy = rand() < 0.5 ? { kind: 'exact' } : { kind: 'reuse', k: Math.floor(rand() * 5) };
          const prepared = cache.prepare(tokens, (c, toks) => writeLatents(c, toks.length, shape.numLayers));
          live.push({ prepared, tokens: [...tokens] });
          writeLatents(prepared.cache, prepared.pending.length, shape.numLayers);
        } else if (r < 0.6) {
          // A decode step of a running request.
          const l = pick(live);
          if (l.prepared.cache.length < l.tokens.length) continue; // its prompt never fitted
          writeLatents(l.prepared.cache, 1, shape.numLayers);
          l.tokens.push(Math.floor(rand() * 6));
        } else if (r < 0.8) {
          // A request ends (finished or cancelled: either way its pages go to the tree).
          const i = Math.floor(rand() * live.length);
          const [l] = live.splice(i, 1);
          cache.finish(l.prepared, l.tokens);
        } else if (r < 0.9) {
          cache.tree.evict(1 + Math.floor(rand() * 10));
        } else {
          // Matching alone (pin/unpin without a request).
          const m = cache.tree.matchPrefix(pick(bases));
          cache.tree.lock(m.node);
          check();
          cache.tree.unlock(m.node);
        }
      } catch (e) {
        if (!(e as Error).message.includes('latent pool full')) throw e;
        exhausted++;
      }
      check();
    }
    for (const l of live.splice(0)) cache.finish(l.prepared, l.tokens);
    cache.tree.evict(Number.MAX_SAFE_INTEGER);
    check();
    assert.equal(pool.pagesInUse, 0);
    assert.ok(exhausted > 0, 'the budget was never reached: the test did not exercise eviction under pressure');
  });
});

/** Appends `count` tokens of arbitrary latents (the pool's bookkeeping does not depend on the values). */
function writeLatents(cache: PagedLatentCache, count: number, numLayers: number): void {
  cache.reserve(count);
  const start = cache.length;
  cache.grow(count);
  const r = cache.pool.shape.kvLoraRank, dr = cache.pool.shape.qkRopeHeadDim;
  for (let i = 0; i < count; i++) for (let l = 0; l < numLayers; l++) cache.write(l, start + i, new Float32Array(r).fill(i), new Float32Array(dr).fill(l));
}
