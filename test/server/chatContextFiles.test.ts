// Files named with @file in a chat are read only when they are regular files, without blocking: a FIFO (which
// an open() would wait on for ever), a directory or a device is refused with -32602, and the server goes on
// answering. A regular file is read up to its cap.
import * as assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { tempDir } from './engineFixture';
import { LspSession } from './lspSession';

/** A chat request's outcome within `ms`: its error, or 'no answer' when the server did not reply in time. */
async function chatOutcome(session: LspSession, files: string[], ms = 10_000): Promise<{ code?: number; message: string }> {
  const request = session.connection.sendRequest('latent/chat', {
    chatId: `ctx-${Math.random()}`, messages: [{ role: 'user', content: 'Explain this file.' }],
    context: { files: files.map((f) => ({ uri: pathToFileURL(f).toString() })) },
  }).then(() => ({ message: 'answered' }), (e: { code?: number; message: string }) => ({ code: e.code, message: e.message }));
  return Promise.race([request, new Promise<{ message: string }>((r) => setTimeout(() => r({ message: 'no answer' }), ms))]);
}

describe('language server: @file context that is not a regular file', function () {
  this.timeout(60_000);
  let dir: string;
  let session: LspSession;

  before(async function () {
    if (process.platform === 'win32') this.skip();
    dir = tempDir('latent-lsp-context-');
    execFileSync('mkfifo', [path.join(dir, 'pipe')]);
    // An engine that is never there: the context is read before any engine is asked.
    ({ session } = await LspSession.start({ engine: { url: 'http://127.0.0.1:9/v1' }, debounceMs: 0 }));
  });

  after(async () => {
    await session?.stop();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  for (const [what, file] of [['a FIFO', 'pipe'], ['a directory', '.'], ['a character device', '/dev/zero']] as const) {
    it(`refuses ${what} with -32602 naming it, and keeps answering`, async () => {
      const target = file.startsWith('/') ? file : path.join(dir, file);
      const outcome = await chatOutcome(session, [target]);
      assert.equal(outcome.code, -32602, outcome.message);
      assert.match(outcome.message, /is not a regular file/);
      const actions = await session.connection.sendRequest('textDocument/codeAction', {
        textDocument: { uri: 'file:///w/a.ts' }, range: { start: { line: 0, character: 0 }, end: { line: 0, character: 0 } },
        context: { diagnostics: [] },
      });
      assert.deepEqual(actions, []);
    });
  }

  it('reads a regular file named beside them (then fails at the absent engine, not at the file)', async () => {
    const file = path.join(dir, 'real.ts');
    fs.writeFileSync(file, 'export const x = 1;\n');
    const outcome = await chatOutcome(session, [file]);
    assert.notEqual(outcome.message, 'no answer');
    assert.doesNotMatch(outcome.message, /regular file|cannot read/);
  });
});
