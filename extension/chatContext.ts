// The context chips of the chat: the selection, the current file, and files picked with @. Follows the active
// editor; builds the `ChatContext` the server gets with a question.

import * as path from 'node:path';
import * as vscode from 'vscode';
import type { ChatContext } from '../server/protocol';
import type { ContextChip } from './chatMessages';

const MAX_SELECTION_CHARS = 100_000;
const MAX_PICKED = 20;

export class ChatContextTracker implements vscode.Disposable {
  private readonly picked: vscode.Uri[] = [];
  private readonly dismissed = new Set<string>();
  private readonly emitter = new vscode.EventEmitter<ContextChip[]>();
  private readonly subscriptions: vscode.Disposable[];
  /** The chips changed (editor, selection, picks, removals). */
  readonly onDidChange = this.emitter.event;

  constructor() {
    this.subscriptions = [
      vscode.window.onDidChangeActiveTextEditor(() => {
        this.dismissed.clear();
        this.fire();
      }),
      vscode.window.onDidChangeTextEditorSelection((e) => {
        if (e.textEditor === vscode.window.activeTextEditor) {
          this.dismissed.delete('selection');
          this.fire();
        }
      }),
    ];
  }

  chips(): ContextChip[] {
    const chips: ContextChip[] = [];
    const editor = this.editor();
    if (editor) {
      const selection = editor.selection;
      if (!selection.isEmpty && !this.dismissed.has('selection')) {
        const lines = selection.start.line === selection.end.line
          ? `${selection.start.line + 1}`
          : `${selection.start.line + 1}-${selection.end.line + 1}`;
        chips.push({ id: 'selection', kind: 'selection', label: `${baseName(editor.document.uri)}:${lines}` });
      }
      if (!this.dismissed.has('file')) chips.push({ id: 'file', kind: 'file', label: baseName(editor.document.uri) });
    }
    this.picked.forEach((uri, i) => chips.push({ id: `picked-${i}`, kind: 'picked', label: vscode.workspace.asRelativePath(uri) }));
    return chips;
  }

  remove(id: string): void {
    const picked = /^picked-(\d+)$/.exec(id);
    if (picked) this.picked.splice(Number(picked[1]), 1);
    else if (id === 'selection' || id === 'file') this.dismissed.add(id);
    this.fire();
  }

  /** The @ picker: workspace files, several at once. */
  async pickFiles(): Promise<void> {
    const files = await vscode.workspace.findFiles('**/*', '**/{node_modules,.git,out,dist}/**', 5000);
    const items = files
      .map((uri) => ({ label: vscode.workspace.asRelativePath(uri), uri }))
      .sort((a, b) => a.label.localeCompare(b.label));
    const chosen = await vscode.window.showQuickPick(items, {
      canPickMany: true,
      title: 'Latent Coder: add files to the chat',
      placeHolder: 'Files the next question should see',
    });
    for (const item of chosen ?? []) {
      if (this.picked.length < MAX_PICKED && !this.picked.some((u) => u.toString() === item.uri.toString())) this.picked.push(item.uri);
    }
    this.fire();
  }

  /** The context for the server, with its chips' labels for the transcript; picked files are used once. */
  take(): { context: ChatContext; labels: string[] } {
    const labels = this.chips().map((c) => c.label);
    const context: ChatContext = {};
    const editor = this.editor();
    if (editor) {
      const s = editor.selection;
      if (!s.isEmpty && !this.dismissed.has('selection')) {
        context.selection = {
          uri: editor.document.uri.toString(),
          range: { start: { line: s.start.line, character: s.start.character }, end: { line: s.end.line, character: s.end.character } },
          text: editor.document.getText(s).slice(0, MAX_SELECTION_CHARS),
        };
      }
      if (!this.dismissed.has('file')) context.currentFile = { uri: editor.document.uri.toString() };
    }
    if (this.picked.length) context.files = this.picked.map((uri) => ({ uri: uri.toString() }));
    this.picked.length = 0;
    this.fire();
    return { context, labels };
  }

  dispose(): void {
    this.subscriptions.forEach((s) => s.dispose());
    this.emitter.dispose();
  }

  private editor(): vscode.TextEditor | undefined {
    const editor = vscode.window.activeTextEditor;
    return editor && (editor.document.uri.scheme === 'file' || editor.document.uri.scheme === 'untitled') ? editor : undefined;
  }

  private fire(): void {
    this.emitter.fire(this.chips());
  }
}

function baseName(uri: vscode.Uri): string {
  return path.posix.basename(uri.path) || uri.toString();
}
