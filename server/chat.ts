// latent/chat: the user's conversation plus the context they attached, answered by the engine's chat endpoint,
// each new piece sent to the client as `latent/chatDelta` while it arrives. Cancelling ends it with what came.
import { ErrorCodes, ResponseError } from 'vscode-languageserver';
import { ChatTooLongError, fitChatToContext, type ChatCounts } from './chatBudget';
import { renderChatContext } from './chatContext';
import type { DocumentStore } from './documentStore';
import type { EngineClient } from './engineClient';
import type { EngineConnection } from './engineConnection';
import { EngineError, isCancellation } from './engineErrors';
import type { ChatMessage, ChatParams, ChatResult, LatentSettings } from './protocol';
import type { TokenCounter } from './tokenCounter';

export const CHAT_SYSTEM_PROMPT =
  'You are Latent Coder, a coding assistant inside the user\'s editor. Answer concisely in markdown; put code in fenced blocks.';
const CHAT_MAX_TOKENS = 1024;
const ROLES = new Set(['system', 'user', 'assistant']);

export class ChatService {
  constructor(
    private readonly store: DocumentStore,
    private readonly engine: EngineConnection,
    private readonly sendDelta: (chatId: string, delta: string) => void,
    private readonly settings: () => LatentSettings | undefined,
  ) {}

  async chat(params: ChatParams, cancel: AbortSignal): Promise<ChatResult> {
    const chatId = checkChatId(params?.chatId);
    if (!Array.isArray(params.messages) || params.messages.length === 0) {
      throw new ResponseError(ErrorCodes.InvalidParams, 'messages must be a non-empty array');
    }
    params.messages.forEach((m, i) => {
      if (!m || !ROLES.has(m.role) || typeof m.content !== 'string') {
        throw new ResponseError(ErrorCodes.InvalidParams, `messages[${i}] needs a role (system, user or assistant) and a string content`);
      }
    });
    const context = await renderChatContext(this.store, params.context);
    const system = context ? `${CHAT_SYSTEM_PROMPT}\n\nContext:\n\n${context}` : CHAT_SYSTEM_PROMPT;
    return this.stream(chatId, [{ role: 'system', content: system }, ...params.messages], cancel);
  }

  /** Streams an answer to `messages` as deltas of `chatId`. */
  async stream(chatId: string, messages: ChatMessage[], cancel: AbortSignal): Promise<ChatResult> {
    let text = '';
    try {
      const answer = await this.engine.run(async (client, signal) => {
        // The context length is asked of the engine before the first budget is fitted.
        const counter = await this.engine.tokenCounter(client, signal);
        const { contextLength } = await client.modelInfo(signal);
        const fitted = await fitChatToContext(messages, this.settings()?.chatMaxTokens ?? CHAT_MAX_TOKENS, contextLength,
          engineChatCounts(counter, client, signal));
        return client.chat(fitted.messages, {
          maxTokens: fitted.maxTokens,
          temperature: 0,
          signal,
          onDelta: (delta) => { text += delta; this.sendDelta(chatId, delta); },
        });
      }, cancel);
      return { text: answer.text, finishReason: answer.finishReason === 'length' ? 'length' : 'stop' };
    } catch (e) {
      if (cancel.aborted || isCancellation(e)) return { text, finishReason: 'cancelled' };
      const message = e instanceof EngineError || e instanceof ChatTooLongError ? e.message : String(e);
      throw new ResponseError(ErrorCodes.InternalError, `chat failed: ${message}`);
    }
  }
}

export function checkChatId(chatId: unknown): string {
  if (typeof chatId !== 'string' || chatId === '') throw new ResponseError(ErrorCodes.InvalidParams, 'chatId must be a non-empty string');
  return chatId;
}

/** Chat token counts by the engine: message texts through the per-line counter, whole prompts by /tokenize. */
function engineChatCounts(counter: TokenCounter, client: EngineClient, signal: AbortSignal): ChatCounts {
  return {
    content: async (text) => {
      counter.count(text);
      await counter.fetchMissing(signal);
      return counter.count(text);
    },
    prompt: async (messages) => (counter.exact ? client.countChatTokens(messages, signal) : undefined),
  };
}
