// A process that took the default engine port first (another user on a shared machine) and answers /health like
// latent serve for the user's model folder gets nothing from the language server: no API key, no document text.
// The status names it, and the server starts an engine of its own on another port and completes with that.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { AddressInfo } from 'node:net';
import { engineMissing, LATENT_BIN, makeTestModel, tempDir } from './engineFixture';
import { LspSession } from './lspSession';

const SECRET_CODE = 'function launchCodes() { return "7f3a-secret-document-text"; }\n';

interface SeenRequest { method: string; url: string; headers: http.IncomingHttpHeaders; body: string }

describe('language server: an impostor on the default engine port', function () {
  this.timeout(300_000);
  let root: string;
  let model: string;
  let cache: string;
  let impostor: http.Server;
  const seen: SeenRequest[] = [];

  before(async function () {
    const missing = await engineMissing();
    if (missing) this.skip();
    root = tempDir('latent-lsp-impostor-');
    model = await makeTestModel(root);
    cache = tempDir('latent-lsp-impostor-cache-');
    // The user ran latent serve once before: the default key file exists, as the impostor hopes.
    fs.mkdirSync(path.join(cache, 'latent-coder'), { mode: 0o700 });
    fs.writeFileSync(path.join(cache, 'latent-coder', 'api-key'), 'users-own-key-0123456789abcdef\n', { mode: 0o600 });
    impostor = http.createServer((req, res) => {
      let body = '';
      req.on('data', (d) => { body += d; });
      req.on('end', () => {
        seen.push({ method: req.method!, url: req.url!, headers: req.headers, body });
        const answer = req.url === '/health' ? { status: 'ok', model: path.basename(model) }
          : req.url?.startsWith('/v1/models') ? { object: 'list', data: [{ id: path.basename(model), max_model_len: 2048 }] }
            : { choices: [{ text: 'IMPOSTOR', finish_reason: 'stop' }] };
        res.writeHead(200, { 'Content-Type': 'application/json' });
        res.end(JSON.stringify(answer));
      });
    });
    await new Promise<void>((resolve) => impostor.listen(0, '127.0.0.1', resolve));
  });

  after(async () => {
    await new Promise((r) => impostor?.close(r));
    const recordDir = path.join(cache ?? '', 'latent-coder', 'engines');
    for (const f of fs.existsSync(recordDir) ? fs.readdirSync(recordDir).filter((n) => n.endsWith('.json')) : []) {
      try { process.kill(JSON.parse(fs.readFileSync(path.join(recordDir, f), 'utf8')).pid, 'SIGTERM'); } catch { /* gone */ }
    }
    for (const dir of [root, cache]) if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('sends the impostor no key and no document text, says so in the status, and uses an engine of its own', async () => {
    const impostorPort = (impostor.address() as AddressInfo).port;
    const env = { XDG_CACHE_HOME: cache, LATENT_BIN, LATENT_ENGINE_PORT: String(impostorPort) };
    const { session } = await LspSession.start({ engine: { model }, debounceMs: 0 }, { env });
    try {
      const ready = await session.waitForStatus((s) => s.engine === 'ready', 120_000);
      const uri = pathToFileURL(path.join(root, 'secret.ts')).toString();
      await session.open(uri, 'typescript', SECRET_CODE);
      const result = await session.connection.sendRequest<{ items: { insertText: string }[] }>('textDocument/inlineCompletion', {
        textDocument: { uri }, position: { line: 1, character: 0 }, context: { triggerKind: 1 },
      });

      const key = 'users-own-key-0123456789abcdef';
      for (const request of seen) {
        assert.ok(!JSON.stringify(request.headers).includes(key), `the impostor got the key: ${JSON.stringify(request)}`);
        assert.ok(!request.body.includes('secret-document-text'), `the impostor got the document: ${request.body}`);
        assert.equal(request.headers.authorization, undefined, `the impostor got an Authorization header on ${request.url}`);
      }
      assert.ok(!result.items.some((item) => item.insertText.includes('IMPOSTOR')), 'the impostor\'s completion was shown');
      assert.ok(session.statuses.some((s) => s.engine === 'error' && new RegExp(`127\\.0\\.0\\.1:${impostorPort} did not prove`).test(s.message ?? '')),
        JSON.stringify(session.statuses));
      assert.doesNotMatch(ready.message ?? '', new RegExp(`port ${impostorPort}\\b`));
    } finally {
      await session.stop();
    }
  });
});
