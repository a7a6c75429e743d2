// Fitting a chat to the model's context: the system message, then as many of the newest turns as fit beside the
// answer's max_tokens (an engine refuses a prompt plus max_tokens longer than its context).
import { estimateTokens } from './fimPrompt';
import type { ChatMessage } from './protocol';

/** Tokens each message costs beyond its text (role markers of the chat template). */
const PER_MESSAGE_TOKENS = 8;
/** The answer keeps at least this many tokens, shortening the history if it must. */
const MIN_ANSWER_TOKENS = 64;

export function fitChatToContext(messages: ChatMessage[], maxTokens: number, contextLength: number | undefined): { messages: ChatMessage[]; maxTokens: number } {
  if (!contextLength) return { messages, maxTokens };
  const cost = (m: ChatMessage) => estimateTokens(m.content) + PER_MESSAGE_TOKENS;
  const answer = Math.max(MIN_ANSWER_TOKENS, Math.min(maxTokens, Math.floor(contextLength / 2)));
  const [first, ...rest] = messages;
  const system = first?.role === 'system' ? [first] : [];
  const turns = first?.role === 'system' ? rest : messages;
  let budget = contextLength - answer - system.reduce((a, m) => a + cost(m), 0);
  const kept: ChatMessage[] = [];
  for (let i = turns.length - 1; i >= 0; i--) {
    const c = cost(turns[i]);
    // The newest turn (the question) is always kept.
    if (c > budget && kept.length > 0) break;
    kept.unshift(turns[i]);
    budget -= c;
  }
  const fitted = [...system, ...kept];
  const promptTokens = fitted.reduce((a, m) => a + cost(m), 0);
  return { messages: fitted, maxTokens: Math.max(1, Math.min(maxTokens, contextLength - promptTokens)) };
}
