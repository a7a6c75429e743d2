// Test helper: the real language server in a child process, driven over stdio by vscode-jsonrpc, collecting
// the notifications it sends.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import * as path from 'node:path';
import {
  createMessageConnection, StreamMessageReader, StreamMessageWriter, type MessageConnection,
} from 'vscode-jsonrpc/node';
import type { InitializeResult } from 'vscode-languageserver-protocol';
import type { ChatDeltaParams, LatentSettings, StatusParams } from '../../server/protocol';

export const SERVER_MAIN = path.resolve(__dirname, '..', '..', 'server', 'main.js');
const LATENT_CLI = path.resolve(__dirname, '..', '..', '..', 'bin', 'latent.js');

let serverArgs: string[] | undefined;
/** `latent lsp --stdio` once the CLI has the command; until then the same server through its own entry. */
function serverCommandArgs(): string[] {
  if (!serverArgs) {
    let help = '';
    try {
      help = execFileSync(process.execPath, [LATENT_CLI, '--help'], { encoding: 'utf8' });
    } catch { /* no CLI yet */ }
    serverArgs = /latent lsp\b/.test(help) ? [LATENT_CLI, 'lsp', '--stdio'] : [SERVER_MAIN, '--stdio'];
  }
  return serverArgs;
}

export class LspSession {
  readonly statuses: StatusParams[] = [];
  readonly deltas: ChatDeltaParams[] = [];
  readonly logs: string[] = [];
  readonly stderr: string[] = [];
  private constructor(readonly child: ChildProcess, readonly connection: MessageConnection) {}

  static async start(settings: LatentSettings, options: { rootUri?: string; env?: NodeJS.ProcessEnv } = {}): Promise<{ session: LspSession; init: InitializeResult }> {
    const child = spawn(process.execPath, serverCommandArgs(), { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, ...options.env } });
    const connection = createMessageConnection(new StreamMessageReader(child.stdout!), new StreamMessageWriter(child.stdin!));
    const session = new LspSession(child, connection);
    child.stderr!.on('data', (d: Buffer) => session.stderr.push(d.toString()));
    connection.onNotification('latent/status', (p: StatusParams) => { session.statuses.push(p); });
    connection.onNotification('latent/chatDelta', (p: ChatDeltaParams) => { session.deltas.push(p); });
    connection.onNotification('window/logMessage', (p: { message: string }) => { session.logs.push(p.message); });
    connection.listen();
    const init = await connection.sendRequest<InitializeResult>('initialize', {
      processId: process.pid, rootUri: options.rootUri ?? null, capabilities: {}, initializationOptions: settings,
      workspaceFolders: options.rootUri ? [{ uri: options.rootUri, name: 'w' }] : null,
    });
    await connection.sendNotification('initialized', {});
    return { session, init };
  }

  open(uri: string, languageId: string, text: string, version = 1): Promise<void> {
    return this.connection.sendNotification('textDocument/didOpen', { textDocument: { uri, languageId, version, text } });
  }

  /** Waits until a status satisfying `test` has arrived (or fails after `ms`). */
  async waitForStatus(test: (s: StatusParams) => boolean, ms = 10_000): Promise<StatusParams> {
    const deadline = Date.now() + ms;
    for (;;) {
      const found = this.statuses.find(test);
      if (found) return found;
      if (Date.now() > deadline) throw new Error(`no such status within ${ms} ms; got ${JSON.stringify(this.statuses)}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  get alive(): boolean { return this.child.exitCode === null && this.child.signalCode === null; }

  async stop(): Promise<void> {
    if (!this.alive) return;
    const exited = new Promise((r) => this.child.once('exit', r));
    try {
      await Promise.race([this.connection.sendRequest('shutdown'), new Promise((r) => setTimeout(r, 2000))]);
      await this.connection.sendNotification('exit');
    } catch { /* already gone */ }
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 3000);
    await exited;
    clearTimeout(timer);
    this.connection.dispose();
  }
}
