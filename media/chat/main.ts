// The chat webview: renders the transcript, streams answers, the chips and the composer. Talks to the
// extension only through the messages of extension/chatMessages.ts, checked on arrival.

import { parseHostMessage, type ChatTurn, type ContextChip, type HostMessage, type WebviewMessage } from '../../extension/chatMessages';
import { renderMarkdown } from './markdown';

declare function acquireVsCodeApi(): { postMessage(message: unknown): void };
const vscode = acquireVsCodeApi();
const send = (message: WebviewMessage) => vscode.postMessage(message);

const messages = element('messages');
const chipsBox = element('chips');
const input = element('input') as HTMLTextAreaElement;
const sendButton = element('send') as HTMLButtonElement;
const stopButton = element('stop') as HTMLButtonElement;
const attachButton = element('attach') as HTMLButtonElement;

/** The answer being streamed: its element, its text so far, and the code blocks of its last render. */
let streaming: { chatId: string; body: HTMLElement; text: string; blocks: string[]; frame?: number } | undefined;

window.addEventListener('message', (event: MessageEvent) => {
  const parsed = parseHostMessage(event.data);
  if (parsed.ok) handle(parsed.message);
});

function handle(message: HostMessage): void {
  switch (message.type) {
    case 'history':
      messages.replaceChildren();
      streaming = undefined;
      for (const turn of message.turns) addTurn(turn);
      setBusy(false);
      break;
    case 'context':
      showChips(message.chips);
      break;
    case 'start': {
      addTurn(message.question);
      const body = addTurn({ role: 'assistant', content: '' });
      body.parentElement?.classList.add('streaming');
      streaming = { chatId: message.chatId, body, text: '', blocks: [] };
      setBusy(true);
      break;
    }
    case 'delta':
      if (streaming?.chatId !== message.chatId) return;
      streaming.text += message.text;
      scheduleRender();
      break;
    case 'done':
      if (streaming?.chatId !== message.chatId) return;
      finish(message.finishReason === 'stop' ? undefined : message.finishReason === 'length' ? '(stopped at the token limit)' : '(stopped)');
      break;
    case 'error':
      if (streaming && (!message.chatId || message.chatId === streaming.chatId)) finish(undefined, message.message);
      else addNote(message.message, true);
      break;
  }
}

function addTurn(turn: ChatTurn): HTMLElement {
  const box = document.createElement('section');
  box.className = `turn ${turn.role}`;
  if (turn.chips?.length) {
    const chips = document.createElement('div');
    chips.className = 'turn-chips';
    for (const label of turn.chips) chips.append(chip(label));
    box.append(chips);
  }
  const body = document.createElement('div');
  body.className = 'body';
  if (turn.role === 'user') body.textContent = turn.content;
  else renderInto(body, turn.content);
  box.append(body);
  if (turn.incomplete) box.classList.add('incomplete');
  messages.append(box);
  box.scrollIntoView({ block: 'end' });
  return body;
}

function renderInto(body: HTMLElement, text: string): string[] {
  const { html, blocks } = renderMarkdown(text);
  body.innerHTML = html; // sanitised by DOMPurify in renderMarkdown
  for (const pre of Array.from(body.querySelectorAll<HTMLElement>('pre[data-block]'))) {
    const index = Number(pre.dataset.block);
    const bar = document.createElement('div');
    bar.className = 'code-actions';
    for (const [action, label] of [['copy', 'Copy'], ['insert', 'Insert'], ['apply', 'Apply']] as const) {
      const button = document.createElement('button');
      button.textContent = label;
      button.dataset.action = action;
      button.dataset.block = String(index);
      button.title = action === 'apply' ? 'Show as a diff against the selection (or the file) to accept or reject' : label;
      bar.append(button);
    }
    pre.before(bar);
  }
  (body as HTMLElement & { blocks?: string[] }).blocks = blocks;
  return blocks;
}

function scheduleRender(): void {
  if (!streaming || streaming.frame !== undefined) return;
  const s = streaming;
  s.frame = requestAnimationFrame(() => {
    s.frame = undefined;
    s.blocks = renderInto(s.body, s.text);
    s.body.scrollIntoView({ block: 'end' });
  });
}

function finish(note?: string, error?: string): void {
  if (!streaming) return;
  if (streaming.frame !== undefined) cancelAnimationFrame(streaming.frame);
  renderInto(streaming.body, streaming.text);
  const box = streaming.body.parentElement;
  box?.classList.remove('streaming');
  if (note || error) box?.classList.add('incomplete');
  streaming = undefined;
  if (note) addNote(note, false);
  if (error) addNote(error, true);
  setBusy(false);
}

function addNote(text: string, isError: boolean): void {
  const note = document.createElement('div');
  note.className = isError ? 'note error' : 'note';
  note.textContent = text;
  messages.append(note);
  note.scrollIntoView({ block: 'end' });
}

function showChips(chips: ContextChip[]): void {
  chipsBox.replaceChildren(
    ...chips.map((c) => {
      const el = chip(c.label, c.kind);
      const remove = document.createElement('button');
      remove.className = 'chip-remove';
      remove.textContent = '×';
      remove.title = `Leave ${c.label} out`;
      remove.addEventListener('click', () => send({ type: 'removeChip', id: c.id }));
      el.append(remove);
      return el;
    }),
  );
}

function chip(label: string, kind?: string): HTMLElement {
  const el = document.createElement('span');
  el.className = `chip${kind ? ` ${kind}` : ''}`;
  const text = document.createElement('span');
  text.textContent = label;
  el.append(text);
  return el;
}

function setBusy(busy: boolean): void {
  stopButton.hidden = !busy;
  sendButton.disabled = busy;
}

function submit(): void {
  const text = input.value.trim();
  if (!text || streaming) return;
  input.value = '';
  send({ type: 'ask', text });
}

messages.addEventListener('click', (event) => {
  const button = (event.target as HTMLElement).closest<HTMLButtonElement>('.code-actions button');
  if (!button) return;
  const body = button.closest('.body') as (HTMLElement & { blocks?: string[] }) | null;
  const code = body?.blocks?.[Number(button.dataset.block)];
  if (code === undefined) return;
  const action = button.dataset.action;
  if (action === 'copy') send({ type: 'copy', text: code });
  else if (action === 'insert') send({ type: 'insert', code });
  else if (action === 'apply') send({ type: 'apply', code });
});
sendButton.addEventListener('click', submit);
stopButton.addEventListener('click', () => send({ type: 'stop' }));
attachButton.addEventListener('click', () => send({ type: 'pickFiles' }));
input.addEventListener('keydown', (event) => {
  if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) {
    event.preventDefault();
    submit();
  } else if (event.key === '@' && (input.selectionStart === 0 || /\s$/.test(input.value.slice(0, input.selectionStart)))) {
    event.preventDefault();
    send({ type: 'pickFiles' });
  }
});

function element(id: string): HTMLElement {
  const el = document.getElementById(id);
  if (!el) throw new Error(`chat view: #${id} is missing from the page`);
  return el;
}

setBusy(false);
send({ type: 'ready' });
