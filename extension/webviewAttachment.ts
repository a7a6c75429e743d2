// The listeners a view provider holds on the webview view it shows now. VS Code calls resolveWebviewView again
// whenever it re-creates the view (moved to another container, reloaded, shown again after being disposed): the
// listeners on the previous view go when the next one comes or when it is disposed, so they never pile up.
// Pure (no `vscode` import): VS Code's Event and Disposable shapes only.

export interface Disposable { dispose(): unknown }
export type Event<T> = (listener: (e: T) => unknown) => Disposable;

/** What is listened to on a `vscode.WebviewView`. */
export interface ViewEvents {
  webview: { onDidReceiveMessage: Event<unknown> };
  onDidDispose: Event<void>;
}

export class WebviewAttachment implements Disposable {
  private listeners: Disposable[] = [];
  private attached: ViewEvents | undefined;

  /** Listens to `view` (and stops listening to the view before it). */
  attach(view: ViewEvents, onMessage: (raw: unknown) => void, onDispose: () => void): void {
    this.detach();
    this.attached = view;
    this.listeners = [
      view.webview.onDidReceiveMessage(onMessage),
      view.onDidDispose(() => {
        if (this.attached !== view) return;
        this.detach();
        onDispose();
      }),
    ];
  }

  /** Listeners held now: two while a view is shown, none after it is gone. */
  get listenerCount(): number { return this.listeners.length; }

  detach(): void {
    this.attached = undefined;
    for (const l of this.listeners.splice(0)) l.dispose();
  }

  dispose(): void { this.detach(); }
}
