// The remote engine's API key, kept in VS Code's SecretStorage (never in settings.json).

import * as vscode from 'vscode';

const KEY = 'latent.engine.apiKey';

export class ApiKeyStore {
  constructor(private readonly secrets: vscode.SecretStorage) {}

  readonly onDidChange = (listener: () => void): vscode.Disposable =>
    this.secrets.onDidChange((e) => {
      if (e.key === KEY) listener();
    });

  async get(): Promise<string | undefined> {
    return (await this.secrets.get(KEY)) || undefined;
  }

  /** Asks the user for the key and stores it; false when they cancelled. */
  async ask(): Promise<boolean> {
    const key = await vscode.window.showInputBox({
      title: 'Latent Coder: API key of the remote engine',
      prompt: 'Kept in VS Code\'s secret storage and sent only to latent.engine.url.',
      password: true,
      ignoreFocusOut: true,
    });
    if (key === undefined) return false;
    if (key.trim()) await this.secrets.store(KEY, key.trim());
    else await this.secrets.delete(KEY);
    return true;
  }

  async clear(): Promise<void> {
    await this.secrets.delete(KEY);
  }
}
