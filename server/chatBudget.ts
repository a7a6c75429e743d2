// Fitting a chat to the model's context: the system message, then as many of the newest turns as fit beside the
// answer's max_tokens (an engine refuses a prompt plus max_tokens longer than its context). Counted by the engine
// when it can (its /tokenize renders the chat with the model's template, as the chat route will), else estimated.
import type { ChatMessage } from './protocol';
import { estimateTokens } from './tokenEstimate';

/** Tokens each message costs beyond its text in the estimate (role markers of the chat template). */
const PER_MESSAGE_TOKENS = 8;
/** The answer keeps at least this many tokens, shortening the history if it must. */
const MIN_ANSWER_TOKENS = 64;

export interface ChatCounts {
  /** Tokens of one message's text alone: a lower bound of what it adds to the prompt. */
  content(text: string): Promise<number>;
  /** Tokens of the whole prompt the engine renders for `messages`; undefined when the engine cannot tell. */
  prompt(messages: ChatMessage[]): Promise<number | undefined>;
}

/** Counts for engines that cannot count. */
export const ESTIMATED_CHAT_COUNTS: ChatCounts = {
  content: async (text) => estimateTokens(text),
  prompt: async () => undefined,
};

export interface FittedChat {
  messages: ChatMessage[];
  maxTokens: number;
  /** The prompt's tokens (exact when the engine counted them). */
  promptTokens: number;
}

export class ChatTooLongError extends Error {}

export async function fitChatToContext(messages: ChatMessage[], maxTokens: number, contextLength: number | undefined,
  counts: ChatCounts = ESTIMATED_CHAT_COUNTS): Promise<FittedChat> {
  const [first, ...rest] = messages;
  const system = first?.role === 'system' ? [first] : [];
  const turns = first?.role === 'system' ? rest : messages;
  const estimate = async (list: ChatMessage[]) => {
    let n = 0;
    for (const m of list) n += (await counts.content(m.content)) + PER_MESSAGE_TOKENS;
    return n;
  };
  const promptOf = async (list: ChatMessage[]) => (await counts.prompt(list)) ?? estimate(list);
  if (!contextLength) return { messages, maxTokens, promptTokens: await promptOf(messages) };

  const answer = Math.max(MIN_ANSWER_TOKENS, Math.min(maxTokens, Math.floor(contextLength / 2)));
  // The newest turns whose texts alone fit: at least as many as fit with the template around them.
  let room = contextLength - answer;
  for (const m of system) room -= await counts.content(m.content);
  let kept = 0;
  while (kept < turns.length) {
    const cost = await counts.content(turns[turns.length - 1 - kept].content);
    // The newest turn (the question) is always kept.
    if (cost > room && kept > 0) break;
    room -= cost;
    kept++;
  }
  // Then drop the oldest until the whole prompt, as the engine renders it, fits.
  let fitted = [...system, ...turns.slice(turns.length - kept)];
  let promptTokens = await promptOf(fitted);
  while (promptTokens + answer > contextLength && kept > 1) {
    kept--;
    fitted = [...system, ...turns.slice(turns.length - kept)];
    promptTokens = await promptOf(fitted);
  }
  if (promptTokens >= contextLength) {
    throw new ChatTooLongError(`the question is ${promptTokens} tokens with its context; the model's context holds ${contextLength}`);
  }
  return { messages: fitted, maxTokens: Math.min(maxTokens, contextLength - promptTokens), promptTokens };
}
