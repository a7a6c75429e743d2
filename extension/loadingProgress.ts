// A progress notification while the engine loads a model (a 16B model takes a while), driven by latent/status.

import * as vscode from 'vscode';
import type { StatusParams } from '../server/protocol';

export class LoadingProgress implements vscode.Disposable {
  private finish: (() => void) | undefined;
  private report: ((fraction: number | undefined, message: string | undefined) => void) | undefined;

  update(status: StatusParams): void {
    if (status.engine !== 'loading') {
      this.finish?.();
      return;
    }
    if (!this.finish) this.open();
    const fraction = typeof status.progress === 'number' && Number.isFinite(status.progress) ? status.progress : undefined;
    this.report?.(fraction, typeof status.message === 'string' ? status.message.slice(0, 200) : undefined);
  }

  dispose(): void {
    this.finish?.();
  }

  private open(): void {
    let shown = 0;
    void vscode.window.withProgress(
      { location: vscode.ProgressLocation.Notification, title: 'Latent Coder: loading the model' },
      (progress) =>
        new Promise<void>((resolve) => {
          this.finish = () => {
            this.finish = undefined;
            this.report = undefined;
            resolve();
          };
          this.report = (fraction, message) => {
            // VS Code's progress takes increments (percent); the server reports the fraction done.
            const percent = fraction === undefined ? shown : Math.min(100, Math.max(shown, Math.round(fraction * 100)));
            progress.report({ increment: percent - shown, message });
            shown = percent;
          };
        }),
    );
  }
}
