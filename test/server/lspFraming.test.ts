// A broken message stream makes the language server exit (the extension's client then restarts it) instead of
// living on deaf; malformed params are the client's fault (-32602), never the server's (-32603).
import * as assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { StreamMessageReader } from 'vscode-jsonrpc/node';
import { SERVER_MAIN } from './lspSession';

interface Reply { id: number; result?: unknown; error?: { code: number; message: string } }

/** The server over stdio with bytes written as they are (framing included), and its replies read by id. */
class RawLsp {
  readonly replies: Reply[] = [];
  readonly child: ChildProcess;
  readonly exited: Promise<number | null>;

  constructor() {
    this.child = spawn(process.execPath, [SERVER_MAIN, '--stdio'], { stdio: ['pipe', 'pipe', 'pipe'] });
    this.exited = new Promise((r) => this.child.once('exit', (code) => r(code)));
    new StreamMessageReader(this.child.stdout!).listen((m) => {
      if ('id' in m && ('result' in m || 'error' in m)) this.replies.push(m as Reply);
    });
  }

  frame(message: unknown): void {
    const body = Buffer.from(JSON.stringify(message), 'utf8');
    this.child.stdin!.write(`Content-Length: ${body.length}\r\n\r\n`);
    this.child.stdin!.write(body);
  }

  raw(bytes: string): void {
    this.child.stdin!.write(bytes);
  }

  async reply(id: number, ms = 10_000): Promise<Reply> {
    const deadline = Date.now() + ms;
    for (;;) {
      const found = this.replies.find((r) => r.id === id);
      if (found) return found;
      if (Date.now() > deadline) throw new Error(`no reply to request ${id} within ${ms} ms`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  async initialize(): Promise<void> {
    this.frame({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { processId: null, rootUri: null, capabilities: {} } });
    await this.reply(1, 30_000);
    this.frame({ jsonrpc: '2.0', method: 'initialized', params: {} });
  }

  /** Exit code within `ms`, or 'alive'. */
  exitWithin(ms: number): Promise<number | null | 'alive'> {
    return Promise.race([this.exited, new Promise<'alive'>((r) => setTimeout(() => r('alive'), ms))]);
  }

  kill(): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
  }
}

describe('language server: broken framing and malformed params', function () {
  this.timeout(60_000);
  const servers: RawLsp[] = [];
  function server(): RawLsp {
    const s = new RawLsp();
    servers.push(s);
    return s;
  }
  after(() => servers.forEach((s) => s.kill()));

  it('exits with an error after a frame without a Content-Length header', async () => {
    const lsp = server();
    await lsp.initialize();
    lsp.raw('Content-Type: application/vscode-jsonrpc\r\n\r\n{"jsonrpc":"2.0","id":2,"method":"shutdown"}');
    const code = await lsp.exitWithin(10_000);
    assert.notEqual(code, 'alive', 'the server lives on after a frame it cannot read');
    assert.notEqual(code, 0);
  });

  it('exits with an error when a Content-Length longer than its body swallows the next frame', async () => {
    const lsp = server();
    await lsp.initialize();
    const body = JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'shutdown' });
    lsp.raw(`Content-Length: ${body.length + 40}\r\n\r\n${body}`);
    lsp.frame({ jsonrpc: '2.0', id: 3, method: 'shutdown' });
    const code = await lsp.exitWithin(10_000);
    assert.notEqual(code, 'alive', 'the server lives on after a frame it cannot read');
    assert.notEqual(code, 0);
  });

  it('answers params: null and mistyped params with -32602, and keeps serving', async () => {
    const lsp = server();
    await lsp.initialize();
    lsp.frame({ jsonrpc: '2.0', id: 10, method: 'textDocument/inlineCompletion', params: null });
    lsp.frame({ jsonrpc: '2.0', id: 11, method: 'textDocument/codeAction',
      params: { textDocument: { uri: 'file:///w/a.ts' }, range: 'garbage', context: { diagnostics: [] } } });
    lsp.frame({ jsonrpc: '2.0', id: 12, method: 'textDocument/codeAction',
      params: { textDocument: { uri: 'file:///w/a.ts' }, range: { start: { line: 'x' }, end: 7 }, context: {} } });
    lsp.frame({ jsonrpc: '2.0', id: 13, method: 'latent/chat', params: null });
    for (const id of [10, 11, 12, 13]) {
      const reply = await lsp.reply(id);
      assert.equal(reply.error?.code, -32602, `request ${id}: ${JSON.stringify(reply)}`);
    }
    lsp.frame({ jsonrpc: '2.0', id: 20, method: 'shutdown' });
    assert.equal((await lsp.reply(20)).error, undefined);
  });
});
