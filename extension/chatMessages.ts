// The one message protocol between the chat webview (media/chat/) and the extension (chatView.ts). Both sides
// import this module; neither trusts the other's bytes: every message that crosses is checked by a parse
// function here before anything acts on it. No VS Code or DOM imports, so it is bundled into the webview and
// unit-tested as is.

/** A context chip shown above the input: something the next question will carry. */
export interface ContextChip {
  id: string;
  kind: 'selection' | 'file' | 'picked';
  label: string;
}

export interface ChatTurn {
  role: 'user' | 'assistant';
  content: string;
  /** Labels of the chips the question carried (user turns). */
  chips?: string[];
  /** The answer was stopped or failed part way (assistant turns). */
  incomplete?: boolean;
}

/** Webview -> extension. */
export type WebviewMessage =
  | { type: 'ready' }
  | { type: 'ask'; text: string }
  | { type: 'stop' }
  | { type: 'clear' }
  | { type: 'copy'; text: string }
  | { type: 'insert'; code: string }
  | { type: 'apply'; code: string }
  | { type: 'pickFiles' }
  | { type: 'removeChip'; id: string };

/** Extension -> webview. */
export type HostMessage =
  | { type: 'history'; turns: ChatTurn[] }
  | { type: 'context'; chips: ContextChip[] }
  | { type: 'start'; chatId: string; question: ChatTurn }
  | { type: 'delta'; chatId: string; text: string }
  | { type: 'done'; chatId: string; finishReason: 'stop' | 'length' | 'cancelled' }
  | { type: 'error'; chatId?: string; message: string };

/** Longest question or code block accepted from the webview (characters). */
export const MAX_TEXT = 200_000;
const MAX_ID = 100;
const MAX_CHIPS = 50;
const MAX_TURNS = 500;
const ID = /^[\w.:-]{1,100}$/;

export type Parsed<T> = { ok: true; message: T } | { ok: false; error: string };

/** Checks a message that came from the webview; anything not exactly one of `WebviewMessage` is refused. */
export function parseWebviewMessage(raw: unknown): Parsed<WebviewMessage> {
  const fields = record(raw);
  if (!fields) return fail('a message must be a plain object');
  const type = fields.type;
  switch (type) {
    case 'ready':
    case 'stop':
    case 'clear':
    case 'pickFiles':
      return only(fields, [], { type });
    case 'ask': {
      const text = text_(fields.text, 'text', true);
      return typeof text === 'string' ? only(fields, ['text'], { type, text }) : text;
    }
    case 'copy': {
      const text = text_(fields.text, 'text', false);
      return typeof text === 'string' ? only(fields, ['text'], { type, text }) : text;
    }
    case 'insert':
    case 'apply': {
      const code = text_(fields.code, 'code', false);
      return typeof code === 'string' ? only(fields, ['code'], { type, code }) : code;
    }
    case 'removeChip': {
      if (typeof fields.id !== 'string' || !ID.test(fields.id)) return fail('removeChip.id must be a short id');
      return only(fields, ['id'], { type, id: fields.id });
    }
    default:
      return fail(`unknown message type ${typeof type === 'string' ? JSON.stringify(type.slice(0, 40)) : typeof type}`);
  }
}

/** Checks a message that came from the extension (the webview's side of the same contract). */
export function parseHostMessage(raw: unknown): Parsed<HostMessage> {
  const fields = record(raw);
  if (!fields) return fail('a message must be a plain object');
  switch (fields.type) {
    case 'history': {
      if (!Array.isArray(fields.turns) || fields.turns.length > MAX_TURNS) return fail('history.turns must be a list');
      const turns = fields.turns.map(parseTurn);
      if (turns.some((t) => t === undefined)) return fail('history.turns holds a malformed turn');
      return { ok: true, message: { type: 'history', turns: turns as ChatTurn[] } };
    }
    case 'context': {
      if (!Array.isArray(fields.chips) || fields.chips.length > MAX_CHIPS) return fail('context.chips must be a list');
      const chips = fields.chips.map(parseChip);
      if (chips.some((c) => c === undefined)) return fail('context.chips holds a malformed chip');
      return { ok: true, message: { type: 'context', chips: chips as ContextChip[] } };
    }
    case 'start': {
      const question = parseTurn(fields.question);
      if (!isId(fields.chatId) || !question) return fail('start needs a chatId and a question');
      return { ok: true, message: { type: 'start', chatId: fields.chatId, question } };
    }
    case 'delta':
      if (!isId(fields.chatId) || typeof fields.text !== 'string') return fail('delta needs a chatId and text');
      return { ok: true, message: { type: 'delta', chatId: fields.chatId, text: fields.text } };
    case 'done': {
      const reason = fields.finishReason;
      if (!isId(fields.chatId) || (reason !== 'stop' && reason !== 'length' && reason !== 'cancelled')) {
        return fail('done needs a chatId and a finishReason');
      }
      return { ok: true, message: { type: 'done', chatId: fields.chatId, finishReason: reason } };
    }
    case 'error':
      if (typeof fields.message !== 'string' || (fields.chatId !== undefined && !isId(fields.chatId))) {
        return fail('error needs a message');
      }
      return {
        ok: true,
        message: { type: 'error', message: fields.message.slice(0, 2000), ...(fields.chatId ? { chatId: fields.chatId } : {}) },
      };
    default:
      return fail('unknown message type');
  }
}

/** A stored turn, checked (history comes back from workspaceState, which the user or a sync may have edited). */
export function parseTurn(raw: unknown): ChatTurn | undefined {
  const fields = record(raw);
  if (!fields) return undefined;
  if ((fields.role !== 'user' && fields.role !== 'assistant') || typeof fields.content !== 'string') return undefined;
  if (fields.content.length > MAX_TEXT * 2) return undefined;
  const turn: ChatTurn = { role: fields.role, content: fields.content };
  if (fields.chips !== undefined) {
    if (!Array.isArray(fields.chips) || fields.chips.length > MAX_CHIPS) return undefined;
    if (!fields.chips.every((c) => typeof c === 'string' && c.length <= 300)) return undefined;
    turn.chips = fields.chips as string[];
  }
  if (fields.incomplete === true) turn.incomplete = true;
  return turn;
}

function parseChip(raw: unknown): ContextChip | undefined {
  const fields = record(raw);
  if (!fields || !isId(fields.id) || typeof fields.label !== 'string' || fields.label.length > 300) return undefined;
  if (fields.kind !== 'selection' && fields.kind !== 'file' && fields.kind !== 'picked') return undefined;
  return { id: fields.id, kind: fields.kind, label: fields.label };
}

/** The own enumerable fields of a plain object (not an array, not a class instance); undefined otherwise. */
function record(raw: unknown): Record<string, unknown> | undefined {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return undefined;
  const proto = Object.getPrototypeOf(raw);
  if (proto !== Object.prototype && proto !== null) return undefined;
  const fields: Record<string, unknown> = Object.create(null);
  for (const key of Object.keys(raw)) fields[key] = (raw as Record<string, unknown>)[key];
  return fields;
}

function only<T>(fields: Record<string, unknown>, allowed: string[], message: T): Parsed<T> {
  const extra = Object.keys(fields).filter((k) => k !== 'type' && !allowed.includes(k));
  if (extra.length) return fail(`unexpected field ${JSON.stringify(extra[0].slice(0, 40))}`);
  return { ok: true, message };
}

function text_(value: unknown, name: string, nonEmpty: boolean): string | { ok: false; error: string } {
  if (typeof value !== 'string') return fail(`${name} must be a string`);
  if (value.length > MAX_TEXT) return fail(`${name} is longer than ${MAX_TEXT} characters`);
  if (nonEmpty && !value.trim()) return fail(`${name} is empty`);
  return value;
}

function isId(value: unknown): value is string {
  return typeof value === 'string' && value.length <= MAX_ID && ID.test(value);
}

function fail(error: string): { ok: false; error: string } {
  return { ok: false, error };
}
