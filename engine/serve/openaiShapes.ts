// The JSON objects of OpenAI's completions and chat completions APIs, whole and as stream chunks.
import { randomBytes } from 'node:crypto';
import type { FinishReason } from '../api';

export type Kind = 'completion' | 'chat';

export interface Usage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
  /** How much of the prompt came from the latent cache rather than being computed. */
  prompt_tokens_details: { cached_tokens: number };
}

export interface ChoiceOutcome {
  text: string;
  finishReason: FinishReason;
}

/** One answer's identity, shared by all its chunks. */
export class AnswerShape {
  readonly id: string;
  readonly created = Math.floor(Date.now() / 1000);

  constructor(readonly kind: Kind, readonly model: string) {
    this.id = `${kind === 'chat' ? 'chatcmpl' : 'cmpl'}-${randomBytes(12).toString('hex')}`;
  }

  whole(choices: ChoiceOutcome[], usage: Usage): object {
    return {
      id: this.id,
      object: this.kind === 'chat' ? 'chat.completion' : 'text_completion',
      created: this.created,
      model: this.model,
      choices: choices.map((c, index) => this.kind === 'chat'
        ? { index, message: { role: 'assistant', content: c.text, refusal: null }, logprobs: null,
          finish_reason: openAiFinish(c.finishReason) }
        : { index, text: c.text, logprobs: null, finish_reason: openAiFinish(c.finishReason) }),
      usage,
    };
  }

  /** The chat stream's opening chunk for a choice, saying who speaks. */
  roleChunk(index: number): object {
    return this.chunk([{ index, delta: { role: 'assistant', content: '' }, logprobs: null, finish_reason: null }]);
  }

  textChunk(index: number, text: string): object {
    return this.chunk([this.kind === 'chat'
      ? { index, delta: { content: text }, logprobs: null, finish_reason: null }
      : { index, text, logprobs: null, finish_reason: null }]);
  }

  finishChunk(index: number, reason: FinishReason): object {
    return this.chunk([this.kind === 'chat'
      ? { index, delta: {}, logprobs: null, finish_reason: openAiFinish(reason) }
      : { index, text: '', logprobs: null, finish_reason: openAiFinish(reason) }]);
  }

  /** Sent last when the client asked for stream_options.include_usage. */
  usageChunk(usage: Usage): object {
    return { ...this.chunk([]), usage };
  }

  private chunk(choices: object[]): object {
    return {
      id: this.id,
      object: this.kind === 'chat' ? 'chat.completion.chunk' : 'text_completion',
      created: this.created,
      model: this.model,
      choices,
    };
  }
}

function openAiFinish(reason: FinishReason): string | null {
  // 'cancelled' and 'error' never reach a client as a finish reason (the client is gone, or gets an error).
  return reason === 'length' ? 'length' : 'stop';
}

export function usageOf(promptTokens: number, cachedTokens: number, completionTokens: number): Usage {
  return {
    prompt_tokens: promptTokens,
    completion_tokens: completionTokens,
    total_tokens: promptTokens + completionTokens,
    prompt_tokens_details: { cached_tokens: cachedTokens },
  };
}
