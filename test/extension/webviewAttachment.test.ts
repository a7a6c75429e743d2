// The chat view's listeners on its webview view: VS Code resolves the view again each time it re-creates it, and
// only the view shown now may be listened to (before the fix, every resolve added two listeners for good).
import * as assert from 'node:assert/strict';
import { Emitter } from 'vscode-jsonrpc';
import { WebviewAttachment, type ViewEvents } from '../../extension/webviewAttachment';

/** A webview view as VS Code's API shapes it, with events that can be fired and that count their listeners. */
class View implements ViewEvents {
  readonly messages = new Emitter<unknown>();
  readonly disposed = new Emitter<void>();
  listeners = 0;
  readonly webview = { onDidReceiveMessage: this.counted(this.messages) };
  readonly onDidDispose = this.counted(this.disposed);

  private counted<T>(emitter: Emitter<T>) {
    return (listener: (e: T) => unknown) => {
      this.listeners++;
      const subscription = emitter.event(listener);
      return { dispose: () => { this.listeners--; subscription.dispose(); } };
    };
  }
}

describe('chat view: listeners on the webview view', () => {
  it('listens only to the view shown now, however often VS Code resolves it', () => {
    const attachment = new WebviewAttachment();
    const handled: unknown[] = [];
    let disposedCalls = 0;
    const views = [new View(), new View(), new View()];
    for (const view of views) attachment.attach(view, (m) => handled.push(m), () => disposedCalls++);
    assert.deepEqual(views.map((v) => v.listeners), [0, 0, 2]);
    views[2].messages.fire('ask');
    views[0].messages.fire('stale');
    assert.deepEqual(handled, ['ask']);
    // An old view going away says nothing about the one shown now.
    views[1].disposed.fire();
    assert.equal(disposedCalls, 0);
    assert.equal(attachment.listenerCount, 2);
  });

  it('lets go of a view when it is disposed, and of everything when the provider is', () => {
    const attachment = new WebviewAttachment();
    let disposedCalls = 0;
    const view = new View();
    attachment.attach(view, () => undefined, () => disposedCalls++);
    view.disposed.fire();
    assert.equal(disposedCalls, 1);
    assert.equal(view.listeners, 0);
    const next = new View();
    attachment.attach(next, () => undefined, () => disposedCalls++);
    attachment.dispose();
    assert.equal(next.listeners, 0);
  });
});
