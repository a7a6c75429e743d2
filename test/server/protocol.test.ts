// The real server over stdio with a real JSON-RPC client: the protocol, bad input and an engine that is down.
// (Completions, chat and refactors against a real `latent serve` are in protocolWithEngine.test.ts.) Last, the
// same server over node IPC, the transport the extension uses.
import * as assert from 'node:assert/strict';
import { fork } from 'node:child_process';
import * as net from 'node:net';
import { ErrorCodes, ResponseError } from 'vscode-jsonrpc';
import { createMessageConnection, IPCMessageReader, IPCMessageWriter } from 'vscode-jsonrpc/node';
import { LSPErrorCodes, type CodeAction, type InitializeResult, type InlineCompletionList } from 'vscode-languageserver-protocol';
import { LspSession, SERVER_MAIN } from './lspSession';

const TS = 'export function add(a: number, b: number): number {\n  return a + b;\n}\n\nconst total = add(1, 2);\n';

/** A loopback port nothing listens on: an engine that is down. */
async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  await new Promise((r) => server.close(r));
  return port;
}

async function rejection(promise: Promise<unknown>): Promise<ResponseError<unknown>> {
  try {
    await promise;
  } catch (e) {
    assert.ok(e instanceof ResponseError, `expected a ResponseError, got ${String(e)}`);
    return e;
  }
  assert.fail('the request succeeded');
}

describe('language server protocol (engine down)', () => {
  let session: LspSession;
  let init: Awaited<ReturnType<typeof LspSession.start>>['init'];
  let downUrl: string;

  before(async () => {
    downUrl = `http://127.0.0.1:${await closedPort()}`;
    ({ session, init } = await LspSession.start({ engine: { url: downUrl, model: 'm' }, debounceMs: 0 }));
  });
  after(async () => { await session.stop(); });
  afterEach(() => { assert.ok(session.alive, `the server died: ${session.stderr.join('')}`); });

  const complete = (uri: string, line: number, character: number, triggerKind = 2) =>
    session.connection.sendRequest<InlineCompletionList>('textDocument/inlineCompletion', {
      textDocument: { uri }, position: { line, character }, context: { triggerKind },
    });

  it('announces incremental sync, inline completion and code actions', () => {
    assert.equal((init.capabilities.textDocumentSync as { change: number }).change, 2);
    assert.equal(init.capabilities.inlineCompletionProvider, true);
    assert.ok(init.capabilities.codeActionProvider);
    assert.equal(init.serverInfo?.name, 'latent-coder');
  });

  it('answers an inline completion with no items when the engine is down, and says why in the status', async () => {
    await session.open('file:///w/down.ts', 'typescript', TS);
    const result = await complete('file:///w/down.ts', 4, 24);
    assert.deepEqual(result.items, []);
    const status = await session.waitForStatus((s) => s.engine === 'error');
    assert.match(status.message!, /unreachable/);
    assert.ok(status.message!.includes(downUrl));
  });

  it('refuses a completion in a document that is not open, naming it', async () => {
    const error = await rejection(complete('file:///w/never-opened.ts', 0, 0));
    assert.equal(error.code, ErrorCodes.InvalidParams);
    assert.match(error.message, /file:\/\/\/w\/never-opened\.ts is not open/);
  });

  it('refuses positions past the end of the document or of the line', async () => {
    await session.open('file:///w/pos.ts', 'typescript', TS);
    const pastLines = await rejection(complete('file:///w/pos.ts', 99, 0));
    assert.equal(pastLines.code, ErrorCodes.InvalidParams);
    assert.match(pastLines.message, /past the end of the document \(6 lines\)/);
    const pastLine = await rejection(complete('file:///w/pos.ts', 1, 500));
    assert.match(pastLine.message, /past the end of line 1/);
    const negative = await rejection(complete('file:///w/pos.ts', -1, 0));
    assert.match(negative.message, /non-negative integer/);
  });

  it('follows incremental changes: lines added become valid positions', async () => {
    const uri = 'file:///w/inc.py';
    await session.open(uri, 'python', 'a = 1\n');
    assert.match((await rejection(complete(uri, 3, 0))).message, /past the end of the document \(2 lines\)/);
    await session.connection.sendNotification('textDocument/didChange', {
      textDocument: { uri, version: 2 },
      contentChanges: [{ range: { start: { line: 1, character: 0 }, end: { line: 1, character: 0 } }, text: 'b = 2\nc = 3\n' }],
    });
    assert.deepEqual((await complete(uri, 3, 0)).items, []);
    // and a deletion takes them away again
    await session.connection.sendNotification('textDocument/didChange', {
      textDocument: { uri, version: 3 },
      contentChanges: [{ range: { start: { line: 1, character: 0 }, end: { line: 3, character: 0 } }, text: '' }],
    });
    assert.match((await rejection(complete(uri, 3, 0))).message, /\(2 lines\)/);
  });

  it('survives malformed ranges in didChange (clamped, logged) and keeps serving', async () => {
    const uri = 'file:///w/bad-range.ts';
    await session.open(uri, 'typescript', TS);
    await session.connection.sendNotification('textDocument/didChange', {
      textDocument: { uri, version: 2 },
      contentChanges: [
        { range: { start: { line: -4, character: 'x' }, end: { line: 1e9, character: -1 } }, text: 'replaced\n' },
        { range: { start: { line: 0, character: 5 }, end: { line: 0, character: 2 } }, text: '' },
        { text: 42 },
      ],
    });
    await session.connection.sendNotification('textDocument/didChange', { textDocument: { uri: 'file:///w/not-open.ts', version: 2 }, contentChanges: [] });
    await session.connection.sendNotification('textDocument/didChange', null);
    const result = await complete(uri, 0, 0);
    assert.deepEqual(result.items, []);
    assert.ok(session.logs.some((m) => m.includes('malformed range')));
  });

  it('splits no surrogate pair into a crash: a range inside an emoji is applied as sent', async () => {
    const uri = 'file:///w/emoji.ts';
    await session.open(uri, 'typescript', 'const s = "😀";\n');
    await session.connection.sendNotification('textDocument/didChange', {
      textDocument: { uri, version: 2 },
      contentChanges: [{ range: { start: { line: 0, character: 12 }, end: { line: 0, character: 13 } }, text: 'x' }],
    });
    assert.deepEqual((await complete(uri, 0, 11)).items, []);
  });

  it('gives binary files no completions', async () => {
    await session.open('file:///w/blob.bin', 'plaintext', 'ELF\u0000\u0001\u0002binary\u0000');
    assert.deepEqual((await complete('file:///w/blob.bin', 0, 3)).items, []);
  });

  it('opens and edits a 6 MB file without parsing it, and still answers', async () => {
    const uri = 'file:///w/huge.ts';
    const huge = 'const x = 1;\n'.repeat(500_000);
    await session.open(uri, 'typescript', huge);
    await session.connection.sendNotification('textDocument/didChange', {
      textDocument: { uri, version: 2 },
      contentChanges: [{ range: { start: { line: 250_000, character: 0 }, end: { line: 250_000, character: 0 } }, text: 'let y = ' }],
    });
    assert.deepEqual((await complete(uri, 250_000, 8)).items, []);
  });

  it('cancels a waiting completion at $/cancelRequest', async () => {
    const uri = 'file:///w/cancel.ts';
    await session.open(uri, 'typescript', TS);
    // A ten-minute debounce: only the cancellation can end this request within the test's time.
    await session.connection.sendNotification('workspace/didChangeConfiguration', { settings: { latent: { engine: { url: downUrl, model: 'm' }, debounceMs: 600_000 } } });
    const { CancellationTokenSource } = await import('vscode-jsonrpc');
    const source = new CancellationTokenSource();
    const pending = session.connection.sendRequest('textDocument/inlineCompletion', {
      textDocument: { uri }, position: { line: 4, character: 24 }, context: { triggerKind: 2 },
    }, source.token);
    setTimeout(() => source.cancel(), 100);
    const error = await rejection(pending);
    assert.equal(error.code, LSPErrorCodes.RequestCancelled);
    await session.connection.sendNotification('workspace/didChangeConfiguration', { settings: { latent: { engine: { url: downUrl, model: 'm' }, debounceMs: 0 } } });
  });

  it('answers a chat with a clear error when the engine is down', async () => {
    const error = await rejection(session.connection.sendRequest('latent/chat', { chatId: 'c1', messages: [{ role: 'user', content: 'hi' }] }));
    assert.equal(error.code, ErrorCodes.InternalError);
    assert.match(error.message, /chat failed: engine at .* is unreachable/);
    // Context that makes no sense is passed over; files that cannot be read are named.
    const odd = await rejection(session.connection.sendRequest('latent/chat', { chatId: 'c2', messages: [{ role: 'user', content: 'hi' }], context: { files: 5, selection: { text: 7 } } }));
    assert.match(odd.message, /chat failed: engine at .* is unreachable/);
    const missing = await rejection(session.connection.sendRequest('latent/chat', { chatId: 'c3', messages: [{ role: 'user', content: 'hi' }], context: { currentFile: { uri: 'file:///no/such/file.ts' } } }));
    assert.equal(missing.code, ErrorCodes.InvalidParams);
    assert.match(missing.message, /cannot read file:\/\/\/no\/such\/file\.ts/);
  });

  it('refuses malformed chat and refactor requests with the field at fault', async () => {
    await session.open('file:///w/r.ts', 'typescript', TS);
    const range = { start: { line: 0, character: 0 }, end: { line: 2, character: 1 } };
    const cases: [string, unknown, RegExp][] = [
      ['latent/chat', { chatId: 'c', messages: [] }, /messages must be a non-empty array/],
      ['latent/chat', { chatId: 'c', messages: [{ role: 'robot', content: 'x' }] }, /messages\[0\] needs a role/],
      ['latent/chat', { messages: [{ role: 'user', content: 'x' }] }, /chatId must be a non-empty string/],
      ['latent/refactor', { chatId: 'r', kind: 'rewrite-everything', uri: 'file:///w/r.ts', range }, /kind must be one of/],
      ['latent/refactor', { chatId: 'r', kind: 'edit', uri: 'file:///w/r.ts', range }, /edit needs an instruction/],
      ['latent/refactor', { chatId: 'r', kind: 'explain', uri: 'file:///w/nope.ts', range }, /is not open/],
      ['latent/refactor', { chatId: 'r', kind: 'explain', uri: 'file:///w/r.ts', range: { start: range.end, end: range.start } }, /ends before it starts/],
      ['latent/refactor', { chatId: 'r', kind: 'explain', uri: 'file:///w/r.ts', range: { start: { line: 0, character: 0 }, end: { line: 40, character: 0 } } }, /past the end/],
    ];
    for (const [method, params, message] of cases) {
      const error = await rejection(session.connection.sendRequest(method, params));
      assert.equal(error.code, ErrorCodes.InvalidParams, `${method} ${JSON.stringify(params)}`);
      assert.match(error.message, message);
    }
  });

  it('offers refactor code actions on a selection and a fix at diagnostics', async () => {
    const uri = 'file:///w/actions.ts';
    await session.open(uri, 'typescript', TS);
    const range = { start: { line: 0, character: 0 }, end: { line: 2, character: 1 } };
    const diagnostic = { range, message: 'Missing return type', severity: 1 };
    const actions = await session.connection.sendRequest<CodeAction[]>('textDocument/codeAction', {
      textDocument: { uri }, range, context: { diagnostics: [diagnostic] },
    });
    assert.deepEqual(actions.map((a) => a.title), [
      'Latent: Fix this problem', 'Latent: Explain', 'Latent: Document', 'Latent: Write tests', 'Latent: Edit with instruction…',
    ]);
    assert.deepEqual(actions[0].command?.arguments, [{ kind: 'fix', uri, range, diagnostics: [diagnostic] }]);
    const onlyFixes = await session.connection.sendRequest<CodeAction[]>('textDocument/codeAction', {
      textDocument: { uri }, range, context: { diagnostics: [diagnostic], only: ['quickfix'] },
    });
    assert.deepEqual(onlyFixes.map((a) => a.kind), ['quickfix']);
  });

  it('applies engine settings changed at run time', async () => {
    const other = `http://127.0.0.1:${await closedPort()}`;
    await session.connection.sendNotification('workspace/didChangeConfiguration', { settings: { latent: { engine: { url: other } } } });
    await session.waitForStatus((s) => s.engine === 'ready' && (s.message ?? '').includes(other));
    await session.connection.sendNotification('workspace/didChangeConfiguration', { settings: { latent: { engine: { url: 'not a url' } } } });
    await session.waitForStatus((s) => s.engine === 'error' && /is not a URL/.test(s.message ?? ''));
    await session.connection.sendNotification('workspace/didChangeConfiguration', { settings: { latent: { engine: { url: downUrl, model: 'm' }, debounceMs: 0 } } });
  });

  it('ignores unknown notifications and answers unknown requests with MethodNotFound', async () => {
    await session.connection.sendNotification('latent/noSuchThing', { x: 1 });
    await session.connection.sendNotification('latent/didView', { uri: 'file:///w/r.ts', ranges: [{ start: { line: 0, character: 0 }, end: { line: 1, character: 0 } }] });
    await session.connection.sendNotification('latent/didView', { uri: 5, ranges: 'no' });
    const error = await rejection(session.connection.sendRequest('latent/noSuchRequest', {}));
    assert.equal(error.code, ErrorCodes.MethodNotFound);
  });
});

describe('language server over node IPC (as the extension starts it)', () => {
  it('initializes and answers over the IPC channel', async () => {
    const child = fork(SERVER_MAIN, ['--node-ipc'], { stdio: ['ignore', 'ignore', 'pipe', 'ipc'] });
    const connection = createMessageConnection(new IPCMessageReader(child), new IPCMessageWriter(child));
    connection.listen();
    try {
      const init = await connection.sendRequest<InitializeResult>('initialize', { processId: process.pid, rootUri: null, capabilities: {} });
      assert.equal(init.capabilities.inlineCompletionProvider, true);
      await connection.sendNotification('initialized', {});
      await connection.sendNotification('textDocument/didOpen', { textDocument: { uri: 'file:///ipc.py', languageId: 'python', version: 1, text: 'x = 1\n' } });
      const error = await rejection(connection.sendRequest('textDocument/inlineCompletion', {
        textDocument: { uri: 'file:///ipc.py' }, position: { line: 5, character: 0 }, context: { triggerKind: 1 },
      }));
      assert.match(error.message, /past the end of the document/);
      await connection.sendRequest('shutdown');
      const exited = new Promise((r) => child.once('exit', r));
      await connection.sendNotification('exit');
      await exited;
    } finally {
      connection.dispose();
      if (child.exitCode === null) child.kill();
    }
  });
});

