// The bundled server (dist/server.js, what the .vsix ships) run from a folder with only the files the .vsix
// carries, so nothing resolves through the repository's node_modules: it must start, answer LSP, and load its
// tree-sitter grammars (they are found at run time, which bundling can break without a compile error).
import * as assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createMessageConnection, StreamMessageReader, StreamMessageWriter, type MessageConnection } from 'vscode-jsonrpc/node';

const DIST = path.resolve(__dirname, '..', '..', '..', 'dist');

describe('bundled server (dist/server.js)', function () {
  this.timeout(30_000);
  let dir: string;
  let child: ChildProcess | undefined;
  let connection: MessageConnection | undefined;

  before(function () {
    if (!fs.existsSync(path.join(DIST, 'server.js'))) this.skip(); // npm run bundle (part of npm run build) makes it
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'latent-bundle-'));
    fs.cpSync(path.join(DIST, 'server.js'), path.join(dir, 'server.js'));
    fs.cpSync(path.join(DIST, 'tree-sitter.wasm'), path.join(dir, 'tree-sitter.wasm'));
    fs.cpSync(path.join(DIST, 'node_modules'), path.join(dir, 'node_modules'), {
      recursive: true,
      filter: (src) => fs.statSync(src).isDirectory() || /\.(wasm|json)$/.test(src),
    });
  });

  after(() => {
    connection?.dispose();
    child?.kill();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('starts, answers initialize and parses TypeScript, Python and C', async () => {
    child = spawn(process.execPath, [path.join(dir, 'server.js'), '--stdio'], { cwd: dir, stdio: ['pipe', 'pipe', 'pipe'] });
    connection = createMessageConnection(new StreamMessageReader(child.stdout!), new StreamMessageWriter(child.stdin!));
    const logs: string[] = [];
    connection.onNotification('window/logMessage', (p: { message: string }) => {
      logs.push(p.message);
    });
    connection.listen();
    const result = await connection.sendRequest<{ capabilities: Record<string, unknown> }>('initialize', {
      processId: process.pid,
      rootUri: null,
      capabilities: {},
      // An engine that is not there: this test is about the bundle, not about completions.
      initializationOptions: { engine: { url: 'http://127.0.0.1:9' } },
    });
    assert.ok(result.capabilities.inlineCompletionProvider, 'the server offers inline completion');
    await connection.sendNotification('initialized', {});
    const documents = [
      ['a.ts', 'typescript', 'export function f(): number {\n  return 1;\n}\n'],
      ['b.py', 'python', 'def f():\n    return 1\n'],
      ['c.c', 'c', 'int f(void) { return 1; }\n'],
    ];
    for (const [name, languageId, text] of documents) {
      await connection.sendNotification('textDocument/didOpen', {
        textDocument: { uri: `file://${dir}/${name}`, languageId, version: 1, text },
      });
    }
    // Grammars load asynchronously on first use and report a failure through the log.
    await new Promise((r) => setTimeout(r, 3000));
    assert.deepEqual(logs.filter((l) => /grammar|uncaught|unhandled/i.test(l)), []);
    assert.equal(child.exitCode, null, 'the server is still running');
  });
});
