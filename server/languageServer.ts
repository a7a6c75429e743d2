// The language server: wires the LSP connection to the documents, the engine and the request handlers.
// Every handler turns bad input into an error response or an empty result; nothing a client sends ends the
// process.
import {
  ErrorCodes, ResponseError, TextDocumentSyncKind, type Connection, type InitializeParams, type InitializeResult,
} from 'vscode-languageserver';
import { fileURLToPath } from 'node:url';
import { abortSignalOf } from './cancellation';
import { ChatService } from './chat';
import { refactorCodeActions } from './codeActions';
import { DocumentStore } from './documentStore';
import { isRange } from './documentPosition';
import { EngineConnection } from './engineConnection';
import { InlineCompletionProvider } from './inlineCompletion';
import {
  ChatDeltaNotification, ChatRequestMethod, DidViewNotification, RefactorRequestMethod, StatusNotification,
  type ChatDeltaParams, type ChatParams, type DidViewParams, type LatentSettings, type RefactorParams,
} from './protocol';
import { RefactorService } from './refactor';
import { StatusReporter } from './statusReporter';
import { indexWorkspace } from './workspaceFiles';

export class LatentLanguageServer {
  readonly store: DocumentStore;
  readonly engine: EngineConnection;
  readonly status: StatusReporter;
  readonly completions: InlineCompletionProvider;
  private settings: LatentSettings | undefined;
  private stopped = false;

  constructor(private readonly connection: Connection) {
    const log = (message: string) => connection.console.log(message);
    this.store = new DocumentStore(log);
    this.status = new StatusReporter((status) => { void connection.sendNotification(StatusNotification, status); });
    this.engine = new EngineConnection((state, message) => {
      this.status.engineState(state, message);
      if (message) log(`engine ${state}: ${message}`);
    }, log);
    this.completions = new InlineCompletionProvider(this.store, this.engine, this.status, () => this.settings, log);
    const chat = new ChatService(this.store, this.engine,
      (chatId, delta) => { void connection.sendNotification(ChatDeltaNotification, { chatId, delta } satisfies ChatDeltaParams); },
      () => this.settings);
    const refactor = new RefactorService(this.store, chat);

    connection.onInitialize((params) => this.initialize(params));
    connection.onInitialized(() => this.startWorkspaceIndex());
    connection.onDidChangeConfiguration((params) => {
      const raw = params?.settings as { latent?: LatentSettings } & LatentSettings | undefined;
      this.applySettings(raw?.latent ?? raw);
    });
    connection.onDidOpenTextDocument((params) => {
      if (typeof params?.textDocument?.uri !== 'string' || typeof params.textDocument.text !== 'string') {
        log('didOpen without a uri and text: ignored');
        return;
      }
      this.store.open(params).catch((e: Error) => log(`opening ${params.textDocument.uri} failed: ${e.message}`));
    });
    connection.onDidChangeTextDocument((params) => {
      try {
        this.store.change(params);
      } catch (e) {
        log(`didChange for ${params?.textDocument?.uri} failed: ${(e as Error).message}`);
      }
    });
    connection.onDidCloseTextDocument((params) => this.store.close(params?.textDocument?.uri));
    connection.onNotification(DidViewNotification, (params: DidViewParams) => {
      if (typeof params?.uri !== 'string' || !Array.isArray(params.ranges)) return;
      for (const r of params.ranges) {
        if (Number.isInteger(r?.start?.line) && Number.isInteger(r?.end?.line)) this.store.recentViews.record(params.uri, r.start.line, r.end.line);
      }
    });
    connection.languages.inlineCompletion.on((params, token) => this.completions.provide(params, abortSignalOf(token)));
    connection.onRequest(ChatRequestMethod, (params: ChatParams, token) => chat.chat(params, abortSignalOf(token)));
    connection.onRequest(RefactorRequestMethod, (params: RefactorParams, token) => refactor.refactor(params, abortSignalOf(token)));
    connection.onCodeAction((params) => {
      if (typeof params?.textDocument?.uri !== 'string' || !isRange(params.range) || typeof params.context !== 'object') {
        throw new ResponseError(ErrorCodes.InvalidParams,
          'textDocument/codeAction needs textDocument.uri, a range of integer lines and characters, and a context');
      }
      refactor.rememberDiagnostics(params.textDocument.uri, params.context.diagnostics ?? []);
      return refactorCodeActions(params);
    });
    connection.onShutdown(() => this.dispose());
  }

  private initialize(params: InitializeParams): InitializeResult {
    const roots = (params.workspaceFolders ?? []).map((f) => f.uri);
    if (roots.length === 0 && params.rootUri) roots.push(params.rootUri);
    this.store.workspaceRoots = roots.flatMap((uri) => {
      try { return [fileURLToPath(uri)]; } catch { return []; }
    });
    this.applySettings(params.initializationOptions as LatentSettings | undefined);
    return {
      capabilities: {
        textDocumentSync: { openClose: true, change: TextDocumentSyncKind.Incremental },
        inlineCompletionProvider: true,
        codeActionProvider: { codeActionKinds: ['quickfix', 'refactor', 'refactor.rewrite'] },
      },
      serverInfo: { name: 'latent-coder' },
    };
  }

  private applySettings(settings: LatentSettings | undefined): void {
    if (!settings || typeof settings !== 'object') return;
    const engineChanged = JSON.stringify(settings.engine) !== JSON.stringify(this.settings?.engine);
    this.settings = settings;
    if (engineChanged) {
      this.completions.cache.clear();
      this.engine.configure(settings.engine);
    }
  }

  private startWorkspaceIndex(): void {
    const roots = this.store.workspaceRoots;
    if (roots.length === 0) return;
    indexWorkspace(roots, this.store.definitions, (uri) => this.store.get(uri) !== undefined,
      (m) => this.connection.console.log(m), () => this.stopped)
      .then((n) => this.connection.console.log(`indexed definitions in ${n} workspace files`))
      .catch((e: Error) => this.connection.console.log(`workspace indexing failed: ${e.message}`));
  }

  dispose(): void {
    this.stopped = true;
    this.engine.dispose();
    this.store.dispose();
  }
}
