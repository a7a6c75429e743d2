// The engine's public face, used by the CLI and by `latent serve`. Everything above the engine (the HTTP
// server, the scheduler) talks to the model only through these types.

/** How the next token is picked. temperature 0 means greedy (argmax). */
export interface SamplingOptions {
  temperature: number;
  /** Nucleus sampling: keep the smallest set of tokens whose probability sums to at least topP (1 = off). */
  topP: number;
  /** Keep only the topK most likely tokens (0 = off). */
  topK: number;
  /** Seed of the sampler's random stream; the same seed and prompt give the same tokens. */
  seed?: number;
}

export interface GenerationRequest {
  /** Prompt token ids (special tokens already in place). */
  prompt: number[];
  maxTokens: number;
  sampling: SamplingOptions;
  /** Stop strings: generation ends before the first occurrence of any of them in the new text. */
  stop?: string[];
  /** Aborting stops the work within one decode step. */
  signal?: AbortSignal;
  /**
   * Token healing (generate/tokenHealing.ts) for prompts that came as text: the tokens the answer continues (the
   * last, or a FIM prompt's last prefix token, and those before it while a token of the vocabulary begins with
   * their text) are taken back and the first new tokens must write their text, which the answer does not repeat.
   */
  tokenHealing?: boolean;
}

/** 'error': the engine could not go on (e.g. the latent pool is full of running requests); see `error`. */
export type FinishReason = 'stop' | 'length' | 'cancelled' | 'error';

/** One step of a streamed generation: the new token (null for text released at the end) and the text it completes (may be "" mid-character). */
export interface GenerationDelta {
  token: number | null;
  text: string;
}

export interface GenerationResult {
  /** The new tokens only (not the prompt), without the eos token. */
  tokens: number[];
  text: string;
  finishReason: FinishReason;
  promptTokens: number;
  /** Prompt tokens whose latents came from the cache instead of being computed. */
  cachedTokens: number;
  /** Why generation failed, when finishReason is 'error'. */
  error?: string;
}
