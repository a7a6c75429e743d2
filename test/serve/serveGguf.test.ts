// `latent serve --model FILE.gguf`: a model folder exported with `latent export-gguf` serves the same completions
// as `latent generate` gives on the folder, tokenizes as the folder's tokenizer does (in the tokenizer workers too),
// and renders chats with the chat template carried in the file's metadata.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ModelTokenizer } from '../../engine/tokenizer/modelTokenizer';
import { call, latent, latentGenerate, makeModelFolder, makeTempDir, type ServeProcess, startServe } from './serveFixture';

describe('latent serve on a GGUF file', function () {
  this.timeout(180_000);
  let root: string;
  let folder: string;
  let file: string;
  let serve: ServeProcess;

  before(async () => {
    root = makeTempDir('latent-serve-gguf-');
    folder = await makeModelFolder(root, true);
    file = path.join(root, 'model.gguf');
    await latent(['export-gguf', '--model', folder, '--out', file, '--type', 'f32']);
    serve = await startServe(file);
  });

  after(async () => {
    await serve?.stop();
    fs.rmSync(root, { recursive: true, force: true });
  });

  it('completes as `latent generate` does on the model folder', async () => {
    const prompt = 'def fibonacci(n):\n';
    const want = await latentGenerate(folder, { text: prompt }, 12);
    const r = await call(serve, 'POST', '/v1/completions', { prompt, max_tokens: 12, temperature: 0 });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.choices[0].text, want.text);
    assert.equal(r.json.model, 'model.gguf');
  });

  it("tokenizes as the folder's tokenizer and renders the chat template from the file", async () => {
    const code = 'function add(a, b) {\n  return a + b; // <｜fim▁hole｜>\n}\n';
    const tok = await call(serve, 'POST', '/tokenize', { prompt: code, add_special_tokens: false });
    assert.equal(tok.status, 200, tok.text);
    assert.deepEqual(tok.json.tokens, ModelTokenizer.load(folder).encode(code));
    const chat = await call(serve, 'POST', '/v1/chat/completions', { messages: [{ role: 'user', content: 'hi' }], max_tokens: 3 });
    assert.equal(chat.status, 200, chat.text);
    assert.equal(chat.json.choices[0].message.role, 'assistant');
  });
});
