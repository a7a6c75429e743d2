// Fill-in-the-middle prompts, laid out prefix-suffix-middle (PSM, the order DeepSeek-Coder-V2 is trained on):
//   [bos] <fim-begin> prefix <fim-hole> suffix <fim-end>
// The three markers' ids come from the model folder's tokenizer (engine/tokenizer), never hard-coded.
import { HttpError } from './httpError';

export interface FimTokens {
  /** <｜fim▁begin｜> */
  begin: number;
  /** <｜fim▁hole｜> */
  hole: number;
  /** <｜fim▁end｜> */
  end: number;
}

/** Prefix and suffix are encoded apart and the marker ids spliced between them, exactly as the model was trained. */
export function fimPromptTokens(
  fim: FimTokens | undefined, bos: number | undefined, prefix: number[], suffix: number[],
): number[] {
  if (!fim) {
    throw new HttpError(400, "This model's tokenizer has no fill-in-the-middle tokens, so 'suffix' cannot be used",
      'invalid_request_error', 'suffix', 'fim_unsupported');
  }
  return [...(bos === undefined ? [] : [bos]), fim.begin, ...prefix, fim.hole, ...suffix, fim.end];
}
