// What the HTTP layer needs of a loaded model: its name and limits, how to turn text into prompt tokens (plain,
// fill-in-the-middle, chat), and a runner that generates. Built once at start from the engine (engineBinding.ts).
import type { ChatTemplate } from './chatTemplate';
import type { InfillPrompt } from '../tokenizer/modelTokenizer';
import type { FimTokens } from './fimTokens';
import type { GenerationRunner } from './scheduler';

export interface ServedModel {
  /** The name clients pass as `model` (the model folder's name). */
  id: string;
  modelDir: string;
  /** Unix seconds when the server loaded it. */
  created: number;
  contextLength: number;
  /** The backend computing, and its device (e.g. "webgpu on NVIDIA ..."), for the load log. */
  backend: string;
  vocabSize: number;
  /**
   * Text -> token ids, adding no special tokens, in a worker thread (tokenizerPool.ts): serve's one encoder, for
   * every route. Rejects with TextTooLong past `limit` tokens, without encoding all of a text far past it.
   */
  encode(text: string, limit?: number): Promise<number[]>;
  /** Token ids -> text, in the same workers. */
  decode(ids: number[], options?: { skipSpecial?: boolean }): Promise<string>;
  /** Stops the tokenizer workers. */
  close(): Promise<void>;
  /** Prepended to plain and FIM prompts when the tokenizer config says add_bos_token. */
  bosId?: number;
  fim?: FimTokens;
  /** How editors should lay out infill prompts for this model (tokenizer_config.json `infill_prompt`). */
  infillPrompt: InfillPrompt;
  chatTemplate?: ChatTemplate;
  runner: GenerationRunner;
  /** Latent cache pages held now, for /metrics and leak checks. */
  poolPagesInUse(): number;
  /** Pages held by running requests; 0 when idle, or pages leaked. */
  poolPagesPinned(): number;
  /** Tokens whose latents running sequences hold now. */
  cacheTokensInUse(): number;
}
