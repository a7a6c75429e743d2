// The real server over stdio, driven by a real JSON-RPC client, against a real `latent serve` with a small random
// model: inline completions (checked against the engine's own answer to the same FIM request), typing through,
// alternatives, chat streaming and cancelling, refactors, and a local engine the server starts, shares and restarts.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { CancellationTokenSource } from 'vscode-jsonrpc';
import { LSPErrorCodes, type InlineCompletionList } from 'vscode-languageserver-protocol';
import { CHAT_SYSTEM_PROMPT } from '../../server/chat';
import { wantsMultiline } from '../../server/completionShape';
import { detectIndentUnit, postProcess } from '../../server/postProcess';
import type { ChatResult, RefactorResult } from '../../server/protocol';
import { engineMissing, LATENT_BIN, makeTestModel, startServe, tempDir, type ServeProcess } from './engineFixture';
import { LspSession } from './lspSession';
import { parse } from './parsedText';

const DOC = 'export function scale(values: number[], factor: number): number[] {\n  return values.map((v) => v * factor);\n}\n\nconst doubled = scale([1, 2, 3], ';
/** Chat answers are kept short: the random model never says it is done. */
const CHAT_TOKENS = 64;
const DOC_END = { line: 4, character: 'const doubled = scale([1, 2, 3], '.length };

async function post(serve: ServeProcess, route: string, body: unknown): Promise<any> {
  const res = await fetch(serve.url + route, {
    method: 'POST', headers: { authorization: `Bearer ${serve.apiKey}`, 'content-type': 'application/json' }, body: JSON.stringify(body),
  });
  assert.equal(res.status, 200, await res.clone().text());
  return res.json();
}

/** A metric of the engine's /metrics (summed over its label sets). */
async function metric(serve: ServeProcess, name: string): Promise<number> {
  const res = await fetch(`${serve.url}/metrics`, { headers: { authorization: `Bearer ${serve.apiKey}` } });
  let sum = 0;
  for (const line of (await res.text()).split('\n')) {
    const m = /^([a-z_:]+)(\{[^}]*\})?\s+(\S+)$/.exec(line);
    if (m && m[1] === name) sum += Number(m[3]);
  }
  return sum;
}

describe('language server protocol against a real latent serve', function () {
  this.timeout(300_000);
  let root: string;
  let model: string;
  let serve: ServeProcess;
  let session: LspSession;

  before(async function () {
    const missing = await engineMissing();
    if (missing) {
      console.log(`    (skipped: ${missing})`);
      this.skip();
    }
    root = tempDir('latent-lsp-engine-');
    model = await makeTestModel(root);
    serve = await startServe(model, root);
    ({ session } = await LspSession.start({ engine: { url: serve.url, apiKey: serve.apiKey }, debounceMs: 0, chatMaxTokens: CHAT_TOKENS }));
  });
  after(async () => {
    await session?.stop();
    await serve?.stop();
    if (root) fs.rmSync(root, { recursive: true, force: true });
  });

  /** A server of its own, whose prompts hold no context from the other tests' documents. */
  async function freshSession(): Promise<LspSession> {
    return (await LspSession.start({ engine: { url: serve.url, apiKey: serve.apiKey }, debounceMs: 0 })).session;
  }

  it('completes inline with what the engine answers to the same FIM request, post-processed', async () => {
    const uri = 'file:///w/scale.ts';
    const own = await freshSession();
    after(() => own.stop());
    await own.open(uri, 'typescript', DOC);
    const result = await own.connection.sendRequest<InlineCompletionList>('textDocument/inlineCompletion', {
      textDocument: { uri }, position: DOC_END, context: { triggerKind: 2 },
    });
    // The same request straight to the engine: the whole small document fits, so prompt = prefix, suffix = ''.
    const multiline = wantsMultiline(DOC, DOC.length, await parse('typescript', DOC));
    const direct = await post(serve, '/v1/completions', {
      prompt: DOC, suffix: '', max_tokens: multiline ? 128 : 48, temperature: 0, stop: multiline ? ['\n\n\n'] : ['\n'],
    });
    const expected = postProcess(direct.choices[0].text, {
      prefix: DOC, suffix: '', multiline, indentUnit: detectIndentUnit(DOC) ?? '    ', finishReason: direct.choices[0].finish_reason,
    });
    assert.deepEqual(result.items.map((i) => i.insertText), expected ? [expected] : []);
    const status = await own.waitForStatus((s) => s.lastLatencyMs !== undefined);
    assert.equal(status.engine, 'ready');
    assert.equal(typeof status.cachedShare, 'number');
    assert.ok(status.lastPrepareMs! >= 0);
  });

  it("sends the prefix alone, no suffix, when the engine's model says infill_prompt: prefix", async () => {
    const prefixModel = await makeTestModel(root, `prefix-coder-${process.pid}`);
    const configFile = path.join(prefixModel, 'tokenizer_config.json');
    fs.writeFileSync(configFile, JSON.stringify({ ...JSON.parse(fs.readFileSync(configFile, 'utf8')), infill_prompt: 'prefix' }));
    const prefixServe = await startServe(prefixModel, root);
    after(() => prefixServe.stop());
    const models = await (await fetch(`${prefixServe.url}/v1/models`, { headers: { authorization: `Bearer ${prefixServe.apiKey}` } })).json();
    assert.equal(models.data[0].infill_prompt, 'prefix');
    const own = (await LspSession.start({ engine: { url: prefixServe.url, apiKey: prefixServe.apiKey }, debounceMs: 0 })).session;
    after(() => own.stop());

    // The cursor inside the document: a FIM prompt would carry the lines after it.
    const uri = 'file:///w/middle.ts';
    const prefix = 'export function scale(values: number[], factor: number): number[] {\n  const out = ';
    const suffix = '\n  return out;\n}\n';
    await own.open(uri, 'typescript', prefix + suffix);
    const result = await own.connection.sendRequest<InlineCompletionList>('textDocument/inlineCompletion', {
      textDocument: { uri }, position: { line: 1, character: '  const out = '.length }, context: { triggerKind: 2 },
    });
    const multiline = wantsMultiline(prefix + suffix, prefix.length, await parse('typescript', prefix + suffix));
    const options = { max_tokens: multiline ? 128 : 48, temperature: 0, stop: multiline ? ['\n\n\n'] : ['\n'] };
    const shown = (answer: any) => postProcess(answer.choices[0].text, {
      prefix, suffix, multiline, indentUnit: '  ', finishReason: answer.choices[0].finish_reason,
    });
    const plain = shown(await post(prefixServe, '/v1/completions', { prompt: prefix, ...options }));
    const fim = shown(await post(prefixServe, '/v1/completions', { prompt: prefix, suffix, ...options }));
    // Power: the two layouts must answer differently here, or this test could not tell which one was sent.
    assert.notEqual(plain, fim);
    assert.deepEqual(result.items.map((i) => i.insertText), plain ? [plain] : []);
  });

  it('answers from its cache while the user types through a shown suggestion', async () => {
    const uri = 'file:///w/typing.ts';
    await session.open(uri, 'typescript', DOC);
    const first = await session.connection.sendRequest<InlineCompletionList>('textDocument/inlineCompletion', {
      textDocument: { uri }, position: DOC_END, context: { triggerKind: 1 },
    });
    const shown = first.items.map((i) => i.insertText as string).find((t) => t.length >= 2);
    if (!shown) return; // the random model offered nothing long enough to type through
    await session.connection.sendNotification('textDocument/didChange', {
      textDocument: { uri, version: 2 }, contentChanges: [{ range: { start: DOC_END, end: DOC_END }, text: shown[0] }],
    });
    const latencies = session.statuses.length;
    const next = await session.connection.sendRequest<InlineCompletionList>('textDocument/inlineCompletion', {
      textDocument: { uri }, position: { line: DOC_END.line, character: DOC_END.character + 1 }, context: { triggerKind: 2 },
    });
    assert.ok(next.items.some((i) => i.insertText === shown.slice(1)));
    assert.equal(session.statuses.length, latencies, 'a cache hit should not have reached the engine');
  });

  it('offers up to three distinct alternatives when invoked', async () => {
    const uri = 'file:///w/invoked.ts';
    await session.open(uri, 'typescript', DOC);
    const result = await session.connection.sendRequest<InlineCompletionList>('textDocument/inlineCompletion', {
      textDocument: { uri }, position: DOC_END, context: { triggerKind: 1 },
    });
    assert.ok(result.items.length <= 3);
    assert.equal(new Set(result.items.map((i) => i.insertText)).size, result.items.length);
  });

  it('continues the item selected in the suggest widget', async () => {
    const uri = 'file:///w/selected.ts';
    const text = 'const values = [1, 2, 3];\nconst n = values.len';
    const own = await freshSession();
    after(() => own.stop());
    await own.open(uri, 'typescript', text);
    const range = { start: { line: 1, character: 17 }, end: { line: 1, character: 20 } };
    const result = await own.connection.sendRequest<InlineCompletionList>('textDocument/inlineCompletion', {
      textDocument: { uri }, position: range.end, context: { triggerKind: 1, selectedCompletionInfo: { range, text: 'length' } },
    });
    // Against the engine directly: the prompt is the document with the item accepted.
    const direct = await post(serve, '/v1/completions', { prompt: 'const values = [1, 2, 3];\nconst n = values.length', suffix: '', max_tokens: 48, temperature: 0, stop: ['\n'] });
    const expected = postProcess(direct.choices[0].text, { prefix: 'const values = [1, 2, 3];\nconst n = values.length', suffix: '', multiline: false, indentUnit: '    ' });
    if (expected) assert.equal(result.items[0].insertText, `length${expected}`);
    for (const item of result.items) {
      assert.ok((item.insertText as string).startsWith('length'));
      assert.deepEqual(item.range, range);
    }
  });

  it('aborts the engine request of an inline completion at $/cancelRequest', async () => {
    const uri = 'file:///w/cancel-inline.ts';
    await session.open(uri, 'typescript', 'function body() {\n  \n}\n');
    const cancelledBefore = await metric(serve, 'latent_requests_cancelled_total');
    const source = new CancellationTokenSource();
    const pending = session.connection.sendRequest('textDocument/inlineCompletion', {
      textDocument: { uri }, position: { line: 1, character: 2 }, context: { triggerKind: 2 },
    }, source.token);
    // Cancel once the engine is generating for it.
    while ((await metric(serve, 'latent_running_sequences')) === 0) await new Promise((r) => setTimeout(r, 10));
    source.cancel();
    await assert.rejects(pending, (e: { code?: number }) => e.code === LSPErrorCodes.RequestCancelled);
    while ((await metric(serve, 'latent_requests_cancelled_total')) === cancelledBefore) await new Promise((r) => setTimeout(r, 20));
  });

  it('streams a chat answer as latent/chatDelta and returns the same text as the engine', async () => {
    const question = 'What does scale do?';
    const result = await session.connection.sendRequest<ChatResult>('latent/chat', { chatId: 'chat-1', messages: [{ role: 'user', content: question }] });
    const streamed = session.deltas.filter((d) => d.chatId === 'chat-1').map((d) => d.delta).join('');
    assert.equal(streamed, result.text);
    assert.ok(['stop', 'length'].includes(result.finishReason));
    const direct = await post(serve, '/v1/chat/completions', {
      messages: [{ role: 'system', content: CHAT_SYSTEM_PROMPT }, { role: 'user', content: question }], max_tokens: CHAT_TOKENS, temperature: 0,
    });
    assert.equal(result.text, direct.choices[0].message.content);
  });

  it('stops a chat at $/cancelRequest and returns what had come', async () => {
    const cancelledBefore = await metric(serve, 'latent_requests_cancelled_total');
    const source = new CancellationTokenSource();
    const pending = session.connection.sendRequest<ChatResult>('latent/chat', {
      chatId: 'chat-cancel', messages: [{ role: 'user', content: 'Write a long story.' }],
    }, source.token);
    while (!session.deltas.some((d) => d.chatId === 'chat-cancel')) await new Promise((r) => setTimeout(r, 5));
    source.cancel();
    const result = await pending;
    assert.equal(result.finishReason, 'cancelled');
    const streamed = session.deltas.filter((d) => d.chatId === 'chat-cancel').map((d) => d.delta).join('');
    assert.ok(streamed.startsWith(result.text));
    // The engine stopped generating for it (it counts generations whose client went away).
    while ((await metric(serve, 'latent_requests_cancelled_total')) === cancelledBefore) await new Promise((r) => setTimeout(r, 20));
  });

  it('proposes new text for a refactor, streamed under its chatId', async () => {
    const uri = 'file:///w/refactor.ts';
    await session.open(uri, 'typescript', DOC);
    const range = { start: { line: 0, character: 0 }, end: { line: 2, character: 1 } };
    const result = await session.connection.sendRequest<RefactorResult>('latent/refactor', { chatId: 'ref-1', kind: 'document', uri, range });
    assert.equal(result.kind, 'document');
    assert.deepEqual(result.range, range);
    assert.equal(typeof result.newText, 'string');
    assert.ok(session.deltas.some((d) => d.chatId === 'ref-1'));
    const tests = await session.connection.sendRequest<RefactorResult>('latent/refactor', { chatId: 'ref-2', kind: 'tests', uri, range });
    assert.equal(tests.targetUri, 'file:///w/refactor.test.ts');
  });

  it('starts a local engine for a model folder, shares it with a second window, and restarts it when it dies', async () => {
    const cache = tempDir('latent-lsp-cache-');
    const env = { XDG_CACHE_HOME: cache, LATENT_BIN, LATENT_ENGINE_PORT: '0' };
    const settings = { engine: { model }, debounceMs: 0 };
    const { session: owner } = await LspSession.start(settings, { env });
    let second: LspSession | undefined;
    try {
      await owner.waitForStatus((s) => s.engine === 'ready', 120_000);
      assert.ok(owner.statuses.some((s) => s.engine === 'starting'));
      const recordDir = path.join(cache, 'latent-coder', 'engines');
      const record = JSON.parse(fs.readFileSync(path.join(recordDir, fs.readdirSync(recordDir).find((f) => f.endsWith('.json'))!), 'utf8'));
      assert.equal(fs.statSync(path.join(cache, 'latent-coder', 'api-key')).mode & 0o077, 0);

      ({ session: second } = await LspSession.start(settings, { env }));
      const attached = await second.waitForStatus((s) => s.engine === 'ready', 60_000);
      assert.match(attached.message!, new RegExp(`attached to the engine on port ${record.port}`));

      const uri = pathToFileURL(path.join(root, 'local.ts')).toString();
      await second.open(uri, 'typescript', DOC);
      await second.connection.sendRequest('textDocument/inlineCompletion', { textDocument: { uri }, position: DOC_END, context: { triggerKind: 1 } });
      assert.ok(!second.statuses.some((s) => s.engine === 'error'), JSON.stringify(second.statuses));

      // The engine dies while it streams a chat answer: the pending request fails with a clear error.
      owner.statuses.length = 0;
      const chat = owner.connection.sendRequest('latent/chat', { chatId: 'dying', messages: [{ role: 'user', content: 'Tell a long story.' }] });
      const failure = assert.rejects(chat, (e: { message?: string }) => /chat failed: .*(latent serve exited|unreachable)/.test(e.message ?? ''));
      while (!owner.deltas.some((d) => d.chatId === 'dying')) await new Promise((r) => setTimeout(r, 10));
      process.kill(record.pid, 'SIGKILL');
      await failure;
      await owner.waitForStatus((s) => s.engine === 'restarting', 30_000);
      await owner.waitForStatus((s) => s.engine === 'ready', 120_000);
    } finally {
      await second?.stop();
      await owner.stop();
      const recordDir = path.join(cache, 'latent-coder', 'engines');
      for (const f of fs.existsSync(recordDir) ? fs.readdirSync(recordDir).filter((n) => n.endsWith('.json')) : []) {
        try { process.kill(JSON.parse(fs.readFileSync(path.join(recordDir, f), 'utf8')).pid, 'SIGTERM'); } catch { /* gone */ }
      }
      fs.rmSync(cache, { recursive: true, force: true });
    }
  });
});
