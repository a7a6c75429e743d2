// The chat's history, kept per workspace (the extension passes `context.workspaceState`). Bounded so a long
// session cannot grow the workspace storage without end; read back through the same checks as any message.

import { parseTurn, type ChatTurn } from './chatMessages';

/** The part of VS Code's Memento this needs. */
export interface KeyValueStore {
  get(key: string): unknown;
  update(key: string, value: unknown): Thenable<void>;
}

const KEY = 'latent.chat.history';
export const MAX_STORED_TURNS = 100;
export const MAX_STORED_CHARS = 400_000;

export class ChatHistory {
  constructor(private readonly store: KeyValueStore) {}

  turns(): ChatTurn[] {
    const raw = this.store.get(KEY);
    if (!Array.isArray(raw)) return [];
    return raw.map(parseTurn).filter((t): t is ChatTurn => t !== undefined);
  }

  async append(...turns: ChatTurn[]): Promise<void> {
    await this.store.update(KEY, trimHistory([...this.turns(), ...turns]));
  }

  async clear(): Promise<void> {
    await this.store.update(KEY, []);
  }
}

/** The newest turns that fit the bounds, starting at a user turn so a question is never cut from its answer. */
export function trimHistory(turns: ChatTurn[], maxTurns = MAX_STORED_TURNS, maxChars = MAX_STORED_CHARS): ChatTurn[] {
  let start = Math.max(0, turns.length - maxTurns);
  let chars = 0;
  for (let i = turns.length - 1; i >= start; i--) {
    chars += turns[i].content.length;
    if (chars > maxChars) {
      start = i + 1;
      break;
    }
  }
  while (start < turns.length && turns[start].role !== 'user') start++;
  return turns.slice(start);
}
