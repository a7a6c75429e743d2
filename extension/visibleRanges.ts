// Tells the server which ranges the user is looking at (`latent/didView`), which it keeps as prompt context.
// Debounced: scrolling fires many events, the server needs the ranges the eyes rested on.

import * as vscode from 'vscode';
import { DidViewNotification, type DidViewParams } from '../server/protocol';
import type { ServerSession } from './serverSession';

const SETTLE_MS = 500;

export function reportVisibleRanges(session: ServerSession): vscode.Disposable {
  let timer: NodeJS.Timeout | undefined;
  const report = (editor: vscode.TextEditor | undefined) => {
    clearTimeout(timer);
    if (!editor || (editor.document.uri.scheme !== 'file' && editor.document.uri.scheme !== 'untitled')) return;
    timer = setTimeout(() => {
      const client = session.runningClient();
      if (!client) return;
      const params: DidViewParams = {
        uri: client.code2ProtocolConverter.asUri(editor.document.uri),
        ranges: editor.visibleRanges.map((r) => client.code2ProtocolConverter.asRange(r)),
      };
      void client.sendNotification(DidViewNotification, params);
    }, SETTLE_MS);
  };
  const subscriptions = [
    vscode.window.onDidChangeTextEditorVisibleRanges((e) => report(e.textEditor)),
    vscode.window.onDidChangeActiveTextEditor(report),
  ];
  return new vscode.Disposable(() => {
    clearTimeout(timer);
    subscriptions.forEach((s) => s.dispose());
  });
}
