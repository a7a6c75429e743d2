// The inline-completion provider, registered at activation so that VS Code asks it from the first keystroke,
// forwarding `textDocument/inlineCompletion` to the server once it is up. VS Code asks only when the user
// types, and never repeats a request that was answered empty; so a request that came too early (server still
// starting, or the engine still loading) is remembered and, once ready, one suggestion is triggered here if
// the user is still in that document (DESIGN.md, "A lesson from the real VS Code").

import * as vscode from 'vscode';
import { InlineCompletionRequest, type LanguageClient } from 'vscode-languageclient/node';
import { isLanguageEnabled, type ExtensionSettings } from './settings';

export class InlineCompletionForwarder implements vscode.InlineCompletionItemProvider {
  private client: LanguageClient | undefined;
  private engineReady = false;
  /** The document whose request came before the server or engine was ready. */
  private missedUri: string | undefined;

  constructor(private readonly settings: () => ExtensionSettings) {}

  async provideInlineCompletionItems(
    document: vscode.TextDocument,
    position: vscode.Position,
    context: vscode.InlineCompletionContext,
    token: vscode.CancellationToken,
  ): Promise<vscode.InlineCompletionItem[] | vscode.InlineCompletionList | undefined> {
    if (!isLanguageEnabled(this.settings(), document.languageId)) return undefined;
    const client = this.client;
    if (!client || !this.engineReady) this.missedUri = document.uri.toString();
    if (!client) return undefined;
    const params = client.code2ProtocolConverter.asInlineCompletionParams(document, position, context);
    try {
      const result = await client.sendRequest(InlineCompletionRequest.type, params, token);
      if (token.isCancellationRequested) return undefined;
      return await client.protocol2CodeConverter.asInlineCompletionResult(result, token);
    } catch (error) {
      return (await client.handleFailedRequest(InlineCompletionRequest.type, token, error, null)) ?? undefined;
    }
  }

  /** The language client, once `initialize` was answered (undefined while it is down). */
  setClient(client: LanguageClient | undefined): void {
    this.client = client;
    if (client) this.nudge();
  }

  /** Whether the engine reports ready; turning ready answers a request that came too early. */
  setEngineReady(ready: boolean): void {
    const wasReady = this.engineReady;
    this.engineReady = ready;
    if (ready && !wasReady) this.nudge();
  }

  private nudge(): void {
    const editor = vscode.window.activeTextEditor;
    const missed = this.missedUri;
    if (!this.client || !missed || !editor || editor.document.uri.toString() !== missed) return;
    if (!isLanguageEnabled(this.settings(), editor.document.languageId)) return;
    this.missedUri = undefined;
    void vscode.commands.executeCommand('editor.action.inlineSuggest.trigger');
  }
}
