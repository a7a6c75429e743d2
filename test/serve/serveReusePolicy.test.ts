// `latent serve --reuse-policy`: exact reuses the cached prefix only; reuse:K also the text that moved after an
// edit (reported in usage.prompt_tokens_details.cached_tokens); a malformed policy stops the server with a usage error.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { call, makeModelFolder, makeTempDir, startServe } from './serveFixture';

describe('serve: --reuse-policy', function () {
  this.timeout(180_000);
  let root: string;
  let model: string;
  before(async () => {
    root = makeTempDir('latent-reuse-policy-');
    model = await makeModelFolder(root, false);
  });
  after(() => fs.rmSync(root, { recursive: true, force: true }));

  const base = Array.from({ length: 120 }, (_, i) => 1000 + ((i * 53) % 4000));
  const edited = [...base.slice(0, 40), 7, 8, 9, ...base.slice(40)];

  async function cachedTokensOfEdit(policy: string): Promise<number> {
    const serve = await startServe(model, ['--reuse-policy', policy]);
    try {
      for (const prompt of [base, edited]) {
        const res = await call(serve, 'POST', '/v1/completions', { prompt, max_tokens: 1, temperature: 0 });
        assert.equal(res.status, 200, res.text);
        if (prompt === edited) return res.json.usage.prompt_tokens_details.cached_tokens;
      }
      throw new Error('unreachable');
    } finally {
      await serve.stop();
    }
  }

  it('exact reuses the prefix pages only; reuse:8 the moved text after its first 8 tokens too', async () => {
    assert.equal(await cachedTokensOfEdit('exact'), 32);
    // The prefix (32), the rest of the shared page (8), the moved run from 43 + 8 to the cached end (112 + 3).
    assert.equal(await cachedTokensOfEdit('reuse:8'), 32 + 8 + (112 + 3 - 51));
  });

  it('a malformed policy is a usage error naming the flag', async () => {
    await assert.rejects(startServe(model, ['--reuse-policy', 'reuse:x']), /serve: --reuse-policy: reuse policy must be "exact"/);
  });
});
