// The extension's commands in one table, name -> handler made from the context, registered in a loop (as
// rust-analyzer's editors/code does). The refactor commands are a table of their own (refactorCommands.ts).
import * as vscode from 'vscode';
import type { ApiKeyStore } from './apiKey';
import type { ChatViewProvider } from './chatView';
import type { ProposedChanges } from './proposedChange';
import type { ServerSession } from './serverSession';
import { SECTION, toggledLanguages, type ExtensionSettings } from './settings';
import { showStatusMenu } from './statusMenu';

/** What the commands act on. */
export interface CommandContext {
  settings(): ExtensionSettings;
  server: ServerSession;
  chat: ChatViewProvider;
  apiKey: ApiKeyStore;
  proposals: ProposedChanges;
  log: vscode.LogOutputChannel;
}

type Handler = (...args: never[]) => unknown;

export const COMMANDS: Record<string, (ctx: CommandContext) => Handler> = {
  'latent.showMenu': (ctx) => () => showStatusMenu(ctx.settings()),
  'latent.openChat': (ctx) => () => ctx.chat.reveal(),
  'latent.chat.clear': (ctx) => () => ctx.chat.clearHistory(),
  'latent.showLog': (ctx) => () => ctx.log.show(),
  'latent.setApiKey': (ctx) => () => ctx.apiKey.ask(),
  'latent.clearApiKey': (ctx) => () => ctx.apiKey.clear(),
  'latent.restartServer': (ctx) => () => ctx.server.restart(ctx.settings().server),
  'latent.triggerSuggestion': () => () => vscode.commands.executeCommand('editor.action.inlineSuggest.trigger'),
  'latent.toggleEnabled': (ctx) => () =>
    vscode.workspace.getConfiguration(SECTION).update('enable', !ctx.settings().enabled, vscode.ConfigurationTarget.Global),
  'latent.toggleLanguage': (ctx) => async () => {
    const languageId = vscode.window.activeTextEditor?.document.languageId;
    if (!languageId) return;
    await vscode.workspace.getConfiguration(SECTION)
      .update('languages', toggledLanguages(ctx.settings().languages, languageId), vscode.ConfigurationTarget.Global);
  },
  'latent.acceptChange': (ctx) => (uri?: vscode.Uri) => ctx.proposals.accept(uri),
  'latent.rejectChange': (ctx) => (uri?: vscode.Uri) => ctx.proposals.reject(uri),
};

export function registerCommands(ctx: CommandContext): vscode.Disposable[] {
  return Object.entries(COMMANDS).map(([name, make]) => vscode.commands.registerCommand(name, make(ctx)));
}
