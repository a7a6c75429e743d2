// Activation: read the settings, register the UI (inline completions, status bar, chat view, refactors, code
// actions), then start the LSP server without waiting for it. All language smarts live in the server.

import * as vscode from 'vscode';
import { ApiKeyStore } from './apiKey';
import { CHAT_VIEW_ID, ChatViewProvider } from './chatView';
import { registerCommands } from './commands';
import { InlineCompletionForwarder } from './inlineCompletions';
import { DOCUMENT_SELECTOR } from './languageClient';
import { LoadingProgress } from './loadingProgress';
import { ProposedChanges } from './proposedChange';
import { registerRefactorCommands } from './refactorCommands';
import { ServerSession } from './serverSession';
import { isLanguageEnabled, readSettings, SECTION, type ExtensionSettings } from './settings';
import { LatentStatusBar } from './statusBar';
import { reportVisibleRanges } from './visibleRanges';

let session: ServerSession | undefined;

export async function activate(context: vscode.ExtensionContext): Promise<void> {
  const log = vscode.window.createOutputChannel('Latent Coder', { log: true });
  const apiKey = new ApiKeyStore(context.secrets);
  let settings = await loadSettings(apiKey, log);

  const statusBar = new LatentStatusBar();
  const progress = new LoadingProgress();
  const forwarder = new InlineCompletionForwarder(() => settings);
  const proposals = new ProposedChanges();
  session = new ServerSession(context, log);
  const server = session;
  const chat = new ChatViewProvider(context.extensionUri, context.workspaceState, server, proposals, log);

  const showEditorState = () => {
    const languageId = vscode.window.activeTextEditor?.document.languageId;
    statusBar.update({
      enabled: settings.enabled,
      languageId,
      languageEnabled: languageId === undefined ? undefined : isLanguageEnabled(settings, languageId),
      restricted: !vscode.workspace.isTrusted,
    });
  };
  const settingsChanged = async () => {
    settings = await loadSettings(apiKey, log);
    showEditorState();
    await server.updateSettings(settings.server);
  };

  context.subscriptions.push(
    log,
    statusBar,
    progress,
    proposals,
    chat,
    server,
    // Registered now, before the server is up: VS Code asks only providers that exist when the user types.
    vscode.languages.registerInlineCompletionItemProvider(DOCUMENT_SELECTOR, forwarder),
    vscode.window.registerWebviewViewProvider(CHAT_VIEW_ID, chat, { webviewOptions: { retainContextWhenHidden: true } }),
    // The lightbulb's refactors come from the server (codeActionProvider); their command is latent.refactor.
    reportVisibleRanges(server),
    ...registerRefactorCommands(server, proposals, chat),
    server.onDidChangeState((state) => {
      statusBar.update({ client: state });
      forwarder.setClient(state === 'running' ? server.runningClient() : undefined);
      if (state !== 'running') forwarder.setEngineReady(false);
      void vscode.commands.executeCommand('setContext', 'latent.serverRunning', state === 'running');
    }),
    server.onDidReportStatus((status) => {
      statusBar.update({ status });
      progress.update(status);
      forwarder.setEngineReady(status.engine === 'ready');
      if (status.engine === 'error' && typeof status.message === 'string') log.error(`engine: ${status.message}`);
    }),
    vscode.window.onDidChangeActiveTextEditor(showEditorState),
    vscode.workspace.onDidChangeConfiguration((e) => {
      if (e.affectsConfiguration(SECTION)) void settingsChanged();
    }),
    vscode.workspace.onDidGrantWorkspaceTrust(() => void settingsChanged()),
    apiKey.onDidChange(() => void settingsChanged()),
    ...registerCommands({ settings: () => settings, server, chat, apiKey, proposals, log }),
  );
  void vscode.commands.executeCommand('setContext', 'latent.active', true);
  showEditorState();

  // Not awaited: activation returns at once; the provider above forwards once the server is up.
  server.start(settings.server).catch(() => undefined);
}

export async function deactivate(): Promise<void> {
  await session?.stop();
  session = undefined;
}

async function loadSettings(apiKey: ApiKeyStore, log: vscode.LogOutputChannel): Promise<ExtensionSettings> {
  const config = vscode.workspace.getConfiguration(SECTION);
  const settings = readSettings((key) => config.get(key), await apiKey.get());
  for (const problem of settings.problems) log.warn(`settings: ${problem}`);
  if (settings.problems.length) {
    void vscode.window.showWarningMessage(`Latent Coder: ${settings.problems[0]}`, 'Open Settings').then((choice) => {
      if (choice) void vscode.commands.executeCommand('workbench.action.openSettings', 'latent.');
    });
  }
  return settings;
}
