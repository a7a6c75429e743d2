// The running LSP server as the rest of the extension sees it: start, restart, stop, "ready" as a promise,
// the server's latent/status reports and latent/chatDelta pieces routed to whoever waits for them.

import * as vscode from 'vscode';
import { State, type LanguageClient } from 'vscode-languageclient/node';
import {
  ChatDeltaNotification,
  StatusNotification,
  type ChatDeltaParams,
  type LatentSettings,
  type StatusParams,
} from '../server/protocol';
import type { ClientState } from './statusFormat';
import { createLanguageClient } from './languageClient';

export class ServerSession implements vscode.Disposable {
  private client: LanguageClient | undefined;
  private readyClient: Promise<LanguageClient> | undefined;
  private readonly deltaListeners = new Map<string, (delta: string) => void>();
  private readonly stateEmitter = new vscode.EventEmitter<ClientState>();
  private readonly statusEmitter = new vscode.EventEmitter<StatusParams>();
  /** The client's state: starting, running (initialize answered), stopped, failed. */
  readonly onDidChangeState = this.stateEmitter.event;
  /** Each latent/status report of the server. */
  readonly onDidReportStatus = this.statusEmitter.event;
  state: ClientState = 'stopped';

  constructor(
    private readonly context: vscode.ExtensionContext,
    private readonly log: vscode.LogOutputChannel,
  ) {}

  /** Starts the server; the promise settles when it answered `initialize` (or failed). */
  start(settings: LatentSettings): Promise<LanguageClient> {
    if (this.readyClient) return this.readyClient;
    let client: LanguageClient;
    try {
      client = createLanguageClient(this.context, settings, this.log);
    } catch (error) {
      this.log.error(`server failed to start: ${error instanceof Error ? error.message : String(error)}`);
      this.setState('failed');
      return Promise.reject(error);
    }
    this.client = client;
    client.onNotification(StatusNotification, (status: StatusParams) => this.statusEmitter.fire(status));
    client.onNotification(ChatDeltaNotification, (params: ChatDeltaParams) => {
      if (typeof params?.chatId === 'string' && typeof params.delta === 'string') {
        this.deltaListeners.get(params.chatId)?.(params.delta);
      }
    });
    // After the first start: the client restarts a crashed server by itself, and gives up after a few crashes.
    client.onDidChangeState(({ newState }) => {
      if (this.client !== client || this.state === 'starting') return;
      if (newState === State.Running) this.setState('running');
      else if (newState === State.Stopped) this.setState('stopped');
    });
    this.setState('starting');
    const started = Date.now();
    this.readyClient = client.start().then(
      () => {
        this.log.info(`server ready in ${Date.now() - started} ms`);
        this.setState('running');
        return client;
      },
      (error: unknown) => {
        this.log.error(`server failed to start: ${error instanceof Error ? error.message : String(error)}`);
        this.setState('failed');
        this.readyClient = undefined;
        this.client = undefined;
        throw error;
      },
    );
    return this.readyClient;
  }

  /** The client once the server is up; rejects when it cannot start. */
  ready(): Promise<LanguageClient> {
    return this.readyClient ?? Promise.reject(new Error('The Latent Coder server is not running (Latent: Restart Server).'));
  }

  /** The client if the server is up right now, without waiting. */
  runningClient(): LanguageClient | undefined {
    return this.state === 'running' ? this.client : undefined;
  }

  async restart(settings: LatentSettings): Promise<void> {
    await this.stop();
    await this.start(settings).catch(() => undefined);
  }

  async stop(): Promise<void> {
    const client = this.client;
    this.client = undefined;
    this.readyClient = undefined;
    if (client) await client.stop(5000).catch((e) => this.log.warn(`stopping the server: ${String(e)}`));
    this.setState('stopped');
  }

  /** Sends changed settings to a running server. */
  async updateSettings(settings: LatentSettings): Promise<void> {
    const client = this.runningClient();
    if (client) await client.sendNotification('workspace/didChangeConfiguration', { settings });
  }

  /** Routes the `latent/chatDelta` pieces of one chat/refactor id to `listener` until disposed. */
  onChatDelta(chatId: string, listener: (delta: string) => void): vscode.Disposable {
    this.deltaListeners.set(chatId, listener);
    return new vscode.Disposable(() => this.deltaListeners.delete(chatId));
  }

  dispose(): void {
    void this.stop();
    this.stateEmitter.dispose();
    this.statusEmitter.dispose();
  }

  private setState(state: ClientState): void {
    this.state = state;
    this.stateEmitter.fire(state);
  }
}
