// The status bar item: state, last latency, cached share, tokens/s (formatted in statusFormat.ts). Click: menu.

import * as vscode from 'vscode';
import { formatStatus, type StatusInput } from './statusFormat';

export class LatentStatusBar implements vscode.Disposable {
  private readonly item = vscode.window.createStatusBarItem('latent.status', vscode.StatusBarAlignment.Right, 100);
  private input: StatusInput = { client: 'starting', enabled: true };

  constructor() {
    this.item.name = 'Latent Coder';
    this.item.command = 'latent.showMenu';
    this.render();
    this.item.show();
  }

  update(change: Partial<StatusInput>): void {
    this.input = { ...this.input, ...change };
    this.render();
  }

  dispose(): void {
    this.item.dispose();
  }

  private render(): void {
    const view = formatStatus(this.input);
    this.item.text = view.text;
    this.item.tooltip = view.tooltip;
    this.item.backgroundColor =
      view.severity === 'error'
        ? new vscode.ThemeColor('statusBarItem.errorBackground')
        : view.severity === 'warning'
          ? new vscode.ThemeColor('statusBarItem.warningBackground')
          : undefined;
  }
}
