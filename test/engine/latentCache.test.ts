// The latent cache: exact prefix reuse and quantised storage. (Re-positioning of k_pe, edit-aware reuse and the
// pool/tree invariants under random interleavings have files of their own: latentCache*.test.ts.)
import * as assert from 'node:assert/strict';
import { LATENT_FORMATS, QUANT_GROUP, rowCodec } from '../../engine/cache/latentFormat';
import { PAGE_TOKENS } from '../../engine/cache/latentPool';
import { FIXTURE_NAMES, loadExpected, loadFixtureModel, maxAbsDiff } from './fixtureModel';
import { fullLogits, promptCacheFor, runPrompt } from './promptCacheHarness';

describe('latent cache: prefix reuse', () => {
  for (const name of FIXTURE_NAMES) {
    it(`${name}: logits with a reused prefix equal a full recompute within 1e-6`, async () => {
      const model = loadFixtureModel(name);
      const kase = loadExpected(name).cases.reduce((a, b) => (b.seq_len > a.seq_len ? b : a));
      const pc = promptCacheFor(model, { kind: 'exact' });
      const first = kase.input_ids.slice(0, Math.floor(kase.seq_len * 0.75));
      await runPrompt(model, pc, first);
      const { logits, cachedTokens } = await runPrompt(model, pc, kase.input_ids);
      assert.equal(cachedTokens, Math.floor(first.length / PAGE_TOKENS) * PAGE_TOKENS);
      assert.ok(cachedTokens > 0);
      const diff = maxAbsDiff(logits, await fullLogits(model, kase.input_ids));
      assert.ok(diff <= 1e-6, `max |diff| ${diff}`);
    });
  }
});

describe('latent cache: storage formats', () => {
  it('codecs round-trip within their precision', async () => {
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
    it(`${format}: logits stay near fp32 on the lite fixture`, async () => {
      const model = loadFixtureModel('lite');
      const kase = loadExpected('lite').cases[2];
      const pc = promptCacheFor(model, { kind: 'exact' }, format);
      await runPrompt(model, pc, kase.input_ids.slice(0, 64));
      const { logits, cachedTokens } = await runPrompt(model, pc, kase.input_ids);
      assert.equal(cachedTokens, 64);
      const diff = maxAbsDiff(logits, await fullLogits(model, kase.input_ids));
      const bound = { fp16: 1e-2, int8: 0.1, int4: 1.0 }[format];
      assert.ok(diff <= bound, `max |diff| ${diff}`);
      assert.ok(diff > 0, 'a quantised cache cannot be bit-exact');
    });
  }
});
