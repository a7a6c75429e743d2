// The real language server over stdio against a real `latent serve`, where the engine's limits matter: inline
// prompts fitted to their budget by the engine's own token count, the first chat of a session fitted to the
// engine's real context, and an engine that fails mid-answer failing the chat and the refactor with its message.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { ChatResult } from '../../server/protocol';
import { engineMissing, makeTestModel, startServe, tempDir, type ServeProcess } from './engineFixture';
import { LspSession } from './lspSession';

const STATEMENT = '  total += values[index] * 3;';

describe('language server at the limits of a real latent serve', function () {
  this.timeout(300_000);
  let root: string;
  let serve: ServeProcess;
  let model: string;
  const sessions: LspSession[] = [];

  before(async function () {
    const missing = await engineMissing();
    if (missing) this.skip();
    root = tempDir('latent-lsp-limits-');
    model = await makeTestModel(root);
    serve = await startServe(model, root);
  });
  after(async () => {
    for (const s of sessions) await s.stop();
    await serve?.stop();
    if (root) fs.rmSync(root, { recursive: true, force: true });
  });

  async function session(engine: ServeProcess, extra: Record<string, unknown> = {}): Promise<LspSession> {
    const { session: s } = await LspSession.start({ engine: { url: engine.url, apiKey: engine.apiKey }, debounceMs: 0, ...extra });
    sessions.push(s);
    return s;
  }

  async function tokenize(text: string): Promise<number> {
    const res = await fetch(`${serve.url}/tokenize`, {
      method: 'POST', headers: { authorization: `Bearer ${serve.apiKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ prompt: text, add_special_tokens: false }),
    });
    return ((await res.json()) as { count: number }).count;
  }

  it('sends an inline prompt at its token budget by the engine\'s count, never over it', async () => {
    const budget = 300;
    const lsp = await session(serve, { maxPromptTokens: budget, maxTokens: 1 });
    const lines = ['export function accumulate(values: number[], index: number): number {', '  let total = 0;'];
    for (let i = 0; i < 400; i++) lines.push(STATEMENT);
    lines.push('  return total;', '}', '');
    const uri = 'file:///w/accumulate.ts';
    await lsp.open(uri, 'typescript', lines.join('\n'));
    const line = 200;
    for (const character of [STATEMENT.length, '  total += '.length]) {
      lsp.statuses.length = 0;
      await lsp.connection.sendRequest('textDocument/inlineCompletion', {
        textDocument: { uri }, position: { line, character }, context: { triggerKind: 2 },
      });
      const status = await lsp.waitForStatus((s) => s.lastPromptTokens !== undefined);
      // Every line in reach is the same statement: the window stops short of the budget by less than one line.
      const lineTokens = (await tokenize(STATEMENT)) + 1;
      assert.ok(status.lastPromptTokens! <= budget, `${status.lastPromptTokens} tokens > ${budget}`);
      assert.ok(status.lastPromptTokens! > budget - lineTokens - 1, `${status.lastPromptTokens} tokens leave more than a line of ${budget} unused`);
    }
    assert.ok(lsp.logs.some((l) => /token counts: exact/.test(l)), lsp.logs.join('\n'));
  });

  for (const named of [false, true]) {
    it(`fits the first chat of a session to the engine's real context${named ? ' (model named in the settings)' : ''}`, async () => {
      // No request has told this server the context yet; 1024 answer tokens (the default) would not fit beside this.
      const { session: lsp } = await LspSession.start({
        engine: { url: serve.url, apiKey: serve.apiKey, ...(named ? { model: path.basename(model) } : {}) }, debounceMs: 0,
      });
      sessions.push(lsp);
      const question = Array.from({ length: 110 }, (_, i) => `let value${i} = compute(${i}, "${'ab'.repeat(i % 5)}");`).join('\n');
      assert.ok((await tokenize(question)) > 2048 - 1024);
      const result = await lsp.connection.sendRequest<ChatResult>('latent/chat', { chatId: 'long', messages: [{ role: 'user', content: question }] });
      assert.ok(['stop', 'length'].includes(result.finishReason));
    });
  }

  describe('when the engine fails mid-answer', () => {
    let small: ServeProcess;

    before(async () => {
      // Latents of 128 + 8 numbers per token per layer: a 1 MiB pool holds fewer tokens than the context, so a long
      // answer runs out of pages after it has started streaming.
      const wide = await makeTestModel(root, 'wide-latent', { kv_lora_rank: 128 });
      small = await startServe(wide, root, ['--cache-budget-mib', '1']);
    });
    after(() => small?.stop());

    // The pool holds 40 pages (640 tokens): each request below fits it alone (so none is refused up front),
    // two together do not, so one of them runs out of pages after its answer has started streaming.
    const MAX_TOKENS = 500;

    it('fails the chat request with the engine\'s message instead of answering empty', async () => {
      const lsps = [await session(small, { chatMaxTokens: MAX_TOKENS }), await session(small, { chatMaxTokens: MAX_TOKENS })];
      const results = await Promise.allSettled(lsps.map((lsp, i) =>
        lsp.connection.sendRequest<ChatResult>('latent/chat', { chatId: `pool${i}`, messages: [{ role: 'user', content: 'Tell a long story.' }] })));
      const failed = results.flatMap((r, i) => (r.status === 'rejected' ? [{ i, message: String((r.reason as Error).message) }] : []));
      assert.ok(failed.length >= 1, `both answers completed: ${JSON.stringify(results.map((r) => r.status === 'fulfilled' && r.value.finishReason))}`);
      for (const f of failed) {
        assert.match(f.message, /chat failed: .*latent pool full/);
        assert.ok(lsps[f.i].deltas.some((d) => d.chatId === `pool${f.i}`), 'the failed answer had started streaming');
      }
    });

    it('fails the refactor request with the engine\'s message', async () => {
      const lsps = [await session(small, { chatMaxTokens: MAX_TOKENS }), await session(small, { chatMaxTokens: MAX_TOKENS })];
      const uri = 'file:///w/explain.ts';
      for (const lsp of lsps) await lsp.open(uri, 'typescript', 'export const answer = 42;\n');
      const results = await Promise.allSettled(lsps.map((lsp, i) => lsp.connection.sendRequest('latent/refactor', {
        chatId: `pool-refactor${i}`, kind: 'explain', uri, range: { start: { line: 0, character: 0 }, end: { line: 0, character: 25 } },
      })));
      const failed = results.filter((r) => r.status === 'rejected');
      assert.ok(failed.length >= 1, 'both refactors completed');
      for (const f of failed) assert.match(String((f as PromiseRejectedResult).reason?.message), /latent pool full/);
    });
  });
});
