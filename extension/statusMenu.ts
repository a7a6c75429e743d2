// The menu behind the status bar item: on/off, this language on/off, chat, log, API key, restart, settings.

import * as vscode from 'vscode';
import { isLanguageEnabled, type ExtensionSettings } from './settings';

export async function showStatusMenu(settings: ExtensionSettings): Promise<void> {
  const languageId = vscode.window.activeTextEditor?.document.languageId;
  const items: (vscode.QuickPickItem & { command?: string })[] = [
    { label: settings.enabled ? '$(circle-slash) Disable inline completions' : '$(check) Enable inline completions', command: 'latent.toggleEnabled' },
  ];
  if (languageId) {
    const on = isLanguageEnabled({ enabled: true, languages: settings.languages }, languageId);
    items.push({ label: `${on ? '$(circle-slash) Disable' : '$(check) Enable'} for ${languageId}`, command: 'latent.toggleLanguage' });
  }
  items.push(
    { label: '', kind: vscode.QuickPickItemKind.Separator },
    { label: '$(comment-discussion) Open chat', command: 'latent.openChat' },
    { label: '$(output) Show log', command: 'latent.showLog' },
    { label: '$(key) Set API key of the remote engine', command: 'latent.setApiKey' },
    { label: '$(debug-restart) Restart server', command: 'latent.restartServer' },
    { label: '$(gear) Settings', command: 'workbench.action.openSettings' },
  );
  const chosen = await vscode.window.showQuickPick(items, { title: 'Latent Coder' });
  if (!chosen?.command) return;
  if (chosen.command === 'workbench.action.openSettings') await vscode.commands.executeCommand(chosen.command, '@ext:latent-coder.latent-coder');
  else await vscode.commands.executeCommand(chosen.command);
}
