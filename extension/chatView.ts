// The chat side panel (a webview view): streams answers from `latent/chat` (pieces via `latent/chatDelta`), a stop
// button, history per workspace, context chips, and code-block actions (copy, insert at cursor, apply as diff).
// Every message from the webview goes through parseWebviewMessage before anything acts on it.

import { randomBytes, randomUUID } from 'node:crypto';
import * as vscode from 'vscode';
import {
  ChatRequestMethod,
  type ChatMessage,
  type ChatParams,
  type ChatResult,
} from '../server/protocol';
import { ChatContextTracker } from './chatContext';
import { ChatHistory, trimHistory } from './chatHistory';
import { chatHtml } from './chatHtml';
import { parseWebviewMessage, type ChatTurn, type HostMessage, type WebviewMessage } from './chatMessages';
import type { ProposedChanges } from './proposedChange';
import { errorText } from './errorText';
import type { ServerSession } from './serverSession';
import { WebviewAttachment } from './webviewAttachment';

export const CHAT_VIEW_ID = 'latent.chatView';
/** How much of the conversation goes with a question (the server fits it to the model's context). */
const TURNS_SENT = 20;
const CHARS_SENT = 24_000;

type Answer = Pick<ChatResult, 'text' | 'finishReason'>;
/** How an answer ended: as the server said, or with an error. */
type Outcome = Answer['finishReason'] | 'error';

export class ChatViewProvider implements vscode.WebviewViewProvider, vscode.Disposable {
  private view: vscode.WebviewView | undefined;
  private webviewReady = false;
  private readyWaiters: (() => void)[] = [];
  private current: { chatId: string; cts: vscode.CancellationTokenSource; question: ChatTurn; text: string } | undefined;
  private readonly history: ChatHistory;
  private readonly chips = new ChatContextTracker();
  private readonly subscriptions: vscode.Disposable[] = [];
  /** Listeners on the view shown now; a view VS Code re-creates replaces them (they must not pile up). */
  private readonly attachment = new WebviewAttachment();

  constructor(
    private readonly extensionUri: vscode.Uri,
    workspaceState: vscode.Memento,
    private readonly session: ServerSession,
    private readonly proposals: ProposedChanges,
    private readonly log: vscode.LogOutputChannel,
  ) {
    this.history = new ChatHistory(workspaceState);
    this.subscriptions.push(this.chips, this.chips.onDidChange((chips) => this.post({ type: 'context', chips })), this.attachment);
  }

  resolveWebviewView(view: vscode.WebviewView): void {
    this.view = view;
    this.webviewReady = false;
    const media = vscode.Uri.joinPath(this.extensionUri, 'media');
    view.webview.options = { enableScripts: true, enableCommandUris: false, localResourceRoots: [media] };
    view.webview.html = chatHtml({
      nonce: randomBytes(18).toString('base64'),
      cspSource: view.webview.cspSource,
      scriptUri: view.webview.asWebviewUri(vscode.Uri.joinPath(media, 'dist', 'chat.js')).toString(),
      styleUri: view.webview.asWebviewUri(vscode.Uri.joinPath(media, 'chat.css')).toString(),
    });
    this.attachment.attach(view, (raw: unknown) => {
      const parsed = parseWebviewMessage(raw);
      if (!parsed.ok) {
        this.log.warn(`chat view: ignored a message: ${parsed.error}`);
        return;
      }
      this.handle(parsed.message).catch((e) => this.log.error(`chat view: ${errorText(e)}`));
    }, () => {
      this.view = undefined;
      this.webviewReady = false;
    });
  }

  /** Asks a question as if typed in the panel (used by commands). */
  async ask(text: string): Promise<void> {
    await this.reveal();
    await this.askQuestion(text);
  }

  /** Streams a refactor's explanation into the chat (Explain answers here, not in a diff). */
  async explain(label: string, run: (chatId: string, token: vscode.CancellationToken) => Promise<Answer>): Promise<void> {
    await this.reveal();
    await this.stream({ role: 'user', content: `Explain ${label}`, chips: [label] }, run);
  }

  async clearHistory(): Promise<void> {
    this.current?.cts.cancel();
    await this.history.clear();
    this.post({ type: 'history', turns: [] });
  }

  async reveal(): Promise<void> {
    if (!this.view) await vscode.commands.executeCommand(`${CHAT_VIEW_ID}.focus`);
    else this.view.show(true);
    if (this.webviewReady) return;
    await new Promise<void>((resolve) => {
      this.readyWaiters.push(resolve);
      setTimeout(resolve, 10_000); // a webview that never loads must not hang a command
    });
  }

  dispose(): void {
    this.current?.cts.cancel();
    this.subscriptions.forEach((s) => s.dispose());
  }

  private async handle(message: WebviewMessage): Promise<void> {
    switch (message.type) {
      case 'ready':
        this.webviewReady = true;
        this.postNow({ type: 'history', turns: this.history.turns() });
        this.postNow({ type: 'context', chips: this.chips.chips() });
        if (this.current) {
          this.postNow({ type: 'start', chatId: this.current.chatId, question: this.current.question });
          if (this.current.text) this.postNow({ type: 'delta', chatId: this.current.chatId, text: this.current.text });
        }
        this.readyWaiters.splice(0).forEach((r) => r());
        return;
      case 'ask':
        return this.askQuestion(message.text);
      case 'stop':
        this.current?.cts.cancel();
        return;
      case 'clear':
        return this.clearHistory();
      case 'copy':
        await vscode.env.clipboard.writeText(message.text);
        return;
      case 'insert':
        return this.insertAtCursor(message.code);
      case 'apply':
        return this.applyAsDiff(message.code);
      case 'pickFiles':
        return this.chips.pickFiles();
      case 'removeChip':
        this.chips.remove(message.id);
        return;
    }
  }

  private async askQuestion(text: string): Promise<void> {
    const { context, labels } = this.chips.take();
    const question: ChatTurn = { role: 'user', content: text, ...(labels.length ? { chips: labels } : {}) };
    const earlier: ChatMessage[] = trimHistory(this.history.turns(), TURNS_SENT, CHARS_SENT).map((t) => ({
      role: t.role,
      content: t.content,
    }));
    await this.stream(question, async (chatId, token) => {
      const client = await this.session.ready();
      const params: ChatParams = { chatId, messages: [...earlier, { role: 'user', content: text }], context };
      return client.sendRequest<ChatResult>(ChatRequestMethod, params, token);
    });
  }

  private async stream(question: ChatTurn, run: (chatId: string, token: vscode.CancellationToken) => Promise<Answer>): Promise<void> {
    this.current?.cts.cancel();
    const chatId = randomUUID();
    const cts = new vscode.CancellationTokenSource();
    const current = { chatId, cts, question, text: '' };
    this.current = current;
    this.post({ type: 'start', chatId, question });
    const deltas = this.session.onChatDelta(chatId, (delta) => {
      current.text += delta;
      this.post({ type: 'delta', chatId, text: delta });
    });
    let outcome: Outcome = 'cancelled';
    try {
      const answer = await run(chatId, cts.token);
      if (typeof answer?.text === 'string') {
        // The final text is the whole answer; send whatever the deltas did not carry.
        const rest = answer.text.startsWith(current.text) ? answer.text.slice(current.text.length) : '';
        if (rest) this.post({ type: 'delta', chatId, text: rest });
        if (answer.text.startsWith(current.text)) current.text = answer.text;
      }
      const finishReason = cts.token.isCancellationRequested ? 'cancelled' : (answer?.finishReason ?? 'stop');
      outcome = finishReason;
      this.post({ type: 'done', chatId, finishReason });
    } catch (error) {
      if (cts.token.isCancellationRequested) this.post({ type: 'done', chatId, finishReason: 'cancelled' });
      else {
        outcome = 'error';
        this.log.error(`chat: ${errorText(error)}`);
        this.post({ type: 'error', chatId, message: errorText(error) });
      }
    } finally {
      deltas.dispose();
      cts.dispose();
      if (this.current === current) this.current = undefined;
    }
    await this.history.append(question, {
      role: 'assistant',
      content: current.text,
      ...(outcome === 'stop' ? {} : { incomplete: true }),
    });
  }

  private async insertAtCursor(code: string): Promise<void> {
    const editor = vscode.window.activeTextEditor;
    if (!editor) {
      void vscode.window.showWarningMessage('Latent Coder: open an editor to insert the code into.');
      return;
    }
    await editor.edit((edit) => edit.replace(editor.selection, code));
  }

  /** Proposes the code block as a replacement of the selection (or of the whole file when nothing is selected). */
  private async applyAsDiff(code: string): Promise<void> {
    const editor = vscode.window.activeTextEditor;
    if (!editor) {
      void vscode.window.showWarningMessage('Latent Coder: open the file the code should go into.');
      return;
    }
    const document = editor.document;
    const range = editor.selection.isEmpty
      ? new vscode.Range(document.positionAt(0), document.positionAt(document.getText().length))
      : editor.selection;
    await this.proposals.propose({ target: document.uri, range, newText: code, title: 'Apply code from chat' });
  }

  /** Posts to a loaded webview; one that loads later gets the whole state on its 'ready' instead. */
  private post(message: HostMessage): void {
    if (this.view && this.webviewReady) this.postNow(message);
  }

  private postNow(message: HostMessage): void {
    void this.view?.webview.postMessage(message);
  }
}
